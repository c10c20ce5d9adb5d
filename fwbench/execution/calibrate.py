"""Measuring machine peaks: achievable memory bandwidth and GEMM throughput, per device and dtype.

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

import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fwbench.adapters import installed_versions
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.machine.calibration import CALIBRATION_VERSION, fingerprint, load_calibration, store_calibration, summarise
from fwbench.machine.envinfo import host_info
from fwbench.records.results import read_cells
from fwbench.spec.loader import parse_spec_text
from fwbench.stats.timing import TimerSettings

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


def calibrate(num_threads: int, progress: Any = None, force: bool = False) -> dict[str, Any]:
    """Measure (or, unless ``force``, reuse) this machine's peaks for ``num_threads`` threads."""
    versions = installed_versions()
    if not force:
        stored = load_calibration(num_threads, versions)
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
        "fingerprint": fingerprint(versions),
        "num_threads": num_threads,
        "measured_at": datetime.now(timezone.utc).isoformat(),
        "host": host_info(),
        "devices": summarise(records),
        "failed_cells": [f"{r['cell_id']}: {r.get('reason')}" for r in records
                         if r.get("status") not in ("ok", "skipped")],
    }
    store_calibration(data, num_threads, versions)
    data["reused"] = False
    return data
