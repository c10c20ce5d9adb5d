"""Ratios of medians with intervals over rounds: pairing cancels drift, coverage holds, one round decides nothing."""

import math

import numpy as np
import pytest

from fwbench.stats.ratios import family_level, independent_ratio, paired_ratio, ratio, round_medians


def row(round_medians_s, run_id="run", median=None):
    medians = list(round_medians_s)
    return {"median_s": median if median is not None else float(np.median(medians)), "round_medians_s": medians,
            "round_numbers": list(range(1, len(medians) + 1)), "run_id": run_id}


def test_round_medians_fall_back_to_the_median_for_one_round():
    assert round_medians({"median_s": 2.0, "round": 3}) == {3: 2.0}
    assert round_medians(row([1.0, 2.0])) == {1: 1.0, 2: 2.0}


def test_pairing_cancels_drift_that_moves_both_series_alike():
    drift = [1.0, 1.3, 0.8, 1.1]  # the machine's speed in each round
    fast = row([0.010 * d * e for d, e in zip(drift, (1.0, 1.01, 0.99, 1.0))])
    slow = row([0.020 * d * e for d, e in zip(drift, (1.0, 0.99, 1.0, 1.01))])
    paired, independent = paired_ratio(slow, fast), independent_ratio(slow, fast)
    assert paired.value == pytest.approx(2.0, rel=0.05)
    assert paired.low > 1.9 and paired.high < 2.1
    assert independent.low < 1.6  # without pairing the drift is noise
    assert ratio(slow, fast).method == paired.method  # same run: paired
    assert ratio(row(slow["round_medians_s"], "other run"), fast).method == independent.method


def test_an_interval_at_another_level_is_the_one_the_ratio_would_have_been_made_at():
    fast, slow = row([0.010, 0.011, 0.0095, 0.0102]), row([0.020, 0.021, 0.0205, 0.0199])
    for make in (paired_ratio, independent_ratio):
        shown = make(slow, fast, 0.95)
        for level in (0.90, 0.99):
            again, rescaled = make(slow, fast, level), shown.at_level(level)
            assert (rescaled.low, rescaled.high, rescaled.level) == pytest.approx((again.low, again.high, level))
    alone = paired_ratio(row([2.0]), row([1.0]))
    assert alone.at_level(0.90) is alone  # no interval: nothing to rescale


def test_one_round_gives_no_interval():
    single = paired_ratio(row([2.0]), row([1.0]))
    assert single.value == 2.0 and not single.has_interval and "one round" in single.method
    assert not single.above(1) and not single.below(1)
    assert single.method == "no interval: one round"


@pytest.mark.parametrize("function, paired", [(paired_ratio, True), (independent_ratio, False)])
def test_coverage_of_the_true_ratio_is_95_percent(function, paired):
    """Simulated cells: a true ratio of 1.5, per-round noise of 8% on each side, a shared drift per round
    when paired.  The interval must hold the truth about 95% of the time (it would hold it far less often
    if it came from one round's samples)."""
    rng = np.random.default_rng(11)
    trials, hits = 2000, 0
    for _ in range(trials):
        drift = np.exp(rng.normal(0, 0.1, 3)) if paired else np.ones(3)
        top = 1.5 * drift * np.exp(rng.normal(0, 0.08, 3))
        bottom = drift * np.exp(rng.normal(0, 0.08, 3))
        # The geometric mean is what the log-scale interval is centred on in this test.
        value = function(row(top, median=math.exp(np.mean(np.log(top)))),
                         row(bottom, median=math.exp(np.mean(np.log(bottom)))))
        hits += value.low <= 1.5 <= value.high
    assert 0.93 <= hits / trials <= 0.97


def test_family_level_is_bonferroni():
    assert family_level(0.95, 1) == pytest.approx(0.95)
    assert family_level(0.95, 100) == pytest.approx(0.9995)


def test_between_runs_each_side_takes_its_runs_pooled_spread_never_below_its_own():
    from fwbench.stats.ratios import independent_parts

    base, new = row([1.00, 1.01, 1.02], run_id="a"), row([1.10, 1.12, 1.11], run_id="b")
    own = independent_parts(new, base)
    assert own.degrees_of_freedom < 4.1 and "pooled" not in own.method
    pooled = {"prior_sd": 0.05, "prior_degrees_of_freedom": 40.0, "cells": 20}
    moderated = independent_parts(dict(new, pooled_spread=pooled), dict(base, pooled_spread=pooled))
    # the rounds agreed within 1%, the runs' cells within 5%: each side's variance is lifted toward 0.05^2
    expected_side = (40 * 0.05 ** 2 + 2 * np.var(np.log([1.00, 1.01, 1.02]), ddof=1)) / 42
    assert moderated.variance > own.variance
    assert moderated.variance == pytest.approx(expected_side / 3 + (40 * 0.05 ** 2 + 2 * np.var(
        np.log([1.10, 1.12, 1.11]), ddof=1)) / 42 / 3)
    assert moderated.degrees_of_freedom > 40 and "spreads pooled within each run" in moderated.method
    # a cell noisier than its run keeps its own spread and its own degrees of freedom: no narrower t for it
    noisy = independent_parts(dict(row([1.0, 1.5, 0.7], run_id="b"), pooled_spread=pooled),
                              dict(row([1.0, 1.4, 0.8], run_id="a"), pooled_spread=pooled))
    plain = independent_parts(row([1.0, 1.5, 0.7], run_id="b"), row([1.0, 1.4, 0.8], run_id="a"))
    assert noisy.variance == pytest.approx(plain.variance)
    assert noisy.degrees_of_freedom == pytest.approx(plain.degrees_of_freedom)
