"""Pooled spreads (empirical Bayes over a run's cells), disturbed rounds and allocator states, on simulated
records: the intervals narrow where the cells agree, still hold the next run's median, and a disturbed round
is set apart with its reason."""

import math
import random
import statistics

import pytest

from fwbench.records.combine import combine_rounds
from fwbench.records.results import RESULTS_VERSION
from fwbench.stats.pooling import allocator_states, disturbed_rounds, estimate_prior, log_variance, shrink
from tests.stats.test_intervals import simulated_rounds


def simulated_cell(generator, truth, round_sigma, rounds=3, samples=10, sample_sigma=0.01):
    """Round medians and per-round samples of one cell (tests/stats/test_intervals.py's simulated run)."""
    return simulated_rounds(generator, truth, round_sigma, sample_sigma, rounds, samples)


def records_of_run(generator, truths, round_sigma, rounds=3, run_id="r", slow=None):
    """results.jsonl lines of one run: a line per cell and round; ``slow`` = (cell index, round, factor)."""
    lines = []
    for index, truth in enumerate(truths):
        _, per_round = simulated_cell(generator, truth, round_sigma, rounds)
        for number, values in enumerate(per_round, start=1):
            if slow and slow[:2] == (index, number):
                values = [value * slow[2] for value in values]
            lines.append({"version": RESULTS_VERSION, "run_id": run_id, "cell_id": f"w{index}", "workload": f"w{index}",
                          "framework": "numpy", "mode": "eager", "device": "cpu", "method": "fwbench",
                          "status": "ok", "round": number, "samples_s": values,
                          "median_s": statistics.median(values), "page_faults_per_call": 0.0})
    return lines


def test_homogeneous_cells_pool_fully_and_the_prior_finds_their_spread():
    generator = random.Random(3)
    cells = [simulated_cell(generator, 1.0, 0.05)[0] for _ in range(60)]
    prior = estimate_prior([log_variance(medians) for medians in cells], [2] * 60)
    assert prior.degrees_of_freedom == pytest.approx(120)  # capped at the cells' own total
    assert 0.04 < math.sqrt(prior.variance) < 0.06


def test_cells_of_different_spreads_keep_most_of_their_own():
    generator = random.Random(4)
    cells = [simulated_cell(generator, 1.0, sigma)[0] for sigma in [0.01] * 30 + [0.3] * 30]
    prior = estimate_prior([log_variance(medians) for medians in cells], [2] * 60)
    assert prior.degrees_of_freedom < 10
    noisy, degrees = shrink(0.3 ** 2, 2, prior)
    assert math.sqrt(noisy) > 0.15 and degrees == pytest.approx(2 + prior.degrees_of_freedom)


def test_no_prior_from_too_few_cells_and_shrink_then_keeps_the_cell_s_own():
    assert estimate_prior([0.01, 0.02, 0.03], [2, 2, 2]) is None
    assert shrink(0.04, 2, None) == (0.04, 2.0)


def next_run_coverage_and_width(pooled: bool, trials=40, cells=30, sigma=0.05, seed=5):
    generator = random.Random(seed)
    hits = total = 0
    widths = []
    for trial in range(trials):
        truths = [generator.uniform(1e-4, 1.0) for _ in range(cells)]
        first = records_of_run(generator, truths, sigma, run_id=f"a{trial}")
        second = {cell["cell_id"]: cell for cell in combine_rounds(records_of_run(generator, truths, sigma))}
        combined = combine_rounds(first) if pooled else combine_rounds(
            [dict(line, framework=f"f{index}") for index, line in enumerate(first)])  # groups of one: no pooling
        for cell in combined:
            hits += cell["ci95_low_s"] <= second[cell["cell_id"]]["median_s"] <= cell["ci95_high_s"]
            total += 1
            widths.append(cell["rel_ci95"])
    return hits / total, statistics.median(widths)


def test_pooled_intervals_are_narrower_and_still_hold_the_next_runs_median():
    pooled_coverage, pooled_width = next_run_coverage_and_width(pooled=True)
    alone_coverage, alone_width = next_run_coverage_and_width(pooled=False)
    assert pooled_coverage >= 0.94 and alone_coverage >= 0.94
    assert pooled_width < 0.7 * alone_width  # t(0.975, 2) = 4.30 against about 2 with the run's cells


def test_a_round_far_slower_than_the_others_is_disturbed_and_set_apart_with_the_reason():
    generator = random.Random(6)
    truths = [0.001 * (index + 1) for index in range(20)]
    cells = {cell["cell_id"]: cell for cell in combine_rounds(records_of_run(generator, truths, 0.02,
                                                                             slow=(3, 2, 1.8)))}
    disturbed = cells["w3"]
    (excluded,) = disturbed["excluded_rounds"]
    assert excluded["round"] == 2 and excluded["reason"].endswith("disturbed")
    assert 1.5 < float(excluded["reason"].split("x ")[0]) < 2.1  # 1.8x, give or take the rounds' own spread
    assert disturbed["round_numbers"] == [1, 3] and set(disturbed["samples_round"]) == {1, 3}
    assert disturbed["median_s"] == pytest.approx(0.004, rel=0.1)  # the slow round no longer moves it
    assert disturbed["ci95_low_s"] <= 0.004 <= disturbed["ci95_high_s"] and disturbed["rel_ci95"] < 0.15
    assert not any("excluded_rounds" in cell for name, cell in cells.items() if name != "w3")


def test_disturbed_rounds_are_slower_only_and_a_minority():
    assert disturbed_rounds([1.0, 1.01, 1.6], 0.02 ** 2) == [2]
    assert disturbed_rounds([1.0, 1.01, 0.6], 0.02 ** 2) == []  # faster: not a disturbance
    assert disturbed_rounds([1.0, 1.01, 1.45], 0.02 ** 2) == []  # within the 1.5x floor
    assert disturbed_rounds([1.0, 1.3, 1.6], 0.2 ** 2) == []  # within the run's own spread
    assert disturbed_rounds([1.0, 2.0, 2.1, 1.01, 0.99], 0.01 ** 2) == [1, 2]
    assert disturbed_rounds([1.0, 1.6], 0.01 ** 2) == []  # two rounds: nothing to tell which is odd


def test_rounds_in_two_allocator_states_are_two_states_not_a_disturbance():
    states = allocator_states([0.0006, 0.0026, 0.0007], [5.0, 1923.0, 7.0])
    assert [state["rounds"] for state in states] == [[0, 2], [1]]
    assert states[1]["median_s"] == 0.0026 and states[1]["page_faults_per_call"] == 1923.0
    assert allocator_states([0.5, 0.6], [5.0, 1923.0]) is None  # 1918 pages cannot cost a tenth of 0.5 s
    generator = random.Random(8)
    lines = records_of_run(generator, [0.001 * (index + 1) for index in range(10)], 0.02, slow=(0, 2, 4.0))
    for line in lines:
        if line["cell_id"] == "w0" and line["round"] == 2:
            line["page_faults_per_call"] = 3000.0
    cell = next(cell for cell in combine_rounds(lines) if cell["cell_id"] == "w0")
    assert "excluded_rounds" not in cell and [state["rounds"] for state in cell["allocator_states"]] == [[1, 3], [2]]
