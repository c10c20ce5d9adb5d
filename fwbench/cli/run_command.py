"""``fwbench run``: measure every cell, write results.jsonl and results.csv, print a summary."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich import box
from rich.table import Table

from fwbench.cli.common import (DEVICE_OPTION, FILTER_OPTION, FRAMEWORK_OPTION, MODE_OPTION, QUICK_OPTION,
                                SPECS_ARGUMENT, console, format_number, format_seconds, spec_paths,
                                user_errors)
from fwbench.errors import UserError
from fwbench.plan import Cell, Selection, params_text
from fwbench.runner import DEFAULT_CELL_TIMEOUT_S, Progress as RunProgress, RunOptions, run as run_cells
from fwbench.spec.loader import load_specs
from fwbench.timing import TimerSettings


class BarProgress(RunProgress):
    """A rich progress bar: cell n of N and what is running now."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        )
        self.task = None
        self.failures = 0

    def begin(self, total: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("starting", total=total)

    def worker(self, framework: str, device: str, message: str) -> None:
        if message == "starting":
            self.bar.update(self.task, description=f"{framework} on {device}: importing")

    def cell_started(self, cell: Cell) -> None:
        self.bar.update(self.task, description=escape(f"{cell.framework}/{cell.mode} {cell.device} "
                                                      f"{cell.workload.name}[{params_text(cell.params)}]"))

    def cell_finished(self, cell: Cell, record: dict[str, Any]) -> None:
        if record.get("status") in ("error", "mismatch"):
            self.failures += 1
            self.bar.console.print(f"{record['status']}: {cell.cell_id}: {record.get('reason')}", markup=False)
        self.bar.advance(self.task)

    def stop(self) -> None:
        self.bar.stop()


@user_errors
def run(
    specs: Optional[list[Path]] = SPECS_ARGUMENT,
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Run directory to write (default: results/run-<time>)."),
    framework: Optional[list[str]] = FRAMEWORK_OPTION,
    device: Optional[list[str]] = DEVICE_OPTION,
    mode: Optional[list[str]] = MODE_OPTION,
    filter_text: Optional[str] = FILTER_OPTION,
    quick: bool = QUICK_OPTION,
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="Threads for every framework (default: the usable cores)."),
    budget: Optional[float] = typer.Option(None, "--budget", min=0.0,
                                           help="Seconds of sampling per cell before giving up on the CI "
                                                "target (default 2, quick 0.2)."),
    target_ci: Optional[float] = typer.Option(None, "--target-ci", min=0.0,
                                              help="Stop sampling once the 95%% CI half-width of the median "
                                                   "is within this fraction of it (default 0.01)."),
    timeout: float = typer.Option(DEFAULT_CELL_TIMEOUT_S, "--timeout", min=1.0,
                                  help="Seconds one cell may take before its worker is killed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results already in --out."),
) -> None:
    """Run the benchmark matrix and write DIR/results.jsonl, DIR/results.csv and DIR/run.json.

    Each framework runs in its own worker process with the same thread count.
    For every cell: inputs are made on the host from the spec's seed and moved
    to the device before timing; the first call (trace + compile + run) is
    timed apart; after warm-up, samples are taken, each call synchronised
    inside the timed region, until the median's 95% confidence interval is
    within --target-ci or --budget runs out; the output is then compared with
    a NumPy float64 reference.
    """
    loaded = load_specs(spec_paths(specs))
    timer = TimerSettings.quick() if quick else TimerSettings()
    overrides = {}
    if budget is not None:
        overrides["budget_s"] = budget
    if target_ci is not None:
        overrides["target_rel_ci"] = target_ci
    if overrides:
        timer = TimerSettings(**{**timer.to_dict(), **overrides})
    out_dir = out or Path("results") / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    options = RunOptions(
        out_dir=out_dir,
        selection=Selection(frameworks=framework or None, devices=device or None, modes=mode or None,
                            filter_text=filter_text, quick=quick),
        num_threads=threads,
        timer=timer,
        cell_timeout_s=timeout,
        overwrite=overwrite,
        command=["fwbench", *sys.argv[1:]],
    )
    progress = BarProgress()
    try:
        outcome = run_cells(loaded, options, progress)
    except KeyboardInterrupt:
        progress.stop()
        raise UserError(f"interrupted; every finished cell is in {out_dir}/results.jsonl") from None
    finally:
        progress.stop()
    print_summary(outcome.records)
    console.print(f"Results: {outcome.out_dir}/results.jsonl and {outcome.out_dir}/results.csv "
                  f"({outcome.wall_s:.0f} s)")


def print_summary(records: list[dict[str, Any]]) -> None:
    """A table per cell: median per call, its 95% CI as +/- percent, first call, GB/s, status."""
    measured = [r for r in records if r.get("status") != "skipped"]
    skipped = [r for r in records if r.get("status") == "skipped"]
    measured.sort(key=lambda r: (r["workload"], sorted(r["params"].items()), r.get("median_s") or 1e99))
    several_devices = len({r["device"] for r in measured}) > 1
    table = Table(title="Median time per call (95% CI of the median)", box=box.SIMPLE_HEAD)
    table.add_column(escape("workload[params]"), no_wrap=True)
    table.add_column("framework/mode", no_wrap=True)
    for column in ("median", "± CI", "first call", "GB/s"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for record in measured:
        median, low, high = record.get("median_s"), record.get("ci95_low_s"), record.get("ci95_high_s")
        ci = f"{(high - low) / 2 / median * 100:.1f}%" if median and low is not None else "-"
        label = f"{record['framework']}/{record['mode']}"
        if several_devices:
            label += f"@{record['device']}"
        status = record["status"]
        style = {"ok": "green", "mismatch": "yellow", "error": "red"}.get(status, "")
        table.add_row(escape(f"{record['workload']}[{params_text(record['params'])}]"), label,
                      format_seconds(median), ci, format_seconds(record.get("first_call_s")),
                      format_number(record.get("gbytes_per_s")), f"[{style}]{status}[/{style}]")
    console.print(table)
    problems = [r for r in measured if r["status"] != "ok"]
    for record in problems:
        console.print(f"{record['status']}: {record['cell_id']}: {record.get('reason')}", markup=False)
    if skipped:
        reasons: dict[str, int] = {}
        for record in skipped:
            key = f"{record['framework']}: {record['reason']}"
            reasons[key] = reasons.get(key, 0) + 1
        console.print(f"{len(skipped)} cells skipped:")
        for reason, count in reasons.items():
            console.print(f"  {count} x {reason}", markup=False)
