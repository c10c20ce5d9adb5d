"""The HTML report (``fwbench report --html``): one self-contained page whose first screen is a chart and a
table.  It loads nothing: styles and the table-sorting script are inline and the charts are inline SVG.
Every string that comes from a spec or a result (workload names, expressions, reasons) is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd

from fwbench.report import aggregate, charts, summary
from fwbench.report.render import (
    LEADERBOARD_HEADER,
    NOISE_HEADER,
    Report,
    cell_text,
    environment_rows,
    leaderboard_rows,
    noise_section,
    or_dash,
    status_counts,
    workload_rows,
)
from fwbench.units import format_number, format_seconds

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
            row.append((cell_text(record), key, css))
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
                       format_number(record.get("pct_of_compute_peak"), 2), or_dash(record.get("bound")),
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
            "shown within ±5% of the fastest (two one-sided tests: the 90% interval inside the band) are listed as "
            "equivalent, and those too uncertain to "
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
