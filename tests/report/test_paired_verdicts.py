"""Verdicts of an interleaved run come from turns paired in time: drift that moves round medians apart leaves
paired ratios decided (recorded-style rows, seeded synthetic turns; no real timing)."""

import math
import random

from fwbench.records.combine import combine_rounds
from fwbench.records.results import records_to_frame
from fwbench.report import aggregate
from tests.report.test_aggregate import record


def interleaved_rounds(framework, ratio, speeds, seed, turns=30):
    """One series' round records under --interleave: the machine's speed differs between rounds by ``speeds``
    (and drifts within each), A's time is ``ratio`` times the baseline's; turns alternate 20 ms apart."""
    generator = random.Random(seed)
    rows = []
    for number, speed in enumerate(speeds, start=1):
        starts, samples = [], []
        for index in range(turns):
            drift = speed * (1 + 0.3 * index / turns)
            starts.append(100.0 * number + 0.04 * index + (0.02 if ratio != 1 else 0.0))
            samples += [ratio * 1e-3 * drift * math.exp(generator.gauss(0, 0.03)) for _ in range(3)]
        samples_sorted = sorted(samples)
        base = record("w", 1000, framework, "eager", samples_sorted[len(samples) // 2])
        rows.append(dict(base, round=number, run_id="run", samples_s=samples, turn_starts_s=starts,
                         turn_sample_counts=[3] * turns, median_s=samples_sorted[len(samples) // 2]))
    return rows


def board(with_turns):
    speeds = (1.0, 1.6, 0.8)  # the machine's speed moved 2x between rounds
    records = interleaved_rounds("numpy", 1.0, speeds, seed=1) + interleaved_rounds("torch", 0.9, speeds, seed=2)
    if not with_turns:
        records = [{key: value for key, value in r.items() if not key.startswith("turn_")} for r in records]
    return aggregate.leaderboard(aggregate.prepare(records_to_frame(combine_rounds(records))))


def test_turns_paired_in_time_decide_what_round_medians_cannot():
    (paired,) = board(with_turns=True).to_dict("records")
    assert paired["verdict"] == "fastest" and paired["fastest"] == "torch/eager"
    (runner_up,) = paired["ratios"]
    assert runner_up["method"].startswith("paired turns, clustered by round")
    # numpy/torch is 1/0.9; one draw of a 95% interval of 0.6% half-width may miss it by a hair, so the test
    # asks for the ratio within 2% of it and a verdict, not for this draw's coverage
    assert abs(runner_up["ratio"] * 0.9 - 1) < 0.02 and runner_up["standing"] == "slower"
    assert runner_up["rounds"] == 3
    # the same rows without their turns: round medians paired by round number
    (by_rounds,) = board(with_turns=False).to_dict("records")
    assert by_rounds["ratios"][0]["method"].startswith("paired over 3 rounds")


def test_combined_cells_keep_each_rounds_turns_and_drop_set_apart_rounds():
    (cell, _) = combine_rounds(interleaved_rounds("numpy", 1.0, (1.0, 1.0), seed=3)
                               + interleaved_rounds("torch", 0.9, (1.0, 1.0), seed=4))
    assert [entry["round"] for entry in cell["turns"]] == [1, 2]
    assert len(cell["turns"][0]["medians_s"]) == 30
