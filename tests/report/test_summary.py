"""The answer at a glance: the summary rows per workload and per series, and the report's size."""

from __future__ import annotations

import math
import random

import pytest

from fwbench.execution.plan import Selection, plan_cells
from fwbench.records.results import base_record, records_to_frame
from fwbench.report import aggregate, html_page, render, summary
from fwbench.spec.loader import load_specs
from tests.conftest import REPO_ROOT

DEFAULT_SUITE = ("matrix_powers.yaml", "mlp_training.yaml", "fusion.yaml")  # make bench's BENCH_SPECS


def cell(workload, n, framework, mode, medians, first_call_s=0.0, peak=None):
    return {"workload": workload, "kind": "expression", "params": {"n": n}, "framework": framework, "mode": mode,
            "device": "cpu", "dtype": "float32", "status": "ok", "median_s": sorted(medians)[len(medians) // 2],
            "round_medians_s": list(medians), "round_numbers": list(range(1, len(medians) + 1)), "run_id": "r",
            "n_rounds": len(medians), "cell_id": f"{workload}[n={n}]/{framework}/{mode}/cpu",
            "first_call_s": first_call_s, "peak_host_bytes": peak, "n_samples": 10, "converged": True}


@pytest.fixture
def board():
    records = []
    for n, scale in ((10, 1.0), (1000, 100.0)):
        records += [cell("w", n, "numpy", "eager", [2.0 * scale, 2.04 * scale, 1.97 * scale], 2.1 * scale, 10e6),
                    cell("w", n, "jax", "jit", [1.0 * scale, 1.01 * scale, 0.99 * scale], 0.5 + scale, 50e6),
                    cell("w", n, "jax", "eager", [3.0 * scale, 3.1 * scale, 2.9 * scale], 3 * scale, 40e6),
                    cell("w", n, "torch", "eager", [1.0 * scale, 1.06 * scale, 0.95 * scale], 1.0 * scale, 80e6)]
    records.append(dict(cell("w", 10, "torch", "compile", [1.0]), status="error", reason="boom", median_s=None))
    frame = aggregate.with_speedups(aggregate.prepare(records_to_frame(records)))
    return frame, aggregate.leaderboard(frame)


def test_a_workload_row_holds_the_verdict_margin_compile_and_memory_at_the_largest_size(board):
    frame, leaderboard = board
    (row,) = summary.workload_rows(frame, leaderboard)
    assert row.size_label == "n=1000" and row.verdict == "undecided"
    assert row.winners == ("jax/jit", "torch/eager") and row.winner_text() == "undecided: jax/jit, torch/eager"
    assert row.runner_up == "torch/eager" and row.margin_low < 1 < row.margin_high
    assert row.compile_s == {"numpy": None, "jax": pytest.approx(100.5 - 100.0), "torch": None}
    assert row.peak_bytes == {"numpy": 10e6, "jax": 50e6, "torch": 80e6}  # the largest of the framework's modes
    header, (cells,) = summary.workload_table([row])
    assert header == ["workload", "size", "fastest at that size (or its equivalents)", "next / fastest (95% CI)",
                      "compile jax", "peak np", "peak jax", "peak torch"]
    assert cells[:2] == ["w", "n=1000"] and cells[4] == "500 ms" and cells[-1] == "76.3 MiB"


def test_a_series_row_counts_wins_ties_losses_and_failures_and_sums_compile_time(board):
    frame, leaderboard = board
    rows = {row.series: row for row in summary.series_rows(frame, leaderboard)}
    assert (rows["jax/jit"].wins, rows["jax/jit"].undecided, rows["jax/jit"].losses) == (0, 2, 0)
    assert (rows["numpy/eager"].losses, rows["jax/eager"].losses) == (2, 2)
    assert rows["torch/compile"].fails == 1 and rows["torch/compile"].cells == 0
    assert rows["torch/compile"].geomean_speedup is None
    assert rows["jax/jit"].compile_s == pytest.approx((1.5 - 1.0) + (100.5 - 100.0))
    jit = rows["jax/jit"]
    assert jit.geomean_speedup == pytest.approx(2.0, rel=0.03) and jit.low < jit.geomean_speedup < jit.high
    assert rows["numpy/eager"].geomean_speedup == 1.0


def test_undecided_among_many_names_the_lowest_median_and_counts_the_others():
    row = summary.WorkloadRow("w", "cpu", "n=1", "undecided", "a/x", ("a/x", "b/y", "c/z"), "b/y", 1.1, 0.9, 1.3, ())
    assert row.winner_text() == "undecided: a/x and 2 others"
    assert row.margin_text() == "1.10x (0.90-1.30)"


def default_suite_records(seed: int = 0) -> list[dict]:
    """Recorded-looking rows for every cell the default suite plans, three rounds each, from a seed."""
    specs = load_specs([REPO_ROOT / "workloads" / name for name in DEFAULT_SUITE])
    generator = random.Random(seed)
    records = []
    for planned in plan_cells(specs, Selection(devices=["cpu"])):
        record = base_record(planned.to_dict(), planned.workload.to_dict(), {"run_id": "r", "num_threads": 2})
        centre = 10 ** generator.uniform(-5, -1)
        medians = [centre * math.exp(generator.gauss(0, 0.1)) for _ in range(3)]
        samples = [m * math.exp(generator.gauss(0, 0.02)) for m in medians for _ in range(8)]
        record.update(status="ok", dtype="float32", median_s=sorted(samples)[12], samples_s=samples,
                      round_medians_s=medians, round_numbers=[1, 2, 3], n_rounds=3, n_samples=24, n_loops=1,
                      ci95_low_s=min(medians), ci95_high_s=max(medians), first_call_s=centre * 30,
                      peak_host_bytes=generator.uniform(1e7, 1e9), max_rel_err=1e-7, converged=False,
                      gflops_per_s=1.0, gbytes_per_s=1.0, description="d")
        records.append(record)
    return records


def test_the_default_suites_html_report_stays_under_300_kb():
    records = default_suite_records()
    assert len(records) == 208
    html = html_page.to_html(render.build_report(records_to_frame(records), [{"run_id": "r"}]))
    assert len(html.encode()) < 300_000, len(html.encode())
    assert html.count('<svg') >= 2 and 'class="summary' in html
