"""Machine peaks: achievable memory bandwidth and GEMM throughput, per device and dtype.

``calibrate()`` runs a small built-in suite through the normal runner (so the
same workers, timer and verification apply): STREAM scale and triad on
200 MB arrays (far beyond any cache), and square GEMMs in float32 and
float64, in every framework; it takes about half a minute on 2 cores.
The best figure over frameworks is the peak for that device.  Results are
stored per machine, keyed on a fingerprint of the hardware and the framework
versions, in ``$FWBENCH_CACHE_DIR`` (default ``~/.cache/fwbench``), and
reused until ``--force``.

Every result row then gets ``pct_of_bandwidth_peak`` and
``pct_of_compute_peak`` and a roofline ``bound`` (``memory`` when its
arithmetic intensity, FLOPs per fused byte, is below the ridge point
peak FLOP/s / peak bytes/s, else ``compute``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fwbench.adapters import FRAMEWORKS, find_installed
from fwbench.envinfo import host_device_kinds, host_info
from fwbench.results import read_cells, write_json_atomic
from fwbench.spec.loader import parse_spec_text

CALIBRATION_VERSION = 1
CALIBRATION_SPEC = """
version: 1
description: fwbench calibration - the machine's achievable memory bandwidth and GEMM throughput
workloads:
  - name: calibrate_scale
    kind: stream
    operation: scale
    elements: n
    sweep: {n: [50000000]}
    modes: [numpy/eager, jax/jit, torch/eager, tensorflow/xla]
  - name: calibrate_triad
    kind: stream
    operation: triad
    elements: n
    sweep: {n: [50000000]}
    modes: [numpy/eager, jax/jit, torch/eager, tensorflow/xla]
  - name: calibrate_gemm_float32
    kind: expression
    expr: "A @ B"
    inputs:
      A: {shape: [n, n], dtype: float32}
      B: {shape: [n, n], dtype: float32}
    sweep: {n: [2048]}
    devices: [cpu]
    modes: [numpy/eager, jax/jit, torch/eager, tensorflow/function]
  - name: calibrate_gemm_float64
    kind: expression
    expr: "A @ B"
    inputs:
      A: {shape: [n, n], dtype: float64}
      B: {shape: [n, n], dtype: float64}
    sweep: {n: [1024]}
    devices: [cpu]
    modes: [numpy/eager, jax/jit, torch/eager, tensorflow/function]
  - name: calibrate_gemm_float32_accelerator
    kind: expression
    expr: "A @ B"
    inputs:
      A: {shape: [n, n], dtype: float32}
      B: {shape: [n, n], dtype: float32}
    sweep: {n: [8192]}
    devices: [gpu, tpu]
    modes: [jax/jit, torch/eager, tensorflow/function]
  - name: calibrate_gemm_bfloat16_accelerator
    kind: expression
    expr: "A @ B"
    inputs:
      A: {shape: [n, n], dtype: bfloat16}
      B: {shape: [n, n], dtype: bfloat16}
    sweep: {n: [8192]}
    devices: [gpu, tpu]
    modes: [jax/jit, torch/eager, tensorflow/function]
"""


def cache_directory() -> Path:
    if os.environ.get("FWBENCH_CACHE_DIR"):
        return Path(os.environ["FWBENCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fwbench"


def fingerprint() -> str:
    """Hardware and framework versions: a new CPU, GPU or framework release means new peaks."""
    host = host_info()
    parts = {
        "hostname": host["hostname"], "cpu": host["cpu_model"], "cores": host["logical_cores"],
        "usable_cores": host["usable_cores"], "memory_gib": round((host["memory_total_bytes"] or 0) / 2**30),
        "machine": host["machine"], "devices": sorted(host_device_kinds()),
        "frameworks": {name: find_installed(name)[1] for name in FRAMEWORKS},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def calibration_path(num_threads: int) -> Path:
    return cache_directory() / f"calibration-{fingerprint()}-threads{num_threads}.json"


def load_calibration(num_threads: int) -> dict[str, Any] | None:
    path = calibration_path(num_threads)
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


def calibrate(num_threads: int, progress: Any = None, force: bool = False) -> dict[str, Any]:
    """Measure (or, unless ``force``, reuse) this machine's peaks for ``num_threads`` threads."""
    from fwbench.plan import Selection
    from fwbench.runner import RunOptions, run
    from fwbench.timing import TimerSettings

    if not force:
        stored = load_calibration(num_threads)
        if stored is not None:
            stored["reused"] = True
            return stored
    spec = parse_spec_text(CALIBRATION_SPEC, file="<built-in calibration>")
    scratch = Path(tempfile.mkdtemp(prefix="fwbench-calibrate-"))
    try:
        run([spec], RunOptions(out_dir=scratch, selection=Selection(), num_threads=num_threads,
                               timer=TimerSettings(budget_s=0.5), overwrite=True,
                               command=["fwbench", "calibrate"]), progress)
        records = read_cells(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    data = {
        "version": CALIBRATION_VERSION,
        "fingerprint": fingerprint(),
        "num_threads": num_threads,
        "measured_at": datetime.now(timezone.utc).isoformat(),
        "host": host_info(),
        "devices": summarise(records),
        "failed_cells": [f"{r['cell_id']}: {r.get('reason')}" for r in records if r.get("status") not in ("ok", "skipped")],
    }
    path = calibration_path(num_threads)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(data, path)
    data["file"] = str(path)
    data["reused"] = False
    return data
