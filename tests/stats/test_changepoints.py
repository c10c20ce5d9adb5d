"""Change points over a history of medians: a step is found where it starts, noise alone finds none."""

import math
import random

import pytest

from fwbench.stats.changepoints import detect, noise_threshold, robust_sigma, welch_p


def series(runs=60, step=1.0, start=30, sd=0.05, seed=3):
    generator = random.Random(seed)
    return [math.exp(generator.gauss(0, sd)) * (step if index >= start else 1.0) for index in range(runs)]


def test_a_step_of_a_quarter_is_found_where_it_starts_with_its_size():
    found = detect(series(step=1.25))
    (change,) = found.changes
    assert 30 <= change.index <= 33 and change.size == pytest.approx(1.25, rel=0.05)
    assert change.p_value < 1e-6
    assert change.below_run_threshold  # 1.23x is within what one run's noise shows here; the runs together show it


def test_flat_histories_of_the_same_noise_find_no_change():
    assert sum(len(detect(series(seed=seed)).changes) for seed in range(20)) <= 1


def test_the_noise_estimates_ignore_a_single_step():
    stepped, flat = series(step=1.5), series()
    assert robust_sigma([math.log(v) for v in stepped]) == pytest.approx(robust_sigma([math.log(v) for v in flat]),
                                                                          rel=0.25)
    threshold = noise_threshold([math.log(v) for v in flat])
    assert 1.05 < threshold < 1.6  # Q3 + 3 IQR of run-to-run changes of sd 0.05 * sqrt 2
    assert noise_threshold([0.0, 0.1, 0.2]) == math.inf  # too short to learn from


def test_welch_p_separates_shifted_samples_and_not_equal_ones():
    assert welch_p([1.0, 1.1, 0.9, 1.0], [2.0, 2.1, 1.9, 2.0]) < 1e-4
    assert welch_p([1.0, 1.1, 0.9], [1.0, 1.1, 0.9]) == pytest.approx(1.0)
    assert welch_p([1.0], [2.0, 3.0]) == 1.0
