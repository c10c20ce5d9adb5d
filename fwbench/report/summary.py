"""The answer at a glance: one row per workload, one row per framework/mode, and the speedup panels.

These feed the first screen of the HTML report, the first lines of the
Markdown report and of ``fwbench run``'s output:

* :func:`workload_rows`: per workload (and device), at its largest size, the
  verdict and the fastest series, the runner-up's time over the fastest's with
  its 95% interval, the series equivalent to it, and per framework the compile
  cost (first call minus the steady median, the largest over its modes) and the
  peak host memory;
* :func:`series_rows`: per framework/mode across the suite, the geometric-mean
  speedup against the baseline with an interval, how many workload sizes it
  wins, ties (equivalent to the fastest), loses (shown slower), leaves
  undecided, and how many of its cells failed; its total compile cost;
* :func:`speedup_panels`: per workload, each series' speedup against the
  baseline at every size, with its interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fwbench.report.aggregate import FRAMEWORK_ORDER, none_if_nan
from fwbench.stats.intervals import geometric_mean_interval
from fwbench.units import format_bytes, format_seconds

COMPILED_MODES = ("jit", "compile", "function", "xla")


@dataclass(frozen=True)
class WorkloadRow:
    workload: str
    device: str
    size_label: str
    verdict: str  # fastest, equivalent, undecided, only
    fastest: str
    winners: tuple[str, ...]
    runner_up: str | None
    margin: float | None  # the runner-up's time over the fastest's (its paired ratio, as the leaderboard's)
    margin_low: float | None
    margin_high: float | None
    equivalents: tuple[str, ...]
    compile_s: dict[str, float | None] = field(default_factory=dict)  # framework -> first call minus steady
    peak_bytes: dict[str, float | None] = field(default_factory=dict)  # framework -> peak host bytes

    def winner_text(self) -> str:
        """``jax/jit``; ``equivalent: jax/jit, torch/compile``; ``undecided: jax/jit, torch/compile`` (the
        fastest first), ``undecided: jax/jit and 3 others`` beyond two candidates."""
        if self.verdict in ("fastest", "only"):
            return self.fastest
        if len(self.winners) > 2:
            return f"{self.verdict}: {self.winners[0]} and {len(self.winners) - 1} others"
        return f"{self.verdict}: " + ", ".join(self.winners)

    def margin_text(self) -> str:
        """``1.42x (1.21-1.66)``: how much slower the runner-up is; '-' with one series."""
        if self.margin is None:
            return "-"
        if self.margin_low is None:
            return f"{self.margin:.2f}x (one round)"
        return f"{self.margin:.2f}x ({self.margin_low:.2f}-{self.margin_high:.2f})"


@dataclass(frozen=True)
class SeriesRow:
    series: str
    cells: int  # ok cells with a speedup
    geomean_speedup: float | None
    low: float | None
    high: float | None
    wins: int
    ties: int
    losses: int
    undecided: int
    fails: int
    compile_s: float

    def speedup_text(self) -> str:
        if self.geomean_speedup is None:
            return "-"
        if self.low is None:
            return f"{self.geomean_speedup:.2f}x"
        return f"{self.geomean_speedup:.2f}x ({self.low:.2f}-{self.high:.2f})"


def _first_minus_steady(row: Any) -> float | None:
    first, median = none_if_nan(row.get("first_call_s")), none_if_nan(row.get("median_s"))
    return None if first is None or median is None else max(0.0, first - median)


def workload_rows(frame: pd.DataFrame, board: pd.DataFrame) -> list[WorkloadRow]:
    """One row per workload and device, at the workload's largest size (``frame`` prepared, ``board`` from
    :func:`fwbench.report.aggregate.leaderboard`)."""
    rows: list[WorkloadRow] = []
    if board.empty:
        return rows
    ok = frame[frame["status"] == "ok"]
    for (workload, device), sizes in board.groupby(["workload", "device"], sort=False):
        top = sizes.sort_values("size").iloc[-1]
        cells = ok[(ok["workload"] == workload) & (ok["device"] == device) & (ok["size_label"] == top["params"])]
        compile_s: dict[str, float | None] = {}
        peak: dict[str, float | None] = {}
        for framework in FRAMEWORK_ORDER:
            mine = cells[cells["framework"] == framework]
            if mine.empty:
                continue
            compiled = mine[mine["mode"].isin(COMPILED_MODES)]
            costs = [value for value in (_first_minus_steady(r) for r in compiled.to_dict("records"))
                     if value is not None]
            compile_s[framework] = max(costs) if costs else None
            peaks = [value for value in (none_if_nan(v) for v in mine.get("peak_host_bytes", [])) if value]
            peak[framework] = max(peaks) if peaks else None
        equivalents = tuple(item["series"] for item in top["ratios"] if item["standing"] == "equivalent")
        rows.append(WorkloadRow(
            workload=workload, device=device, size_label=top["params"], verdict=top["verdict"],
            fastest=top["fastest"], winners=tuple(top["winners"]), runner_up=top["runner_up"],
            margin=none_if_nan(top["margin"]), margin_low=none_if_nan(top["margin_low"]),
            margin_high=none_if_nan(top["margin_high"]), equivalents=equivalents, compile_s=compile_s,
            peak_bytes=peak))
    return rows


def series_rows(frame: pd.DataFrame, board: pd.DataFrame) -> list[SeriesRow]:
    """Per series across the suite (``frame`` from :func:`fwbench.report.aggregate.with_speedups`).

    The geometric mean's interval treats the cells' log speedups as independent, each with the spread its
    own 95% interval implies; it is left out when some cell has no interval (one round)."""
    counts: dict[str, dict[str, int]] = {}
    for row in board.to_dict("records") if not board.empty else []:
        standings = {item["series"]: item["standing"] for item in row["ratios"]}
        for series in [row["fastest"], *standings]:
            tally = counts.setdefault(series, {"wins": 0, "ties": 0, "losses": 0, "undecided": 0})
            if series == row["fastest"]:
                key = {"fastest": "wins", "only": "wins", "equivalent": "ties"}.get(row["verdict"], "undecided")
            else:
                key = {"equivalent": "ties", "slower": "losses"}.get(standings[series], "undecided")
            tally[key] += 1
    rows = []
    order = frame.sort_values(["framework_rank", "series"])["series"].drop_duplicates()
    for series in order:
        mine = frame[frame["series"] == series]
        ok = mine[mine["status"] == "ok"]
        with_speedup = ok[ok["speedup"].notna() & (ok["speedup"] > 0)] if "speedup" in ok else ok.iloc[0:0]
        geomean = low = high = None
        if not with_speedup.empty:
            bounded = with_speedup["speedup_low"].notna().all() and with_speedup["speedup_high"].notna().all()
            geomean, low, high = geometric_mean_interval(
                list(with_speedup["speedup"]), list(with_speedup["speedup_low"]) if bounded else None,
                list(with_speedup["speedup_high"]) if bounded else None)
        tally = counts.get(series, {"wins": 0, "ties": 0, "losses": 0, "undecided": 0})
        compile_total = sum(value for value in (_first_minus_steady(r) for r in ok.to_dict("records"))
                            if value is not None)
        rows.append(SeriesRow(series=series, cells=len(with_speedup), geomean_speedup=geomean, low=low, high=high,
                              fails=int(mine["status"].isin(["error", "mismatch"]).sum()), compile_s=compile_total,
                              **tally))
    return rows


@dataclass(frozen=True)
class Panel:
    """One workload's speedups: series -> [(size, size label, speedup, low, high)], and its verdict."""

    workload: str
    device: str
    verdict_text: str
    points: dict[str, list[tuple[float, str, float, float | None, float | None]]]


def speedup_panels(frame: pd.DataFrame, summaries: list[WorkloadRow]) -> list[Panel]:
    panels = []
    ok = frame[(frame["status"] == "ok") & frame["speedup"].notna()]
    for summary in summaries:
        cells = ok[(ok["workload"] == summary.workload) & (ok["device"] == summary.device)]
        points: dict[str, list] = {}
        for record in cells.sort_values(["framework_rank", "series", "size"]).to_dict("records"):
            points.setdefault(record["series"], []).append(
                (float(record["size"]), record["size_label"], float(record["speedup"]),
                 none_if_nan(record["speedup_low"]), none_if_nan(record["speedup_high"])))
        verdict = summary.winner_text() if summary.verdict != "undecided" else "undecided"
        panels.append(Panel(summary.workload, summary.device, f"{summary.size_label}: {verdict}", points))
    return panels


# ---------------------------------------------------------------------- shared table text

FRAMEWORK_SHORT = {"numpy": "np", "jax": "jax", "torch": "torch", "tensorflow": "tf"}
SERIES_HEADER = ["framework/mode", "geomean speedup vs baseline (95% CI)", "cells", "wins", "ties", "losses",
                 "undecided", "failed", "compile, total"]


def framework_columns(rows: list[WorkloadRow]) -> tuple[list[str], list[str]]:
    """The frameworks with a compile cost in some row (those with a compiled mode), and every framework that
    ran, in the usual order: the per-framework columns of the summary table."""
    compiled = [name for name in FRAMEWORK_ORDER if any(row.compile_s.get(name) is not None for row in rows)]
    present = [name for name in FRAMEWORK_ORDER if any(name in row.peak_bytes for row in rows)]
    return compiled, present


def workload_table(rows: list[WorkloadRow]) -> tuple[list[str], list[list[str]]]:
    """The summary table's header and rows: the verdict at the largest size (the fastest series, or the
    series equivalent to it or not yet told apart from it, the fastest first), the next series' time over
    the fastest's, and a column per framework for the compile cost (first call minus steady, frameworks
    with a compiled mode) and for the peak host memory (every framework that ran)."""
    compiled, present = framework_columns(rows)
    header = ["workload", "size", "fastest at that size (or its equivalents)", "next / fastest (95% CI)",
              *(f"compile {FRAMEWORK_SHORT[name]}" for name in compiled),
              *(f"peak {FRAMEWORK_SHORT[name]}" for name in present)]
    table = []
    for row in rows:
        label = row.workload if row.device == "cpu" else f"{row.workload} ({row.device})"
        table.append([label, row.size_label, row.winner_text(), row.margin_text(),
                      *(format_seconds(row.compile_s.get(name)) for name in compiled),
                      *(format_bytes(row.peak_bytes[name]) if row.peak_bytes.get(name) else "-" for name in present)])
    return header, table


TABLE_NOTE = ("compile: first call minus the steady median (the slowest of the framework's compiled modes); "
              "peak: the largest peak host memory of the framework's cells")


def series_cells(row: SeriesRow) -> list[str]:
    return [row.series, row.speedup_text(), str(row.cells), str(row.wins), str(row.ties), str(row.losses),
            str(row.undecided), str(row.fails), format_seconds(row.compile_s)]
