"""Reports from one or more runs: Markdown, a self-contained HTML page, github-action-benchmark JSON.

The HTML page loads nothing: styles and the table-sorting script are inline
and the charts are inline SVG.  Every string that comes from a spec or a
result (workload names, expressions, reasons) is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from fwbench.records.results import RESULTS_FILE, read_cells, read_manifest, records_to_frame
from fwbench.report import aggregate, charts, findings, summary
from fwbench.stats.intervals import WIDE_INTERVAL, widest_intervals
from fwbench.units import format_number, format_seconds


@dataclass
class Report:
    frame: pd.DataFrame
    manifests: list[dict[str, Any]]
    baseline: str
    leaderboard: pd.DataFrame
    geomeans: pd.DataFrame
    slopes: pd.DataFrame
    crossings: pd.DataFrame
    findings: list[str] = field(default_factory=list)
    workloads: list[summary.WorkloadRow] = field(default_factory=list)  # the summary table, a row per workload
    series: list[summary.SeriesRow] = field(default_factory=list)  # the suite summary, a row per series
    sections: list[str] = field(default_factory=list)  # extra HTML sections (e.g. claims)
    markdown_sections: list[str] = field(default_factory=list)


def load_runs(paths: list[str | Path]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Records and run manifests; a claim summary (claim.json) rides along in its run's manifest."""
    from fwbench.claims.core import load_claim_summary

    records, manifests = [], []
    for path in paths:
        path = Path(path)
        directory = path if path.is_dir() else path.parent
        records.extend(read_cells(directory / RESULTS_FILE if path.is_dir() else path))
        manifest = read_manifest(path)
        if manifest is not None:
            manifest["claim_summary"] = load_claim_summary(directory)
            manifests.append(manifest)
    return records_to_frame(records), manifests


def build_report(frame: pd.DataFrame, manifests: list[dict[str, Any]],
                 baseline: str = aggregate.DEFAULT_BASELINE) -> Report:
    from fwbench.report import claim_section

    frame = aggregate.with_speedups(aggregate.prepare(frame), baseline)
    summaries = [m["claim_summary"] for m in manifests if m.get("claim_summary")]
    board, crossings = aggregate.leaderboard(frame), aggregate.crossovers(frame)
    return Report(
        workloads=summary.workload_rows(frame, board),
        series=summary.series_rows(frame, board),
        sections=[claim_section.to_html(summary) for summary in summaries],
        markdown_sections=[claim_section.to_markdown(summary) for summary in summaries],
        frame=frame,
        manifests=manifests,
        baseline=baseline,
        leaderboard=board,
        geomeans=aggregate.geometric_mean_speedups(frame),
        slopes=aggregate.scaling(frame),
        crossings=crossings,
        findings=findings.findings(board, crossings, frame, manifests),
    )


# ---------------------------------------------------------------------- shared pieces


def _or_dash(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _cell_text(row: pd.Series) -> str:
    if row["status"] == "skipped":
        return "skipped"
    if row["status"] != "ok":
        return f"{row['status'].upper()}"
    text = f"{format_seconds(row['median_s'])} ±{row['rel_ci95'] * 100:.1f}%" if not pd.isna(row.get("rel_ci95")) \
        else format_seconds(row["median_s"])
    if not pd.isna(row.get("speedup")):
        text += f" ({row['speedup']:.2f}x)"
    return text


def workload_rows(report: Report, workload: str) -> tuple[list[str], list[str], pd.DataFrame]:
    group = report.frame[report.frame["workload"] == workload]
    sizes = group.drop_duplicates("size_label").sort_values("size")["size_label"].tolist()
    series = aggregate.series_order(group)
    return sizes, series, group


def kernel_environment_rows(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """The CPU's best ISA, the variables that change kernels or threads, the allocator regime and, per
    framework (its first worker), the libraries behind its kernels with their kernel sets."""
    host = manifest.get("host") or {}
    variables = host.get("kernel_environment") or {}
    rows = [("CPU's best instruction set", str(host.get("cpu_best_isa") or "unknown")),
            ("kernel/thread variables", ", ".join(f"{k}={v}" for k, v in variables.items()) or "none set")]
    if manifest.get("unset_environment"):
        rows.append(("unset in the workers (--unset-env)", ", ".join(manifest["unset_environment"])))
    rows.append(("allocator regime", str(manifest.get("allocator") or
                                         f"each workload's (default {manifest.get('allocator_default', 'fresh')})")))
    seen = set()
    for worker in manifest.get("workers", []):
        kernels = worker.get("kernels")
        if not worker.get("available") or not kernels or worker["framework"] in seen:
            continue
        seen.add(worker["framework"])
        text = "; ".join(f"{lib.get('library')} {lib.get('version') or ''}: {lib.get('kernel')}"
                         + (f" ({lib['isa']})" if lib.get("isa") else "") + f", for {lib.get('role')}"
                         for lib in kernels.get("libraries") or [])
        rows.append((f"kernels ({worker['framework']})", text or f"unknown: {kernels.get('unknown')}"))
    return rows


def environment_rows(report: Report) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for manifest in report.manifests:
        host = manifest.get("host", {})
        memory = host.get("memory_total_bytes")
        rows += [
            ("run", f"{manifest.get('run_id')} ({manifest.get('started', '')[:19]})"),
            ("machine", f"{host.get('cpu_model')}, {host.get('physical_cores')} physical / "
                        f"{host.get('logical_cores')} logical cores"
                        + (f", {memory / 2**30:.1f} GiB" if memory else "")),
            ("system", f"{host.get('os')} {host.get('os_release')}, Python {host.get('python')}, "
                       f"host {host.get('hostname')}"),
            ("devices found", ", ".join(host.get("device_kinds", []))),
            ("threads per framework", str(manifest.get("num_threads"))),
            ("timer", ", ".join(f"{k}={v}" for k, v in (manifest.get("timer") or {}).items())),
            ("fwbench", str(manifest.get("fwbench_version"))),
        ]
        rows += kernel_environment_rows(manifest)
        for worker in manifest.get("workers", []):
            if not worker.get("available"):
                rows.append((f"{worker['framework']} on {worker['device']}", f"unavailable: {worker.get('reason')}"))
                continue
            settings = ", ".join(f"{k}={v}" for k, v in (worker.get("settings") or {}).items())
            device = worker.get("device_info") or {}
            rows.append((f"{worker['framework']} {worker.get('version')} on {worker['device']}",
                         f"{device.get('name', '')}; import {worker.get('import_s', 0):.1f} s; {settings}"))
    ok = report.frame[report.frame["status"] == "ok"]
    if not ok.empty and isinstance(ok.iloc[0].get("settings"), dict):
        settings = ok.iloc[0]["settings"]
        fairness = [f"{key}={settings[key]}" for key in (
            "sync_in_timed_region", "first_call_timed_apart", "inputs_on_device_before_timing",
            "inputs_generated_on_host_from_seed", "gc_disabled_while_sampling", "verified_against", "clock")
            if key in settings]
        rows.append(("fairness", ", ".join(fairness)))
        for key, label in (("headline_time", "headline time"), ("cache", "cache")):
            values = sorted({str(r["settings"].get(key)) for r in ok.to_dict("records")
                             if isinstance(r.get("settings"), dict) and r["settings"].get(key)})
            if values:
                rows.append((label, "; ".join(values)))
        for framework, group in ok.groupby("framework", sort=False):
            first_settings = group.iloc[0].get("settings")
            if isinstance(first_settings, dict):
                every_call = "after every call" if first_settings.get("sync_every_call") else "not needed"
                rows.append((f"sync ({framework})", f"{first_settings.get('sync_method')}: {every_call}"))
                matmul = first_settings.get("matmul") or {}
                if matmul:
                    rows.append((f"matmul precision ({framework})", ", ".join(f"{k}={v}" for k, v in matmul.items())))
                if first_settings.get("device_time"):
                    rows.append((f"device time ({framework})", str(first_settings["device_time"])))
        rows.append(("dtypes", ", ".join(sorted(ok["dtype"].dropna().unique()))))
    return rows


NOISY_ROWS_SHOWN = 25


NOISE_HEADER = ["cell", "median", "95% interval", "round medians"]


def noise_section(report: Report) -> tuple[str, list[list[str]]]:
    """The note and the rows of the noise section: the cells with the widest 95% intervals (over ±10%),
    widest first, at most 25; no rows when every interval is narrower."""
    wide = widest_intervals(report.frame.to_dict("records"))
    rows = []
    for record in wide[:NOISY_ROWS_SHOWN]:
        rounds = record.get("round_medians_s")
        spread = ", ".join(format_seconds(value) for value in rounds) if isinstance(rounds, list) else "-"
        rows.append([record["cell_id"], format_seconds(record["median_s"]), f"±{record['rel_ci95']:.0%}", spread])
    ok = int((report.frame["status"] == "ok").sum())
    note = (f"{len(wide)} of {ok} cells have a 95% interval wider than ±{WIDE_INTERVAL:.0%} (the widest "
            f"{len(rows)} below): their rounds disagree, so rankings among them are the likeliest to stay undecided. "
            "Close other programs, or raise --rounds or --budget.")
    return note, rows


def status_counts(report: Report) -> str:
    counts = report.frame["status"].value_counts()
    return ", ".join(f"{counts.get(status, 0)} {status}" for status in ("ok", "mismatch", "error", "skipped"))


# ---------------------------------------------------------------------- Markdown


def _md_escape(text: Any) -> str:
    """Markdown table text: no raw HTML (GitHub renders tags), no column breaks, no newlines."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


LEADERBOARD_HEADER = ["workload", "params", "device", "winner", "median", "runner-up", "runner-up / fastest (95% CI)"]


def leaderboard_rows(report: Report) -> list[list[Any]]:
    return [[r["workload"], r["params"], r["device"], findings.winner_cell(r), format_seconds(r["median_s"]),
             _or_dash(r["runner_up"]), aggregate.margin_text(r)] for r in report.leaderboard.to_dict("records")]


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
    parts += [f"Cells: {status_counts(report)}. Times are medians per call with the relative half-width of their "
              f"95% interval; (Nx) is the speedup against `{report.baseline}` (higher is faster).", ""]
    parts += report.markdown_sections
    if not report.leaderboard.empty:
        parts += ["## Leaderboard", "", _md_table(LEADERBOARD_HEADER, leaderboard_rows(report)), ""]
    for workload in report.frame["workload"].drop_duplicates():
        sizes, series, group = workload_rows(report, workload)
        first = group.iloc[0]
        parts += [f"## {_md_escape(workload)}", ""]
        rows = []
        for name in series:
            row = [name]
            for size in sizes:
                match = group[(group["series"] == name) & (group["size_label"] == size)]
                row.append(_cell_text(match.iloc[0]) if not match.empty else "")
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
    note, noisy = noise_section(report)
    if noisy:
        parts += ["## Noise", "", note, "", _md_table(NOISE_HEADER, noisy), ""]
    problems = report.frame[report.frame["status"] != "ok"]
    if not problems.empty:
        parts += ["## Not ok", "", _md_table(["cell", "status", "reason"],
                                             [[r.cell_id, r.status, r.reason] for r in problems.itertuples()]), ""]
    parts += ["## Environment", "", _md_table(["what", "value"], [list(r) for r in environment_rows(report)]), ""]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------- HTML

_STYLE = """
:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--muted:#555;--line:#d8d8d8;--head:#f3f3f3;--grid:#e6e6e6;
 --bad:#fde2e2;--good:#1a7f37;--warn:#9a6700}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#16181c;--muted:#a8a8a8;--line:#3a3d42;--head:#23262b;
 --grid:#2e3136;--bad:#4a2222;--good:#5fd07e;--warn:#e3b341}}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:14px 24px;color:var(--fg);
 background:var(--bg);max-width:1240px}
h1{margin:0;font-size:22px} h2{border-bottom:1px solid var(--line);padding-bottom:3px;margin:20px 0 6px;font-size:17px}
p.lead{margin:2px 0 6px;color:var(--muted);font-size:13px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 7px;text-align:right;white-space:nowrap}
th{background:var(--head);cursor:pointer;user-select:none} th:first-child,td:first-child{text-align:left}
table.summary{font-size:12px;margin-bottom:2px} table.summary td,table.summary th{padding:2px 5px} \
table.summary td:nth-child(-n+4),table.summary th:nth-child(-n+4){text-align:left}
 table.summary td.verdict{font-weight:600}
td.bad{background:var(--bad)} td.skip{color:var(--muted)} .decided{fill:var(--good);color:var(--good)}
.undecided{fill:var(--warn);color:var(--warn)}
table.kv td{text-align:left;white-space:normal;max-width:1000px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{border:1px solid var(--line);font-size:11px;color:var(--fg)} svg.chart text{fill:currentColor}
svg .title{font-weight:600;font-size:12px} svg .grid{stroke:var(--grid)} svg .ink{stroke:currentColor}
svg .legend{font-size:11px} svg .tick{font-size:9px;fill:var(--muted)} svg .verdict{font-size:10.5px;font-weight:600}
svg.panels{border:none} svg .verdict.decided{fill:var(--good)} svg .verdict.undecided{fill:var(--warn)}
.note{color:var(--muted);font-size:13px} code{background:var(--head);padding:1px 4px}
details{margin:6px 0} details>summary{cursor:pointer;font-weight:600;font-size:15px;padding:4px 0}
section.findings ul{font-size:14px;line-height:1.45;max-width:1100px} section.findings li{margin:3px 0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media print{body{max-width:none;margin:0} th{cursor:default} svg.chart{border:none}}
"""

_SORT_SCRIPT = """
window.addEventListener('beforeprint', function () {
  document.querySelectorAll('details').forEach(function (item) { item.open = true; });
});
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (header, column) {
    header.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = header.getAttribute('data-order') !== 'asc';
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute('data-sort') || a.cells[column].textContent;
        var y = b.cells[column].getAttribute('data-sort') || b.cells[column].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var result = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? result : -result;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      header.setAttribute('data-order', ascending ? 'asc' : 'desc');
    });
  });
});
"""


def _html_table(header: list[str], rows: list[list[Any]], sortable: bool = True, css: str | None = None,
                caption: str | None = None) -> str:
    """Rows hold plain values or (text, sort_key, css_class) tuples; all text is escaped."""
    css = css or ("sortable" if sortable else "kv")
    parts = [f'<table class="{css}">']
    if caption:
        parts.append(f"<caption>{escape(caption)}</caption>")
    parts.append("<thead><tr>")
    parts += [f"<th>{escape(str(h))}</th>" for h in header]
    parts.append("</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>")
        for cell in row:
            text, key, cell_css = (cell if isinstance(cell, tuple) else (cell, None, ""))
            if isinstance(key, float):
                key = f"{key:.6g}"
            attributes = f' data-sort="{escape(str(key))}"' if key is not None else ""
            attributes += f' class="{cell_css}"' if cell_css else ""
            parts.append(f"<td{attributes}>{escape(str(text))}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _workload_html(report: Report, workload: str, bound_gbytes_per_s: dict[str, float]) -> str:
    sizes, series, group = workload_rows(report, workload)
    first = group.iloc[0]
    rows = []
    for name in series:
        row: list[Any] = [name]
        for size in sizes:
            match = group[(group["series"] == name) & (group["size_label"] == size)]
            if match.empty:
                row.append("")
                continue
            record = match.iloc[0]
            css = "" if record["status"] == "ok" else ("skip" if record["status"] == "skipped" else "bad")
            key = record["median_s"] if record["status"] == "ok" else 1e99
            row.append((_cell_text(record), key, css))
        geomean = report.geomeans[(report.geomeans["workload"] == workload) & (report.geomeans["series"] == name)]
        row.append((f"{geomean.iloc[0]['geomean_speedup']:.2f}x", geomean.iloc[0]["geomean_speedup"], "")
                   if not geomean.empty else "-")
        rows.append(row)
    ok = group[group["status"] == "ok"]
    description = first.get("description")
    parts = [f'<section class="workload" id="w-{escape(workload)}">',
             f'<p>{escape(str(description))}</p>' if isinstance(description, str) and description else "",
             f'<p class="note">kind <code>{escape(str(first["kind"]))}</code>, '
             f'dtype {escape(str(first.get("dtype")))}</p>',
             _html_table(["series", *sizes, "geomean speedup"], rows)]
    detail = []
    device_times = "device_median_s" in ok and ok["device_median_s"].notna().any()
    for record in ok.sort_values(["framework_rank", "series", "size"]).to_dict("records"):
        device = aggregate.none_if_nan(record.get("device_median_s"))
        detail.append([record["series"], record["size_label"],
                       (format_seconds(record["median_s"]), record["median_s"], ""),
                       *([(format_seconds(device), device or 0, "")] if device_times else []),
                       (format_seconds(record["first_call_s"]), record["first_call_s"], ""),
                       format_number(record["gflops_per_s"]),
                       format_number(record["gbytes_per_s"]), format_number(record.get("pct_of_bandwidth_peak"), 2),
                       format_number(record.get("pct_of_compute_peak"), 2), _or_dash(record.get("bound")),
                       format_number(record.get("peak_host_bytes", float("nan")) / 2**20, 4)
                       if record.get("peak_host_bytes") else "-",
                       format_number(record["max_rel_err"], 2), int(record["n_samples"]),
                       "yes" if record["converged"] else "no"])
    parts.append("<details><summary>every cell</summary>" + _html_table(
        ["series", "params", "median", *(["device median"] if device_times else []), "first call", "GFLOP/s", "GB/s",
         "% BW peak",
         "% compute peak", "bound", "peak host MiB", "max rel err", "samples", "converged"], detail) + "</details>")
    charts_html = []
    if not ok.empty:
        points: dict[str, list] = {}
        for record in ok.sort_values("size").itertuples():
            points.setdefault(record.series, []).append((float(record.size), record.median_s, record.ci95_low_s,
                                                         record.ci95_high_s))
        ordered = {name: points[name] for name in series if name in points}
        charts_html.append(charts.time_vs_size(f"{workload}: time per call", "size (product of sweep values)",
                                               ordered))
    parts.append('<div class="charts">' + "".join(charts_html) + "</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _roofline_html(report: Report) -> list[str]:
    """One roofline per device with a calibration: every ok cell against the measured ceilings."""
    parts = []
    for manifest in report.manifests:
        devices = (manifest.get("calibration") or {}).get("devices") or {}
        for device, peaks in devices.items():
            bandwidth = peaks.get("copy_gbytes_per_s")
            compute = (peaks.get("gemm_gflops_per_s") or {}).get("float32")
            cells = report.frame[(report.frame["status"] == "ok") & (report.frame["device"] == device)]
            points = [(r["series"], r["flops"] / r["fused_bytes"], r["gflops_per_s"],
                       f"{r['workload']}[{r['size_label']}]")
                      for r in cells.to_dict("records")
                      if r.get("flops") and r.get("fused_bytes") and r.get("gflops_per_s")]
            if bandwidth and compute and points:
                parts += [f"<h2>Roofline ({escape(device)})</h2>",
                          '<p class="note">Each point is a cell: achieved GFLOP/s against FLOPs per byte a fused '
                          'kernel must move. Under the sloped line a cell is memory-bound, under the flat one '
                          'compute-bound; the ceilings were measured by <code>fwbench calibrate</code>.</p>',
                          charts.roofline(f"roofline on {device}", points, bandwidth, compute)]
        if parts:
            break
    return parts


def _lead(report: Report) -> str:
    """One line under the title: the run, the machine, the cells, the baseline."""
    runs = ", ".join(str(m.get("run_id")) for m in report.manifests if m.get("run_id")) or "-"
    host = next((m.get("host") or {} for m in report.manifests if m.get("host")), {})
    machine = ", ".join(str(part) for part in (host.get("cpu_model"), f"{host.get('usable_cores')} cores"
                                                if host.get("usable_cores") else None) if part) or "this machine"
    rounds = sorted({int(n) for n in report.frame.get("n_rounds", pd.Series(dtype=float)).dropna()}) or [1]
    return (f"Run {runs} on {machine}; {status_counts(report)}; {'/'.join(map(str, rounds))} round(s) of fresh "
            f"processes per cell. Speedups are against {report.baseline}; intervals are 95% and carry the "
            "variation between processes.")


def _first_screen(report: Report) -> list[str]:
    """The chart of speedups and the summary table: what a reader sees without scrolling."""
    parts = ["<h1>fwbench report</h1>", f'<p class="lead">{escape(_lead(report))}</p>']
    panels = summary.speedup_panels(report.frame, report.workloads)
    if panels:
        parts.append(charts.speedup_panels(panels, report.baseline))
        parts.append(_html_table(["workload", "series", f"speedup vs {report.baseline} at each size (95% interval)"], [
            [panel.workload, name, "; ".join(
                f"{label}: {value:.3g}x" + (f" ({low:.3g}-{high:.3g})" if low and high else "")
                for _, label, value, low, high in points)]
            for panel in panels for name, points in panel.points.items()],
            sortable=False, css="visually-hidden", caption="The chart's numbers"))
    if report.workloads:
        header, table = summary.workload_table(report.workloads)
        rows = []
        for row, cells in zip(report.workloads, table):
            verdict = "verdict decided" if row.verdict in ("fastest", "equivalent", "only") else "verdict undecided"
            rows.append([cells[0], cells[1], (cells[2], None, verdict), *cells[3:]])
        parts.append(_html_table(header, rows, css="summary sortable"))
        parts.append(f'<p class="note">At each workload\'s largest size. {escape(summary.TABLE_NOTE)}.</p>')
    return parts


def to_html(report: Report, bound_gbytes_per_s: dict[str, float] | None = None) -> str:
    bound_gbytes_per_s = bound_gbytes_per_s or {}
    workloads = list(report.frame["workload"].drop_duplicates())
    body = _first_screen(report)
    if report.series:
        body += ["<h2>By framework and mode, across the suite</h2>",
                 '<p class="note">Geometric mean over every cell of the speedup against '
                 f'<code>{escape(report.baseline)}</code>; wins, ties (equivalent to the fastest), losses (shown '
                 'slower) and undecided count workload sizes; compile is the sum of first call minus steady call.</p>',
                 _html_table(summary.SERIES_HEADER, [summary.series_cells(row) for row in report.series])]

    def folded(title: str, content: list[str], note: str = "") -> str:
        text = f'<p class="note">{note}</p>' if note else ""
        return f"<details><summary>{escape(title)}</summary>{text}" + "\n".join(content) + "</details>"

    body.append(folded("Findings, in sentences", ['<section class="findings"><ul>' + "".join(
        f"<li>{escape(sentence)}</li>" for sentence in report.findings) + "</ul></section>"]))
    body += report.sections
    if not report.leaderboard.empty:
        body.append(folded("Leaderboard: every workload size", [_html_table(LEADERBOARD_HEADER, [
            [row[0], (row[1], record["size"], ""), *row[2:4], (row[4], record["median_s"], ""), *row[5:]]
            for row, record in zip(leaderboard_rows(report), report.leaderboard.to_dict("records"))])],
            "A single winner is named only when every runner-up's ratio to it has a 95% interval above 1; series "
            "whose interval lies inside ±5% of the fastest are listed as equivalent, and those too uncertain to "
            "say either as undecided."))
    roofline = _roofline_html(report)
    if roofline:
        body.append(folded("Roofline", roofline))
    body.append(folded("Every workload: times, charts and every cell", [
        f'<p class="note">Cells show the median per call ±95% interval and the speedup against '
        f'{escape(report.baseline)}; the last column is the geometric mean of the speedups over sizes. The headline '
        'is host time (perf_counter around the calls and their sync); "device median", where shown, is the '
        "device's own clock (CUDA events in PyTorch).</p>",
        "<nav>" + " · ".join(f'<a href="#w-{escape(w)}">{escape(w)}</a>' for w in workloads) + "</nav>",
        *(f"<h2>{escape(w)}</h2>" + _workload_html(report, w, bound_gbytes_per_s) for w in workloads)]))
    if not report.slopes.empty:
        body.append(folded("Scaling", [_html_table(
            ["workload", "series", "slope", "sizes"],
            [[r.workload, r.series, (f"{r.slope:.2f}", r.slope, ""), f"{r.smallest}..{r.largest}"]
             for r in report.slopes.itertuples()])], "Slope of log(time) against log(size): 2 means time grows "
            "with n² (n×n element-wise work), 3 with n³ (matrix products); well below that, fixed overhead "
            "dominates."))
    if not report.crossings.empty:
        body.append(folded("Crossovers", [_html_table(
            ["workload", "faster above", "slower above", "between sizes", "estimate"],
            [[r.workload, r.faster_above, r.slower_above, r.between, (f"{r.size_estimate:.3g}", r.size_estimate, "")]
             for r in report.crossings.itertuples()])]))
    note, noisy = noise_section(report)
    if noisy:
        body.append(folded("Noise: the widest intervals", [_html_table(NOISE_HEADER, noisy)], escape(note)))
    problems = report.frame[report.frame["status"] != "ok"]
    if not problems.empty:
        body.append(folded(f"Cells not ok ({len(problems)})", [_html_table(
            ["cell", "status", "reason"], [[r.cell_id, r.status, r.reason or ""] for r in problems.itertuples()])]))
    body.append(folded("Environment", [_html_table(["what", "value"], [list(r) for r in environment_rows(report)],
                                                   sortable=False)]))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>fwbench report</title><style>{_STYLE}</style></head><body>"
            + "\n".join(body) + f"<script>{_SORT_SCRIPT}</script></body></html>\n")


# ---------------------------------------------------------------------- github-action-benchmark


def to_github_action_benchmark(report: Report) -> list[dict[str, Any]]:
    """Entries for github-action-benchmark's ``customSmallerIsBetter`` tool (seconds per call)."""
    entries = []
    for record in report.frame[report.frame["status"] == "ok"].itertuples():
        half = (record.ci95_high_s - record.ci95_low_s) / 2 if not pd.isna(record.ci95_high_s) else math.nan
        entries.append({
            "name": f"{record.workload}[{record.size_label}] {record.series}",
            "unit": "s",
            "value": float(record.median_s),
            "range": f"± {half:.3g}" if not math.isnan(half) else "",
            "extra": f"dtype={record.dtype} device={record.device} samples={int(record.n_samples)} "
                     f"first_call_s={record.first_call_s:.3g}",
        })
    return entries
