"""Result records on disk (their fields: :mod:`fwbench.records.cell`): JSONL reading and writing, rounds
combined into cells, and the flat table.

One JSON object per cell, one per line, in ``DIR/results.jsonl``, written whole
and flushed to disk after every cell (:mod:`fwbench.records.journal`).  ``load_results`` reads one
or more files or run directories into a pandas DataFrame; ``write_csv``
writes the flat table (written to a temporary file and renamed into place).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Iterable

from fwbench.errors import UserError
from fwbench.records.cell import RESULTS_VERSION
from fwbench.records.journal import ResultsWriter, json_safe, output_error, read_lines, write_atomic  # noqa: F401
from fwbench.stats.timing import summarize

RESULTS_FILE = "results.jsonl"
CSV_FILE = "results.csv"
MANIFEST_FILE = "run.json"
STATUSES = ("ok", "mismatch", "error", "skipped")

CSV_COLUMNS = [
    "run_id", "workload", "kind", "params", "framework", "framework_version", "mode", "device",
    "device_name", "dtype", "num_threads", "status", "reason", "median_s", "ci95_low_s", "ci95_high_s",
    "min_s", "mean_s", "stdev_s", "iqr_s", "rel_ci95", "n_samples", "n_loops", "converged",
    "first_call_s", "max_abs_err", "max_rel_err", "tolerance", "flops", "fused_bytes", "unfused_bytes",
    "gflops_per_s", "gbytes_per_s", "seed", "spec_file", "spec_hash", "cell_id", "timestamp",
]


def base_record(cell: dict[str, Any], workload: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The fields every record has, before the worker fills in measurements."""
    cost = cell.get("cost", {})
    return {
        "version": RESULTS_VERSION,
        "run_id": run["run_id"],
        "timestamp": None,
        "cell_id": cell["cell_id"],
        "spec_file": workload["spec_file"],
        "spec_hash": workload["spec_hash"],
        "spec_git_commit": workload.get("spec_git_commit"),
        "workload": workload["name"],
        "kind": workload["kind"],
        "params": cell["params"],
        "framework": cell["framework"],
        "framework_version": None,
        "mode": cell["mode"],
        "device": cell["device"],
        "device_name": None,
        "dtype": None,
        "num_threads": run["num_threads"],
        "seed": workload["seed"],
        "method": cell.get("method", "fwbench"),
        "status": None,
        "reason": None,
        "flops": cost.get("flops"),
        "fused_bytes": cost.get("fused_bytes"),
        "unfused_bytes": cost.get("unfused_bytes"),
        "settings": {},
        "host": run.get("host", {}),
        **({"replica": cell["replica"]} if (cell.get("replica") or 1) > 1 else {}),
        **({"side": cell["side"]} if cell.get("side") else {}),
    }


def add_measurement(record: dict[str, Any], statistics: dict[str, float], samples: list[float],
                    **timing: Any) -> None:
    """Copy timing statistics into ``record`` and derive GFLOP/s and GB/s from the median."""
    record.update(statistics)
    record.update(timing)
    record["samples_s"] = samples
    record["n_samples"] = len(samples)
    median = statistics.get("median_s")
    if median and median > 0:
        if record.get("flops") is not None:
            record["gflops_per_s"] = record["flops"] / median / 1e9
        if record.get("fused_bytes") is not None:
            record["gbytes_per_s"] = record["fused_bytes"] / median / 1e9


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read a results file or run directory; refuse unknown versions with a fix."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise UserError(f"{path}: no results file here", hint="pass a run directory written by 'fwbench run'")
    records = []
    for number, record in read_lines(path):
        version = record.get("version")
        if version != RESULTS_VERSION:
            raise UserError(
                f"{path}, line {number}: results version {version!r} is not supported "
                f"(this fwbench reads version {RESULTS_VERSION})",
                hint="read it with the fwbench version that wrote it, or re-run the benchmark",
            )
        records.append(record)
    return records


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The run's ``run.json`` beside its results (``path``: the run directory or its results file), if any."""
    path = Path(path)
    manifest = (path if path.is_dir() else path.parent) / MANIFEST_FILE
    return json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None


def read_cells(path: str | Path) -> list[dict[str, Any]]:
    """One record per cell of a run: its rounds combined (:func:`combine_rounds`)."""
    return combine_rounds(read_records(path))


def load_results(*paths: str | Path):
    """Read one or more results files or run directories into a pandas DataFrame, one row per cell."""
    records: list[dict[str, Any]] = []
    for path in paths:
        records.extend(read_cells(path))
    return records_to_frame(records)


def combine_rounds(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per cell from the per-round lines of ``results.jsonl``, in first-seen order.

    A cell measured in R >= 2 rounds gets: every round's samples
    (``samples_s``, with ``samples_round`` saying which round each came
    from), the per-round medians (``round_medians_s``, their rounds in
    ``round_numbers``), the cell's median (``median_s``: the median of all
    samples, see :func:`fwbench.stats.intervals.rounds_interval` for why), and the
    95% interval of the next run's median (``ci95_low_s``/``ci95_high_s``: a
    t prediction interval on the logarithms of the round medians, their
    spread pooled over the run's cells of the same framework, mode and
    device, see :mod:`fwbench.stats.pooling`); ``first_call_s`` is the first
    round's, and ``page_faults_per_call_by_round`` every round's.  A round
    during whose timing other processes took CPU (``other_cpu_cores`` at or
    above the threshold the run recorded in ``settings.contended_cores``),
    or that ran far slower than the cell's others, is set apart
    (``excluded_rounds``, with its median, the reason and the cause) and
    counts in nothing else; a cell whose rounds found the host allocator in two states
    lists them (``allocator_states``).  Its status is the worst of its
    rounds (a mismatch or an error in any round is the cell's).  A cell with
    one round is returned as it is.
    """
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_cell.setdefault(record["cell_id"], []).append(record)
    cells = [_combine(_latest_attempts(rounds)) for rounds in by_cell.values()]
    _pooled_intervals(cells)
    return cells


_SEVERITY = {"error": 3, "mismatch": 2, "ok": 1, "skipped": 0}
# Errors a process's end caused (not the cell's code): rounds with them give way to the rounds that succeeded.
PROCESS_FAILURES = ("worker died", "cell process died", "timed out")
RETRIED_FAILURES = ("worker died", "cell process died")  # run once more at the end of a run


def _process_failed(record: dict[str, Any]) -> bool:
    """An error that the end of its process caused (:data:`PROCESS_FAILURES`), not the cell's code."""
    return record.get("status") == "error" and record.get("failure") in PROCESS_FAILURES


def _latest_attempts(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cell's rounds in order, a retried round by its last record; the superseded failures are noted on
    the retry (``failed_rounds``, read by :func:`_combine`)."""
    by_round: dict[int, list[dict[str, Any]]] = {}
    for record in rounds:
        by_round.setdefault(record.get("round") or 1, []).append(record)
    latest = []
    for number in sorted(by_round):
        attempts = by_round[number]
        last = dict(attempts[-1])
        superseded = [{"round": number, "reason": r.get("reason"), "retried": True} for r in attempts[:-1]
                      if r.get("status") == "error"]
        if superseded:
            last["_superseded"] = superseded
        latest.append(last)
    return latest
_PER_ROUND_SUMS = ("timed_s", "cell_wall_s", "inputs_s", "reference_s")
_PER_SECOND = ("gflops_per_s", "gbytes_per_s", "pct_of_bandwidth_peak", "pct_of_compute_peak", "samples_per_s")


def _combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    from fwbench.stats.paired import turns_of
    from fwbench.stats.pooling import allocator_states

    failed = [entry for r in rounds for entry in r.pop("_superseded", [])]
    succeeded = [r for r in rounds if r.get("status") == "ok"]
    if succeeded:  # a round its process's end failed gives way to the rounds that succeeded
        failed += [{"round": r.get("round") or 1, "reason": r.get("reason"), "retried": False}
                   for r in rounds if _process_failed(r)]
        rounds = [r for r in rounds if not _process_failed(r)]
    looks = [r["look"] for r in rounds if isinstance(r.get("look"), int)]
    if len(rounds) == 1:
        return dict(rounds[0], n_rounds=1, **({"failed_rounds": failed} if failed else {}),
                    **({"looks": max(looks)} if looks else {}))
    worst = max(rounds, key=lambda r: _SEVERITY.get(r.get("status"), 3))
    combined = dict(worst if worst.get("status") != "ok" else rounds[0])
    combined["n_rounds"] = len(rounds)
    combined["round"] = None
    combined.pop("attempt", None)
    combined.pop("look", None)
    if looks:
        combined["looks"] = max(looks)
    if failed:
        combined["failed_rounds"] = failed
    measured = [r for r in rounds if r.get("samples_s") and r.get("median_s")]
    for key in _PER_ROUND_SUMS:
        values = [r.get(key) for r in rounds if r.get(key) is not None]
        combined[key] = sum(values) if values else None
    combined["first_call_s"] = rounds[0].get("first_call_s")
    combined["first_call_s_by_round"] = [r.get("first_call_s") for r in rounds]
    combined["process_ids"] = [r.get("process_id") for r in rounds]
    combined["page_faults_per_call_by_round"] = [r.get("page_faults_per_call") for r in rounds]
    if not measured:
        return combined
    samples = [value for r in measured for value in r["samples_s"]]
    combined["samples_s"] = samples
    combined["samples_round"] = [r.get("round") for r in measured for _ in r["samples_s"]]
    device_samples = [value for r in measured for value in r.get("device_samples_s") or []]
    if device_samples:
        combined["device_samples_s"] = device_samples
        combined["device_median_s"] = statistics.median(device_samples)
    combined["round_medians_s"] = [r["median_s"] for r in measured]
    combined["round_numbers"] = [r.get("round") or index for index, r in enumerate(measured, start=1)]
    turns = [(number, turns_of(r)) for number, r in zip(combined["round_numbers"], measured)]
    if any(found is not None for _, found in turns):
        combined["turns"] = [{"round": number, "starts_s": list(found.starts_s), "medians_s": list(found.medians_s)}
                             for number, found in turns if found is not None]
    if any(r.get("other_cpu_cores") is not None for r in measured):
        combined["other_cpu_cores_by_round"] = [r.get("other_cpu_cores") for r in measured]
    combined["n_outliers"] = sum(r.get("n_outliers") or 0 for r in measured)
    _sample_statistics(combined)
    if len(measured) >= 2:
        states = allocator_states(combined["round_medians_s"], [r.get("page_faults_per_call") for r in measured])
        if states:
            combined["allocator_states"] = [
                dict(state, rounds=[combined["round_numbers"][index] for index in state["rounds"]])
                for state in states]
    else:
        combined.update(ci95_low_s=measured[0].get("ci95_low_s"), ci95_high_s=measured[0].get("ci95_high_s"),
                        ci_level=measured[0].get("ci_level"), ci_method=measured[0].get("ci_method"))
        _relative_width(combined)
    scale = measured[0]["median_s"] / combined["median_s"]  # per-second figures follow the median
    for key in _PER_SECOND:
        if measured[0].get(key) is not None:
            combined[key] = measured[0][key] * scale
    return combined


def _sample_statistics(combined: dict[str, Any]) -> None:
    """The cell's median and spread from the samples of its rounds (``samples_s``), as one round's are made
    (:func:`fwbench.stats.timing.summarize`); its interval comes from the rounds instead."""
    summary = summarize(combined["samples_s"])
    combined.update({key: summary[key] for key in ("min_s", "max_s", "median_s", "mean_s", "stdev_s", "iqr_s")},
                    n_samples=len(combined["samples_s"]))


def _relative_width(combined: dict[str, Any]) -> None:
    median = combined.get("median_s")
    if combined.get("ci95_low_s") is not None and median:
        combined["rel_ci95"] = (combined["ci95_high_s"] - combined["ci95_low_s"]) / 2 / median
        target = ((combined.get("settings") or {}).get("timer") or {}).get("target_rel_ci")
        if target is not None:
            combined["converged"] = combined["rel_ci95"] <= target


def _pooled_intervals(cells: list[dict[str, Any]]) -> None:
    """Every cell of two rounds or more: its disturbed rounds set apart, then its interval from its spread
    shrunk toward its group's (run, framework, mode, device, method) pooled spread (:mod:`fwbench.stats.pooling`)."""
    from fwbench.stats.intervals import rounds_interval
    from fwbench.stats.pooling import contended_rounds, disturbed_rounds, estimate_prior, log_variance, shrink

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for cell in cells:
        if len(cell.get("round_medians_s") or []) >= 2:
            key = tuple(cell.get(name) for name in ("run_id", "framework", "mode", "device", "method"))
            groups.setdefault(key, []).append(cell)

    def prior_of(members: list[dict[str, Any]]):
        steady = [cell for cell in members if not cell.get("allocator_states")]
        return estimate_prior([log_variance(cell["round_medians_s"]) for cell in steady],
                              [len(cell["round_medians_s"]) - 1 for cell in steady])

    for members in groups.values():
        for cell in members:
            if cell.get("allocator_states"):
                continue
            cores = cell.get("other_cpu_cores_by_round") or []
            threshold = (cell.get("settings") or {}).get("contended_cores")
            _set_apart(cell, {index: f"other processes took {cores[index]:.2f} of a core on average while it "
                                     f"was timed (the run's threshold: {threshold}): disturbed"
                              for index in contended_rounds(cores, len(cell["round_medians_s"]), threshold)},
                       cause="contended")
        first = prior_of(members)
        for cell in members:
            if first is not None and not cell.get("allocator_states"):
                centre = statistics.median(cell["round_medians_s"])
                _set_apart(cell, {
                    index: f"{cell['round_medians_s'][index] / centre:.2f}x the median of the cell's rounds, beyond "
                           f"the run's round-to-round spread ({math.sqrt(first.variance):.1%}): disturbed"
                    for index in disturbed_rounds(cell["round_medians_s"], first.variance)}, cause="slow")
        prior = prior_of(members)
        for cell in members:
            medians = cell["round_medians_s"]
            pooled = shrink(log_variance(medians), len(medians) - 1, prior) if prior else None
            interval = rounds_interval(medians, cell["median_s"], pooled)
            cell.update(ci95_low_s=interval.low, ci95_high_s=interval.high, ci_level=interval.level,
                        ci_method=interval.method)
            if prior is not None:
                cell["pooled_spread"] = {"prior_sd": math.sqrt(prior.variance),
                                         "prior_degrees_of_freedom": prior.degrees_of_freedom,
                                         "cells": prior.cells, "degrees_of_freedom": pooled[1]}
            _relative_width(cell)


def _set_apart(cell: dict[str, Any], reasons: dict[int, str], cause: str) -> None:
    """Drop the rounds at the indices of ``reasons`` from the cell's samples and medians, and say why in
    ``excluded_rounds`` (``cause``: ``contended``, measured, or ``slow``)."""
    if not reasons:
        return
    indices = sorted(reasons)
    dropped = {cell["round_numbers"][index] for index in indices}
    cell["excluded_rounds"] = cell.get("excluded_rounds", []) + [
        {"round": cell["round_numbers"][index], "median_s": cell["round_medians_s"][index],
         "reason": reasons[index], "cause": cause} for index in indices]
    kept = [index for index in range(len(cell["round_medians_s"])) if index not in indices]
    if cell.get("other_cpu_cores_by_round"):
        cell["other_cpu_cores_by_round"] = [cell["other_cpu_cores_by_round"][index] for index in kept]
    cell["round_medians_s"] = [cell["round_medians_s"][index] for index in kept]
    cell["round_numbers"] = [cell["round_numbers"][index] for index in kept]
    if cell.get("turns"):
        cell["turns"] = [entry for entry in cell["turns"] if entry["round"] not in dropped]
    pairs = [(value, number) for value, number in zip(cell["samples_s"], cell["samples_round"])
             if number not in dropped]
    cell["samples_s"], cell["samples_round"] = [value for value, _ in pairs], [number for _, number in pairs]
    old_median = cell["median_s"]
    _sample_statistics(cell)
    for key in _PER_SECOND:
        if cell.get(key) is not None:
            cell[key] *= old_median / cell["median_s"]


def records_to_frame(records: Iterable[dict[str, Any]]):
    import pandas as pd

    rows = []
    for record in records:
        row = dict(record)
        row["params"] = ",".join(f"{k}={v}" for k, v in (record.get("params") or {}).items()) or "-"
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in CSV_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    return frame


def write_csv(records: list[dict[str, Any]], path: str | Path) -> Path:
    frame = records_to_frame(records)
    extra = [c for c in frame.columns if c not in CSV_COLUMNS and c not in ("samples_s", "settings", "host")]
    write_text_atomic(path, frame[CSV_COLUMNS + extra].to_csv(index=False))
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place: readers never see half
    a file.  The one way fwbench writes its output files."""
    write_atomic(path, text.encode("utf-8"), f"{path} keeps its earlier content")


def write_json_atomic(data: Any, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(json_safe(data), indent=2) + "\n")


def check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to replace an earlier run's results unless asked to."""
    if (Path(out_dir) / RESULTS_FILE).exists() and not overwrite:
        raise UserError(f"{out_dir}: holds results of an earlier run",
                        hint="pass --overwrite to replace them, or choose another --out")


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    check_out_dir(out_dir, overwrite)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in (RESULTS_FILE, CSV_FILE, MANIFEST_FILE):
            (Path(out_dir) / name).unlink(missing_ok=True)
