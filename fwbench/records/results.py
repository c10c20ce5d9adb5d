"""Result records on disk (their fields: :mod:`fwbench.records.cell`): JSONL reading and writing, the run
directory's files, and the flat table (rounds are combined into cells by :mod:`fwbench.records.combine`).

One JSON object per cell, one per line, in ``DIR/results.jsonl``, written whole
and flushed to disk after every cell (:mod:`fwbench.records.journal`).  ``load_results`` reads one
or more files or run directories into a pandas DataFrame; ``write_csv``
writes the flat table (written to a temporary file and renamed into place).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from fwbench.errors import UserError
from fwbench.files import write_text_atomic
from fwbench.records.cell import RESULTS_VERSION, check_fields
from fwbench.records.combine import combine_rounds
from fwbench.records.journal import read_lines

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


def with_fields(record: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A new round record: ``record`` with ``fields`` set, each checked against :mod:`fwbench.records.cell`.
    The parent stamps a worker's record this way (its round, look and attempt, its roofline fields, how it
    was interleaved, the Ray node), so the record it was handed stays as the worker made it."""
    check_fields(fields)
    return {**record, **fields}


def with_settings(record: Mapping[str, Any], **settings: Any) -> dict[str, Any]:
    """A new round record whose ``settings`` (the fairness settings of its measurement) add ``settings``."""
    found = dict(record)
    if isinstance(found.get("settings"), Mapping):
        found["settings"] = {**found["settings"], **settings}
    return found


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
