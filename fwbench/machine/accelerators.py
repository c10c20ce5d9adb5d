"""Facts about NVIDIA accelerators from ``nvidia-smi``, for the environment section of every run.

Driver and CUDA versions, device clocks (current and maximum, graphics and memory), power limit,
persistence mode, ECC and MIG state, one entry per GPU.  Clocks that are not locked (current below
maximum, or application clocks not set) move a GPU's timings by more than most effects being measured,
so :func:`clock_warnings` says so.  Imports no framework; a machine without ``nvidia-smi`` gets
``{"nvidia_smi": "not found"}``.  TPUs expose no such tool to a user process: their facts come from the
JAX worker (device kind, memory limit).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any, Callable

QUERY_FIELDS = (
    "index", "name", "driver_version", "pstate", "clocks.current.graphics", "clocks.max.graphics",
    "clocks.current.memory", "clocks.max.memory", "clocks.applications.graphics", "power.limit",
    "power.max_limit", "persistence_mode", "ecc.mode.current", "mig.mode.current", "memory.total",
    "temperature.gpu",
)


def nvidia_facts(run: Callable[[list[str]], str] | None = None) -> dict[str, Any]:
    """What ``nvidia-smi`` reports; ``run`` (for tests) takes the command and returns its stdout."""
    if run is None:
        if shutil.which("nvidia-smi") is None:
            return {"nvidia_smi": "not found"}
        run = _run
    try:
        header = run(["nvidia-smi"])
        rows = run(["nvidia-smi", f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader,nounits"])
    except (OSError, subprocess.SubprocessError) as error:
        return {"nvidia_smi": f"failed: {error}"}
    gpus = []
    for line in rows.strip().splitlines():
        values = [value.strip() for value in line.split(",")]
        if len(values) == len(QUERY_FIELDS):
            gpus.append(dict(zip(QUERY_FIELDS, values)))
    return {"nvidia_smi": "found", "cuda_version": _cuda_version(header), "gpus": gpus}


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout


def _cuda_version(header: str) -> str | None:
    marker = "CUDA Version:"
    if marker not in header:
        return None
    return header.split(marker, 1)[1].split()[0].strip("|")


def clock_warnings(facts: dict[str, Any]) -> list[str]:
    """A warning per GPU whose graphics clock is not locked at its maximum."""
    warnings = []
    for gpu in facts.get("gpus", []):
        current, maximum = _number(gpu.get("clocks.current.graphics")), _number(gpu.get("clocks.max.graphics"))
        if current is None or maximum is None:
            continue
        if current < maximum:
            warnings.append(f"GPU {gpu.get('index')} ({gpu.get('name')}): graphics clock {current:.0f} MHz of "
                            f"{maximum:.0f} MHz, not locked (nvidia-smi --lock-gpu-clocks={maximum:.0f} as root "
                            f"steadies timings); GPU times will move with its boost")
    return warnings


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None
