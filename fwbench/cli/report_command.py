"""``fwbench report``: aggregate runs into HTML, Markdown, CSV and github-action-benchmark JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from fwbench.cli.common import console, user_errors
from fwbench.errors import UserError
from fwbench.files import write_text_atomic
from fwbench.records.results import write_csv
from fwbench.report import html_page, markdown_page, render
from fwbench.report.aggregate import DEFAULT_BASELINE


@user_errors
def report(
    runs: list[Path] = typer.Argument(..., help="Run directories (or results.jsonl files) to aggregate."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write the HTML report here "
                                                            "(default: RUN/report.html of the first run)."),
    md: Optional[Path] = typer.Option(None, "--md", help="Write the Markdown report here "
                                                        "(default: RUN/report.md of the first run)."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write the combined flat table here."),
    json_path: Optional[Path] = typer.Option(
        None, "--json", help="Write the conclusions (findings, winners or ties per workload size with the "
                             "ratios and intervals, speedups, claim verdicts) as versioned JSON here."),
    github_action_benchmark: Optional[Path] = typer.Option(
        None, "--github-action-benchmark",
        help="Write JSON for the github-action-benchmark action (tool: customSmallerIsBetter)."),
    baseline: str = typer.Option(DEFAULT_BASELINE, "--baseline",
                                 help="framework/mode that speedups are measured against."),
) -> None:
    """Aggregate one or more runs: per-workload tables with CIs and speedups, a leaderboard,
    scaling slopes and crossovers, the environment, and charts (time vs size, speedups,
    first call vs steady state, bytes per second).

    Reports open with findings: per workload, what is fastest at small and at
    large sizes and by how much (with its interval), what is equivalent or undecided, where the
    crossovers lie. A single winner is named only when every runner-up's ratio
    to it has a 95% interval above 1 (intervals over rounds; a run with one
    round cannot decide). The HTML file is self-contained (inline SVG, no
    network). With no output option, report.html and report.md are written into
    the first run directory.

    Example: fwbench report results/latest --json conclusions.json
    """
    if "/" not in baseline:
        raise UserError(f"--baseline: got '{baseline}', expected framework/mode such as numpy/eager")
    frame, manifests = render.load_runs(list(runs))
    if frame.empty:
        raise UserError(f"{runs[0]}: the results hold no cells", hint="run 'fwbench run' first")
    result = render.build_report(frame, manifests, baseline)
    first = runs[0] if runs[0].is_dir() else runs[0].parent
    if not any([html, md, csv, github_action_benchmark, json_path]):
        html, md = first / "report.html", first / "report.md"
    from fwbench.report.roofline import bandwidth_bounds

    written = []
    if html:
        write_text_atomic(html, html_page.to_html(result, bandwidth_bounds(manifests)))
        written.append(html)
    if md:
        write_text_atomic(md, markdown_page.to_markdown(result))
        written.append(md)
    if csv:
        from fwbench.records.results import read_cells

        records = []
        for run in runs:
            records.extend(read_cells(run))
        write_csv(records, csv)
        written.append(csv)
    if json_path:
        from fwbench.files import json_safe
        from fwbench.report.findings import conclusions

        write_text_atomic(json_path, json.dumps(json_safe(conclusions(result)), indent=1) + "\n")
        written.append(json_path)
    if github_action_benchmark:
        write_text_atomic(github_action_benchmark,
                          json.dumps(render.to_github_action_benchmark(result), indent=1) + "\n")
        written.append(github_action_benchmark)
    console.print("Wrote " + ", ".join(str(path) for path in written), markup=False)
