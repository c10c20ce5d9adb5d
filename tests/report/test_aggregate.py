"""Aggregation on hand-made results whose speedups, slopes and crossovers are known."""

import math

import numpy as np
import pytest

from fwbench.records.results import records_to_frame
from fwbench.report import aggregate


def record(workload, n, framework, mode, seconds, status="ok", spread=0.0):
    samples = [seconds * (1 + spread * k) for k in (-1, 0, 1, 0, -1, 1, 0)]
    return {"version": 1, "workload": workload, "kind": "expression", "params": {"n": n}, "framework": framework,
            "mode": mode, "device": "cpu", "dtype": "float32", "status": status, "median_s": seconds,
            "ci95_low_s": min(samples), "ci95_high_s": max(samples), "rel_ci95": spread, "samples_s": samples,
            "first_call_s": seconds * 10, "n_samples": len(samples),
            "cell_id": f"{workload}[n={n}]/{framework}/{mode}/cpu",
            "num_threads": 2, "framework_version": "1", "converged": True, "max_rel_err": 0.0}


@pytest.fixture
def frame():
    records = []
    for n in (100, 10000):
        records.append(record("w", n, "numpy", "eager", 1e-9 * n**2))       # slope 2
        records.append(record("w", n, "jax", "jit", 0.5e-9 * n**2))         # always 2x faster, slope 2
        records.append(record("w", n, "torch", "eager", 1e-12 * n**3))      # slope 3, crosses numpy at n=1000
    records.append(record("w", 10000, "tensorflow", "eager", 1.0, status="error"))
    return aggregate.prepare(records_to_frame(records))


def test_speedups_against_the_baseline(frame):
    result = aggregate.with_speedups(frame, "numpy/eager")
    jax = result[result["series"] == "jax/jit"]
    assert jax["speedup"].tolist() == pytest.approx([2.0, 2.0])
    assert jax["speedup_low"].isna().all()  # one round: no interval over processes
    assert all(method.startswith("no interval: one round") for method in jax["speedup_method"])
    torch = result[(result["series"] == "torch/eager") & (result["size"] == 100)]
    assert torch["speedup"].iloc[0] == pytest.approx(10.0)  # 1e-5 s against 1e-6 s
    assert math.isnan(result[result["framework"] == "tensorflow"]["speedup"].iloc[0])


def test_geometric_mean_speedup(frame):
    result = aggregate.geometric_mean_speedups(aggregate.with_speedups(frame, "numpy/eager"))
    torch = result[result["series"] == "torch/eager"]["geomean_speedup"].iloc[0]
    assert torch == pytest.approx(math.sqrt(10.0 * 0.1))  # 10x at n=100, 0.1x at n=10000


def test_slopes(frame):
    slopes = aggregate.scaling(frame).set_index("series")["slope"]
    assert slopes["numpy/eager"] == pytest.approx(2.0)
    assert slopes["jax/jit"] == pytest.approx(2.0)
    assert slopes["torch/eager"] == pytest.approx(3.0)


def test_crossover_is_found_where_the_lines_meet(frame):
    crossings = aggregate.crossovers(frame)
    row = crossings[(crossings["faster_above"] == "numpy/eager") & (crossings["slower_above"] == "torch/eager")]
    assert len(row) == 1
    assert row["size_estimate"].iloc[0] == pytest.approx(1000.0)
    assert row["between"].iloc[0] == "100 and 10000"


def test_leaderboard(frame):
    board = aggregate.leaderboard(frame).set_index("params")
    assert board.loc["n=100", "fastest"] == "torch/eager"
    assert board.loc["n=100", "margin"] == pytest.approx(5.0)  # jax/jit at 5e-6 s against 1e-6 s
    assert board.loc["n=10000", "fastest"] == "jax/jit"
    assert board.loc["n=10000", "margin"] == pytest.approx(2.0)


def rounds_record(workload, framework, mode, round_medians, device="cpu", method=None, run_id="run"):
    medians = list(round_medians)
    base = record(workload, 1000, framework, mode, float(np.median(medians)))
    base.update(device=device, round_medians_s=medians, round_numbers=list(range(1, len(medians) + 1)),
                run_id=run_id, n_rounds=len(medians), cell_id=f"{workload}/{framework}/{mode}/{device}/{method}")
    if method:
        base["method"] = method
    return base


def board_for(records):
    return aggregate.leaderboard(aggregate.prepare(records_to_frame(records))).iloc[0]


def test_a_single_winner_only_when_every_runner_up_is_slower_by_its_interval():
    clear = board_for([rounds_record("w", "jax", "jit", [1.0, 1.02, 0.99]),
                       rounds_record("w", "numpy", "eager", [2.0, 2.05, 1.97]),
                       rounds_record("w", "torch", "eager", [3.0, 3.1, 2.9])])
    assert (clear["verdict"], clear["winners"]) == ("fastest", ["jax/jit"])
    assert aggregate.winner_text(clear) == "jax/jit"
    assert 1.9 < clear["margin_low"] < clear["margin"] < clear["margin_high"] < 2.1

    close = board_for([rounds_record("w", "jax", "jit", [1.00, 1.06, 0.97]),
                       rounds_record("w", "torch", "compile", [1.02, 0.98, 1.05]),
                       rounds_record("w", "numpy", "eager", [2.0, 2.05, 1.97])])
    assert close["verdict"] == "undecided"
    assert sorted(close["winners"]) == ["jax/jit", "torch/compile"]  # numpy is clearly behind: not a candidate
    assert aggregate.winner_text(close).startswith("undecided: ")
    assert [item["standing"] for item in close["ratios"]] == ["undecided", "slower"]


def test_two_series_shown_within_five_percent_are_equivalent_not_undecided():
    """Rounds that move together (the machine's drift) pair out: a 1% difference with a tight interval."""
    same = board_for([rounds_record("w", "jax", "jit", [1.00, 1.10, 0.95]),
                      rounds_record("w", "torch", "compile", [1.01, 1.11, 0.96]),
                      rounds_record("w", "numpy", "eager", [2.0, 2.2, 1.9])])
    assert same["verdict"] == "equivalent"
    assert same["winners"] == ["jax/jit", "torch/compile"]
    assert [item["standing"] for item in same["ratios"]] == ["equivalent", "slower"]
    assert aggregate.winner_text(same) == "equivalent: jax/jit, torch/compile"


def test_one_round_decides_no_winner():
    from fwbench.report.findings import winner_cell

    single = board_for([rounds_record("w", "jax", "jit", [1.0]), rounds_record("w", "numpy", "eager", [5.0])])
    assert single["verdict"] == "undecided"
    assert winner_cell(single).startswith("undecided (one round)")


def test_speedups_match_the_device_and_never_divide_by_a_timeit_row():
    records = [rounds_record("w", "numpy", "eager", [2.0, 2.0, 2.0], method="timeit"),
               rounds_record("w", "numpy", "eager", [4.0, 4.1, 3.9]),
               rounds_record("w", "jax", "jit", [1.0, 1.0, 1.01]),
               rounds_record("w", "jax", "jit", [0.1, 0.1, 0.1], device="gpu")]
    frame = aggregate.with_speedups(aggregate.prepare(records_to_frame(records)), "numpy/eager")
    by_device = frame[frame["framework"] == "jax"].set_index("device")
    assert by_device.loc["cpu", "speedup"] == pytest.approx(4.0, rel=0.01)  # the fwbench row, not timeit's 2.0
    assert math.isnan(by_device.loc["gpu", "speedup"])  # no numpy on the GPU: no silent CPU baseline
    across = aggregate.with_speedups(aggregate.prepare(records_to_frame(records)), "numpy/eager@cpu")
    gpu = across[(across["framework"] == "jax") & (across["device"] == "gpu")].iloc[0]
    assert gpu["speedup"] == pytest.approx(40.0, rel=0.01)
    assert gpu["speedup_method"] == "paired over 3 rounds"


def test_pooled_speedups_leave_the_baseline_at_exactly_one():
    """With enough pairs for a pooled spread, every other series' interval widens, but the baseline divided
    by itself stays 1 with no width."""
    records = []
    for index in range(6):
        records.append(rounds_record(f"w{index}", "numpy", "eager", [2.0, 2.2 + index / 50, 1.9]))
        records.append(rounds_record(f"w{index}", "jax", "jit", [1.0, 1.05, 0.97 - index / 100]))
    frame = aggregate.with_speedups(aggregate.prepare(records_to_frame(records)), "numpy/eager")
    baseline = frame[frame["framework"] == "numpy"]
    assert (baseline["speedup_low"] == 1.0).all() and (baseline["speedup_high"] == 1.0).all()
    jax = frame[frame["framework"] == "jax"]
    assert jax["speedup_method"].str.endswith("spread pooled over the run's pairs").all()
    assert (jax["speedup_low"] < jax["speedup"]).all() and (jax["speedup"] < jax["speedup_high"]).all()
