"""The Markdown report (``fwbench report --md``, a GitHub job summary): the summary tables, findings,
leaderboard, a table per workload, scaling, crossovers, noise, what was not ok, and the environment.  Every
string from a spec or a result is escaped (no raw HTML, no column breaks)."""

from __future__ import annotations

from typing import Any

from fwbench.report import render, summary
from fwbench.report.render import Report


def _md_escape(text: Any) -> str:
    """Markdown table text: no raw HTML (GitHub renders tags), no column breaks, no newlines."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(report: Report) -> list[str]:
    """The summary table (a row per workload) and the suite summary (a row per series), as Markdown lines."""
    if not report.workloads:
        return []
    return ["## Summary", "", f"At each workload's largest size; speedups against `{report.baseline}`.", "",
            _md_table(*summary.workload_table(report.workloads)), "", f"{summary.TABLE_NOTE}.", "",
            "## By framework and mode, across the suite", "",
            _md_table(summary.SERIES_HEADER, [summary.series_cells(row) for row in report.series]), ""]


def to_markdown(report: Report) -> str:
    parts = ["# fwbench report", ""] + summary_markdown(report) + ["## Findings", ""]
    parts += [f"- {_md_escape(sentence)}" for sentence in report.findings] + [""]
    parts += [f"Cells: {render.status_counts(report)}. Times are medians per call with the relative half-width of "
              f"their 95% interval; (Nx) is the speedup against `{report.baseline}` (higher is faster).", ""]
    parts += report.markdown_sections
    if not report.leaderboard.empty:
        parts += ["## Leaderboard", "", _md_table(render.LEADERBOARD_HEADER, render.leaderboard_rows(report)), ""]
    for workload in report.frame["workload"].drop_duplicates():
        sizes, series, group = render.workload_rows(report, workload)
        first = group.iloc[0]
        parts += [f"## {_md_escape(workload)}", ""]
        rows = []
        for name in series:
            row = [name]
            for size in sizes:
                match = group[(group["series"] == name) & (group["size_label"] == size)]
                row.append(render.cell_text(match.iloc[0]) if not match.empty else "")
            geomean = report.geomeans[(report.geomeans["workload"] == workload) & (report.geomeans["series"] == name)]
            row.append(f"{geomean.iloc[0]['geomean_speedup']:.2f}x" if not geomean.empty else "-")
            rows.append(row)
        description = first.get("description")
        if isinstance(description, str) and description:
            parts += [_md_escape(description), ""]
        parts += [f"kind `{first['kind']}`, dtype {first.get('dtype') or '-'}", "",
                  _md_table(["series", *sizes, "geomean speedup"], rows), ""]
    if not report.slopes.empty:
        parts += ["## Scaling (slope of log time against log size)", "", _md_table(
            ["workload", "series", "slope", "sizes"],
            [[r.workload, r.series, f"{r.slope:.2f}", f"{r.smallest}..{r.largest}"]
             for r in report.slopes.itertuples()]),
            ""]
    if not report.crossings.empty:
        parts += ["## Crossovers", "", _md_table(
            ["workload", "faster above", "slower above", "between sizes", "estimate"],
            [[r.workload, r.faster_above, r.slower_above, r.between, f"{r.size_estimate:.3g}"]
             for r in report.crossings.itertuples()]), ""]
    note, noisy = render.noise_section(report)
    if noisy:
        parts += ["## Noise", "", note, "", _md_table(render.NOISE_HEADER, noisy), ""]
    problems = report.frame[report.frame["status"] != "ok"]
    if not problems.empty:
        parts += ["## Not ok", "", _md_table(["cell", "status", "reason"],
                                             [[r.cell_id, r.status, r.reason] for r in problems.itertuples()]), ""]
    environment = [list(row) for row in render.environment_rows(report)]
    parts += ["## Environment", "", _md_table(["what", "value"], environment), ""]
    return "\n".join(parts) + "\n"
