"""A report of one or more runs, as data: the combined cells, leaderboard, findings, summaries and the rows
every format shows (:class:`Report`, :func:`build_report`); github-action-benchmark JSON.  The formats are
:mod:`fwbench.report.markdown_page` and :mod:`fwbench.report.html_page`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fwbench.records.results import RESULTS_FILE, read_cells, read_manifest, records_to_frame
from fwbench.report import aggregate, findings, summary
from fwbench.stats.intervals import WIDE_INTERVAL, widest_intervals
from fwbench.units import format_seconds


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
    from fwbench.claims.verdict import load_claim_summary

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


def or_dash(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def cell_text(row: pd.Series) -> str:
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


LEADERBOARD_HEADER = ["workload", "params", "device", "winner", "median", "runner-up", "runner-up / fastest (95% CI)"]


def leaderboard_rows(report: Report) -> list[list[Any]]:
    return [[r["workload"], r["params"], r["device"], findings.winner_cell(r), format_seconds(r["median_s"]),
             or_dash(r["runner_up"]), aggregate.margin_text(r)] for r in report.leaderboard.to_dict("records")]


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
