"""Aggregation on hand-made results whose speedups, slopes and crossovers are known."""

import math

import numpy as np
import pytest

from fwbench.report import aggregate
from fwbench.results import records_to_frame


def record(workload, n, framework, mode, seconds, status="ok", spread=0.0):
    samples = [seconds * (1 + spread * k) for k in (-1, 0, 1, 0, -1, 1, 0)]
    return {"version": 1, "workload": workload, "kind": "expression", "params": {"n": n}, "framework": framework,
            "mode": mode, "device": "cpu", "dtype": "float32", "status": status, "median_s": seconds,
            "ci95_low_s": min(samples), "ci95_high_s": max(samples), "rel_ci95": spread, "samples_s": samples,
            "first_call_s": seconds * 10, "n_samples": len(samples), "cell_id": f"{workload}[n={n}]/{framework}/{mode}/cpu",
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
    assert (jax["speedup_low"] <= 2.0).all() and (jax["speedup_high"] >= 2.0).all()
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


def test_bootstrap_interval_is_deterministic_and_contains_the_ratio():
    rng = np.random.default_rng(1)
    a, b = list(rng.normal(2.0, 0.1, 30)), list(rng.normal(1.0, 0.05, 30))
    first, second = aggregate.bootstrap_ratio(a, b), aggregate.bootstrap_ratio(a, b)
    assert first == second
    assert first.low < first.value < first.high
    assert 1.8 < first.value < 2.2
