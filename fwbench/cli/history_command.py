"""``fwbench history``: change points in every cell's medians over a sequence of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fwbench.cli.common import console, user_errors
from fwbench.files import write_text_atomic
from fwbench.report import history as history_module
from fwbench.stats.changepoints import PENALTY_FACTOR


@user_errors
def history(
    runs: list[Path] = typer.Argument(..., help="Run directories, or directories of runs (CI artifacts); put in "
                                                "time order by when each run started."),
    penalty: float = typer.Option(PENALTY_FACTOR, "--penalty", min=0.1,
                                  help="PELT's penalty in units of sigma^2 log(n) (default calibrated on this "
                                       "project's machine by bench/history_check.py): higher finds fewer changes."),
    md: Optional[Path] = typer.Option(None, "--md", help="Also write the changes as Markdown here."),
    html_path: Optional[Path] = typer.Option(None, "--html", help="Also write an HTML page: one small chart per "
                                                                  "changed series, its change marked."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write every change and threshold as JSON."),
) -> None:
    """Find where each cell's median stepped over a history of runs, and by how much.

    For every cell measured in four runs or more, PELT (ruptures) looks for
    steps in its log medians with a penalty scaled by the series' own noise;
    each change is reported with the run that introduced it, its size and a
    p-value (Welch, after the fact: it ranks changes), against a noise
    threshold learned from the series as rustc-perf does (Q3 + 3 IQR of its
    run-to-run changes). Exit 0 always; 2 on bad input.

    Example: fwbench history artifacts/ --md summary.md --html history.html
    """
    found_runs, histories = history_module.build(runs, penalty)
    console.print(history_module.headline(found_runs, histories) + ".", markup=False)
    for change in history_module.changes_table(found_runs, histories):
        threshold = f"{change['noise_threshold']:.2f}x" if change["noise_threshold"] else "-"
        below = ", below one run's threshold" if change["below_run_threshold"] else ""
        console.print(f"  {change['cell']:48s} {change['size']:.3f}x at run {change['run']} "
                      f"(p {change['p_value']:.2g}, noise threshold {threshold}{below})", markup=False)
    if md:
        write_text_atomic(md, history_module.markdown(found_runs, histories))
    if html_path:
        write_text_atomic(html_path, history_module.html(found_runs, histories))
    if json_path:
        write_text_atomic(json_path, history_module.to_json(found_runs, histories, penalty))
