"""``fwbench history``: each cell's medians over a sequence of runs, their change points, in every format.

Runs are put in time order by when they started (``run.json``); a cell's series is its combined median in
each run where it was ``ok``.  :func:`fwbench.stats.changepoints.detect` finds the steps; each is reported
with the run that introduced it (the first run after the step), its size and p-value, against the series'
learned noise threshold.  The HTML draws one small chart per changed series, the step marked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from fwbench.errors import UserError
from fwbench.stats.changepoints import PENALTY_FACTOR, SeriesChanges, detect

HISTORY_VERSION = 1
MIN_RUNS = 4


@dataclass(frozen=True)
class RunPoint:
    """One run of the history: its directory, id and start time."""

    path: str
    run_id: str
    started: str


@dataclass(frozen=True)
class CellHistory:
    """One cell's medians over the runs that measured it, and what the change-point search found."""

    cell: str
    runs: tuple[int, ...]  # indices into the history's runs
    medians_s: tuple[float, ...]
    found: SeriesChanges


def find_runs(paths: list[Path]) -> list[Path]:
    """Run directories from the arguments: each a run, or a directory of runs (CI artifacts)."""
    found = []
    for path in paths:
        if (path / "results.jsonl").is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(child for child in path.iterdir() if (child / "results.jsonl").is_file())
        else:
            raise UserError(f"{path}: not a run directory nor a directory of runs",
                            hint="pass directories written by 'fwbench run' or 'fwbench ab' (each has results.jsonl)")
    if len(found) < MIN_RUNS:
        raise UserError(f"history: got {len(found)} runs, expected at least {MIN_RUNS}",
                        hint="pass more run directories, or a directory holding them")
    return found


def build(paths: list[Path], penalty_factor: float = PENALTY_FACTOR) -> tuple[list[RunPoint], list[CellHistory]]:
    """The runs in time order and every cell's history with its change points."""
    from fwbench.records.results import read_cells, read_manifest

    loaded = []
    for path in find_runs(paths):
        manifest = read_manifest(path) or {}
        loaded.append((manifest.get("started") or "", str(path), manifest.get("run_id") or path.name,
                       read_cells(path)))
    loaded.sort(key=lambda item: (item[0], item[1]))
    runs = [RunPoint(path, run_id, started) for started, path, run_id, _ in loaded]
    series: dict[str, list[tuple[int, float]]] = {}
    for index, (_, _, _, cells) in enumerate(loaded):
        for row in cells:
            if row.get("status") == "ok" and row.get("median_s") and row.get("method", "fwbench") == "fwbench":
                series.setdefault(row["cell_id"], []).append((index, float(row["median_s"])))
    histories = []
    for cell, points in sorted(series.items()):
        if len(points) >= MIN_RUNS:
            medians = [median for _, median in points]
            histories.append(CellHistory(cell, tuple(index for index, _ in points), tuple(medians),
                                         detect(medians, penalty_factor)))
    return runs, histories


def changes_table(runs: list[RunPoint], histories: list[CellHistory]) -> list[dict[str, Any]]:
    """One entry per change: the cell, the run that introduced it, its size, p-value and the threshold."""
    rows = []
    for history in histories:
        for change in history.found.changes:
            run = runs[history.runs[change.index]]
            rows.append({"cell": history.cell, "run": run.run_id, "run_dir": run.path, "started": run.started,
                         "size": change.size, "p_value": change.p_value,
                         "below_run_threshold": change.below_run_threshold,
                         "noise_threshold": None if math.isinf(history.found.threshold) else history.found.threshold,
                         "sigma": history.found.sigma})
    return rows


def document(runs: list[RunPoint], histories: list[CellHistory], penalty_factor: float) -> dict[str, Any]:
    return {"version": HISTORY_VERSION, "penalty_factor": penalty_factor,
            "runs": [{"run": run.run_id, "dir": run.path, "started": run.started} for run in runs],
            "series": len(histories), "changes": changes_table(runs, histories),
            "thresholds": {history.cell: (None if math.isinf(history.found.threshold) else history.found.threshold)
                           for history in histories}}


def headline(runs: list[RunPoint], histories: list[CellHistory]) -> str:
    changes = changes_table(runs, histories)
    real = [change for change in changes if not change["below_run_threshold"]]
    return (f"{len(histories)} series over {len(runs)} runs: {len(changes)} change points, {len(real)} of them "
            "larger than one run's noise threshold")


def markdown(runs: list[RunPoint], histories: list[CellHistory]) -> str:
    lines = ["## fwbench history", "", headline(runs, histories) + ".", "",
             "| cell | introduced by run | size | p-value | noise threshold | |", "|---|---|---:|---:|---:|---|"]
    for change in changes_table(runs, histories):
        threshold = f"{change['noise_threshold']:.2f}x" if change["noise_threshold"] else "-"
        lines.append(f"| `{change['cell']}` | {change['run']} | {change['size']:.3f}x | {change['p_value']:.2g} | "
                     f"{threshold} | {'below one run' if change['below_run_threshold'] else ''} |")
    return "\n".join(lines) + "\n"


def _chart(history: CellHistory) -> str:
    """A 320x80 SVG of the series (log scale), each change marked with a dashed line and the segments' levels."""
    width, height = 320, 80
    logs = [math.log(value) for value in history.medians_s]
    low, high = min(logs), max(logs)
    spread = (high - low) or 1.0
    def x(index: int) -> float:
        return 10 + (width - 20) * index / max(1, len(logs) - 1)
    def y(value: float) -> float:
        return height - 10 - (height - 20) * (value - low) / spread
    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(logs))
    marks = "".join(f'<line x1="{x(c.index) - 0.5 * (x(1) - x(0)):.1f}" x2="{x(c.index) - 0.5 * (x(1) - x(0)):.1f}" '
                    f'y1="0" y2="{height}" stroke="#c0392b" stroke-dasharray="3,2"/>' for c in history.found.changes)
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="median per run of {escape(history.cell)}">'
            f'<polyline points="{points}" fill="none" stroke="#2e86c1" stroke-width="1.5"/>{marks}</svg>')


def html(runs: list[RunPoint], histories: list[CellHistory]) -> str:
    """A self-contained page: the changes' table and one small chart per changed series."""
    changed = [history for history in histories if history.found.changes]
    sections = []
    for history in changed:
        rows = "".join(f"<li>run {escape(runs[history.runs[c.index]].run_id)}: {c.size:.3f}x, p {c.p_value:.2g}"
                       f"{' (below one run&#39;s threshold)' if c.below_run_threshold else ''}</li>"
                       for c in history.found.changes)
        threshold = "-" if math.isinf(history.found.threshold) else f"{history.found.threshold:.2f}x"
        sections.append(f"<section><h3><code>{escape(history.cell)}</code></h3>{_chart(history)}"
                        f"<ul>{rows}</ul><p>noise threshold {threshold}, sigma {history.found.sigma:.3f} (log)</p>"
                        "</section>")
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>fwbench history</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em}section{display:inline-block;margin:0 1em 1em 0;"
            "vertical-align:top}@media (prefers-color-scheme: dark){body{background:#111;color:#eee}}</style>"
            f"</head><body><h1>fwbench history</h1><p>{escape(headline(runs, histories))}.</p>"
            + ("".join(sections) or "<p>No change point.</p>") + "</body></html>\n")


def to_json(runs: list[RunPoint], histories: list[CellHistory], penalty_factor: float) -> str:
    return json.dumps(document(runs, histories, penalty_factor), indent=1)
