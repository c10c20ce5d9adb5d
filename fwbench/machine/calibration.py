"""Machine peaks, stored per machine: achievable memory bandwidth and GEMM throughput, per device and dtype.

:func:`fwbench.execution.calibrate.calibrate` measures them; this module
stores them per machine, keyed on a fingerprint of the hardware and the
framework versions, in ``$FWBENCH_CACHE_DIR`` (default ``~/.cache/fwbench``),
and reads them back until ``--force``.  Every result row then gets
``pct_of_bandwidth_peak`` and ``pct_of_compute_peak`` and a roofline
``bound`` (:mod:`fwbench.machine.roofline`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fwbench.files import write_json_atomic
from fwbench.machine.envinfo import host_info
from fwbench.machine.host import machine_fingerprint

CALIBRATION_VERSION = 1


def cache_directory() -> Path:
    if os.environ.get("FWBENCH_CACHE_DIR"):
        return Path(os.environ["FWBENCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fwbench"


def fingerprint(framework_versions: dict[str, str | None]) -> str:
    """This machine (:mod:`fwbench.machine.host`) and the framework versions: a new CPU, GPU or framework
    release means new peaks."""
    return machine_fingerprint(host_info(), framework_versions)


def calibration_path(num_threads: int, framework_versions: dict[str, str | None]) -> Path:
    return cache_directory() / f"calibration-{fingerprint(framework_versions)}-threads{num_threads}.json"


def load_calibration(num_threads: int, framework_versions: dict[str, str | None]) -> dict[str, Any] | None:
    path = calibration_path(num_threads, framework_versions)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("version") != CALIBRATION_VERSION:
        return None
    data["file"] = str(path)
    return data


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per device: the best scale and triad GB/s and the best GEMM GFLOP/s per dtype, with who got them."""
    devices: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("status") != "ok":
            continue
        device = devices.setdefault(record["device"], {"gemm_gflops_per_s": {}, "best": {}})
        series = f"{record['framework']}/{record['mode']}"
        name = record["workload"]
        if name in ("calibrate_scale", "calibrate_triad"):
            key = "copy_gbytes_per_s" if name == "calibrate_scale" else "triad_gbytes_per_s"
            if record["gbytes_per_s"] > device.get(key, 0):
                device[key] = record["gbytes_per_s"]
                device["best"][key] = series
        elif name.startswith("calibrate_gemm"):
            dtype = record["dtype"]
            if record["gflops_per_s"] > device["gemm_gflops_per_s"].get(dtype, 0):
                device["gemm_gflops_per_s"][dtype] = record["gflops_per_s"]
                device["best"][f"gemm_{dtype}"] = series
    return devices


def store_calibration(data: dict[str, Any], num_threads: int, framework_versions: dict[str, str | None]
                      ) -> dict[str, Any]:
    """Write freshly measured peaks where :func:`load_calibration` finds them; ``data`` with its ``file``."""
    path = calibration_path(num_threads, framework_versions)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(data, path)
    data["file"] = str(path)
    return data
