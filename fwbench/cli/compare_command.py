"""``fwbench compare``: find regressions between two runs; exit 1 when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from fwbench.cli.common import console, error_console, user_errors
from fwbench.cli.report_command import write_atomic
from fwbench.errors import UserError
from fwbench.report import compare as compare_module
from fwbench.results import load_results


def parse_threshold(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise UserError(f"--threshold: got '{text}', expected a fraction like 0.05 or a percentage like 5%") from None
    if not 0 <= value < 10:
        raise UserError(f"--threshold: got '{text}', expected a value between 0% and 1000%")
    return value


@user_errors
def compare(
    base: Path = typer.Argument(..., help="The baseline run directory (or results.jsonl)."),
    new: Path = typer.Argument(..., help="The run to check against it."),
    threshold: str = typer.Option("5%", "--threshold", help="Smallest slowdown that counts, e.g. 5% or 0.05."),
    alpha: float = typer.Option(compare_module.DEFAULT_ALPHA, "--alpha", min=0.0, max=1.0,
                                help="Significance level of the Mann-Whitney U test."),
    md: Optional[Path] = typer.Option(None, "--md", help="Also write the comparison as Markdown here."),
) -> None:
    """Compare two runs cell by cell and exit 1 if any cell regressed or broke.

    A cell regresses when NEW/BASE exceeds 1 + threshold AND the Mann-Whitney U
    test on the raw samples is significant. The ratio's 95% interval comes from a
    bootstrap of the samples. A cell that was ok in BASE and is mismatch, error,
    skipped or absent in NEW is broken, listed first with the reason. Exit codes:
    0 no regression and nothing broken, 1 otherwise, 2 bad input.
    """
    limit = parse_threshold(threshold)
    result = compare_module.compare_frames(load_results(base), load_results(new), limit, alpha)
    for warning in result.warnings:
        error_console.print(f"warning: {warning}", markup=False)
    table = Table(title=f"NEW/BASE (threshold {limit:.0%}, p < {alpha})", box=box.SIMPLE_HEAD)
    for column in ("cell", "base", "new", "ratio", "95% CI", "p", "verdict"):
        table.add_column(column, no_wrap=column != "cell")
    styles = {"slower": "red", "faster": "green", "broken": "red"}
    first = {"broken": 0, "slower": 1}
    ordered = result.table.assign(_order=result.table["verdict"].map(lambda v: first.get(v, 2)))
    for row in ordered.sort_values(["_order", "verdict", "workload"]).to_dict("records"):
        cell = f"{row['workload']}[{row['params']}] {row['framework']}/{row['mode']} {row['device']}"
        if row["verdict"] == "broken":
            table.add_row(cell, "ok", row["new_status"], "", "", "", f"broken: {row['reason']}"[:200],
                          style=styles["broken"])
            continue
        if row["verdict"] == "new":
            table.add_row(cell, "", "", "", "", "", row["verdict"])
            continue
        table.add_row(cell, f"{row['base_median_s']:.4g} s", f"{row['new_median_s']:.4g} s", f"{row['ratio']:.3f}",
                      f"{row['ratio_low']:.3f}-{row['ratio_high']:.3f}", f"{row['p_value']:.2g}", row["verdict"],
                      style=styles.get(row["verdict"]))
    console.print(table)
    counts = result.table["verdict"].value_counts()
    console.print(", ".join(f"{counts.get(v, 0)} {v}" for v in ("broken", "slower", "faster", "same", "new"))
                  + f"; geometric-mean ratio {result.geometric_mean_ratio():.3f}", markup=False)
    if md:
        write_atomic(md, compare_module.to_markdown(result))
    if len(result.regressions) or len(result.broken):
        raise typer.Exit(1)
