"""``fwbench compare``: find regressions between two runs; exit 1 when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from fwbench.cli.common import console, error_console, parse_threshold, user_errors
from fwbench.files import write_text_atomic
from fwbench.records.results import load_results
from fwbench.report import compare as compare_module


@user_errors
def compare(
    base: Path = typer.Argument(..., help="The baseline run directory (or results.jsonl)."),
    new: Path = typer.Argument(..., help="The run to check against it."),
    threshold: str = typer.Option("5%", "--threshold", help="Smallest change that counts, e.g. 5% or 0.05."),
    alpha: float = typer.Option(compare_module.DEFAULT_ALPHA, "--alpha", min=0.0001, max=0.5,
                                help="Chance of any false alarm across all cells compared (the intervals "
                                     "are widened over the number of cells to hold it)."),
    fail_on_unsure: bool = typer.Option(False, "--fail-on-unsure",
                                        help="Also exit 1 when a cell cannot be decided (a strict gate)."),
    show_all: bool = typer.Option(False, "--all", help="List the cells that stayed the same too."),
    md: Optional[Path] = typer.Option(None, "--md", help="Also write the comparison as Markdown here "
                                                        "(for a pull-request comment or a job summary)."),
) -> None:
    """Compare two runs cell by cell; exit 1 if a cell got slower or broke.

    The ratio NEW/BASE of each cell's median gets an interval from the two
    runs' round medians (each round is a fresh worker process), widened over
    the number of cells so that all intervals hold together with probability
    1 - alpha. A cell is slower when its interval lies above 1 and the ratio
    exceeds 1 + threshold; faster likewise; same when the interval lies inside
    the threshold band; unsure otherwise, with what would decide it (runs with
    one round cannot be decided: use --rounds 3). A cell that was ok in BASE
    and is mismatch, error, skipped or absent in NEW is broken, listed first.

    Exit codes: 0 nothing slower or broken, 1 otherwise (and on unsure cells
    with --fail-on-unsure), 2 bad input.

    Example: fwbench compare results/main results/pr --md summary.md
    """
    limit = parse_threshold(threshold)
    result = compare_module.compare_frames(load_results(base), load_results(new), limit, alpha,
                                           compare_module.probe_ratio(base, new))
    for warning in result.warnings:
        error_console.print(f"warning: {warning}", markup=False)
    rows = result.ordered_rows(show_all)
    if rows:
        table = Table(title="NEW/BASE, changed cells first", box=box.SIMPLE_HEAD)
        for column in ("cell", "base", "new", "ratio (interval)", "can call", "verdict"):
            table.add_column(column, no_wrap=column not in ("cell", "verdict"))
        styles = {"slower": "red", "broken": "red", "faster": "green", "unsure": "yellow"}
        for row in rows:
            table.add_row(*compare_module.row_cells(row), style=styles.get(row["verdict"]))
        console.print(table)
    console.print(compare_module.headline(result), markup=False)
    same = result.counts()["same"]
    if same and not show_all:
        console.print(f"{same} cells are the same within the threshold (list them with --all).", markup=False)
    if md:
        write_text_atomic(md, compare_module.to_markdown(result, show_all))
    if result.failed(fail_on_unsure):
        raise typer.Exit(1)
