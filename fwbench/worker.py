"""The worker process: one framework, one device, many cells.

Started by the runner as ``python -m fwbench.worker``.  It reads one JSON
line (its configuration and cells) from stdin, pins itself to
``num_threads`` CPUs, imports its framework once, and writes JSON lines to
its private copy of stdout::

    {"event": "hello", "available": true, "version": ..., "device": {...}}
    {"event": "start", "cell_id": ...}
    {"event": "result", "record": {...}}       one per cell
    {"event": "done"}

File descriptor 1 is pointed at stderr before any framework loads, so
whatever native libraries print cannot corrupt the protocol.

``python -m fwbench.worker --probe FRAMEWORK`` prints one JSON object with
the framework's availability, version, settings and devices (``fwbench env``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import Any, TextIO

from fwbench.adapters.base import DeviceUnavailable, get_adapter
from fwbench.results import add_measurement, base_record
from fwbench.spec.loader import Workload
from fwbench.timing import TimerSettings, measure

MAX_REASON_CHARS = 500


def _protocol_stream() -> TextIO:
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")


def _pin_threads(num_threads: int) -> list[int]:
    """Restrict this process to ``num_threads`` CPUs, so every framework's pools agree."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    chosen = cores[: max(1, num_threads)]
    os.sched_setaffinity(0, chosen)
    return chosen


def inputs_digest(arrays: list[Any]) -> str:
    """SHA-256 over the host inputs' dtypes, shapes and bytes: proof that every framework got the same data."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.dtype.name}{array.shape}".encode())
        digest.update(memoryview(array.reshape(-1).view("uint8")))
    return digest.hexdigest()


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    text = " ".join(text.split())
    return text[:MAX_REASON_CHARS]


def probe(framework: str, num_threads: int) -> dict[str, Any]:
    adapter = get_adapter(framework)
    _pin_threads(num_threads)
    try:
        info = adapter.load(num_threads)
    except Exception as error:  # noqa: BLE001 - any import failure makes it unavailable
        return {"framework": framework, "available": False, "reason": _short(error)}
    return {
        "framework": framework,
        "available": True,
        "version": info["version"],
        "settings": info["settings"],
        "devices": adapter.devices(),
        "modes": list(adapter.MODES),
        "sync_method": adapter.SYNC_METHOD,
    }


class CellRunner:
    """Runs cells for one adapter, caching inputs and the reference per (workload, params)."""

    def __init__(self, adapter: Any, config: dict[str, Any], info: dict[str, Any], device: dict[str, Any],
                 affinity: list[int]) -> None:
        from fwbench.kinds import get_kind_class

        self.adapter = adapter
        self.config = config
        self.info = info
        self.device = device
        self.timer = TimerSettings(**config["timer"])
        self.workloads = {name: Workload.from_dict(data) for name, data in config["workloads"].items()}
        self.kinds = {name: get_kind_class(w.kind)(w) for name, w in self.workloads.items()}
        self.cache_key: tuple | None = None
        self.cache: dict[str, Any] = {}
        self.settings = {
            "clock": "time.perf_counter",
            "timer": self.timer.to_dict(),
            "sync_method": adapter.SYNC_METHOD,
            "sync_in_timed_region": True,
            "sync_every_call": True,
            "async_dispatch": adapter.ASYNC_DISPATCH,
            "first_call_timed_apart": True,
            "inputs_on_device_before_timing": True,
            "inputs_generated_on_host_from_seed": True,
            "gc_disabled_while_sampling": True,
            "verified_against": "numpy float64 reference",
            "num_threads": config["num_threads"],
            "cpu_affinity": affinity,
            "thread_environment": {k: v for k, v in os.environ.items()
                                   if k.endswith("_THREADS") or k in ("XLA_FLAGS", "JAX_PLATFORMS",
                                                                      "CUDA_VISIBLE_DEVICES")},
            "framework": info["settings"],
        }

    def _prepare(self, kind: Any, workload: Workload, params: dict[str, int]) -> dict[str, Any]:
        key = (workload.name, tuple(sorted(params.items())))
        if key != self.cache_key:
            self.cache = {}
            self.cache_key = None
            gc.collect()
            started = time.perf_counter()
            inputs = kind.make_inputs(params, workload.seed)
            made = time.perf_counter()
            reference = kind.reference(params, inputs)
            self.cache = {"inputs": inputs, "reference": reference, "inputs_sha256": inputs_digest(inputs),
                          "inputs_s": made - started, "reference_s": time.perf_counter() - made}
            self.cache_key = key
        return self.cache

    def run(self, cell: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        workload = self.workloads[cell["workload"]]
        kind = self.kinds[cell["workload"]]
        record = base_record(cell, workload.to_dict(), self.config["run"])
        record.update({
            "framework_version": self.info["version"],
            "device_name": self.device.get("name"),
            "dtype": kind.dtype,
            "settings": self.settings,
        })
        params = cell["params"]
        device_inputs: list[Any] = []
        try:
            reason = kind.skip(params, cell["framework"], cell["mode"], cell["device"])
            if reason:
                record.update(status="skipped", reason=reason)
                return record
            prepared = self._prepare(kind, workload, params)
            record["inputs_s"] = prepared["inputs_s"]
            record["reference_s"] = prepared["reference_s"]
            record["inputs_sha256"] = prepared["inputs_sha256"]
            device_inputs = [self.adapter.to_device(array) for array in prepared["inputs"]]
            call = kind.build(params, cell["framework"], cell["mode"], self.adapter, device_inputs)
            measurement = measure(call, self.adapter.sync, self.timer)
            check = kind.check(params, self.adapter, call, measurement.output, prepared["reference"])
            record.update(kind.extra_fields(params, call))
            add_measurement(
                record, measurement.statistics(), measurement.samples_s,
                first_call_s=measurement.first_call_s, n_loops=measurement.n_loops,
                warmup_calls=measurement.warmup_calls, converged=measurement.converged,
                timed_s=measurement.timed_s,
            )
            record.update(max_abs_err=check.max_abs_err, max_rel_err=check.max_rel_err,
                          tolerance=check.tolerance)
            samples = kind.samples_per_call(params)
            if samples and record.get("median_s"):
                record["samples_per_s"] = samples / record["median_s"]
            if check.ok:
                record["status"] = "ok"
            else:
                record["status"] = "mismatch"
                record["reason"] = check.detail or (
                    f"max relative error {check.max_rel_err:.3g} exceeds the tolerance {check.tolerance:.3g}")
        except Exception as error:  # noqa: BLE001 - one cell's failure must not end the run
            record.update(status="error", reason=_short(error),
                          traceback=traceback.format_exc(limit=20)[-4000:])
        finally:
            del device_inputs
            record["cell_wall_s"] = time.perf_counter() - started
            record["timestamp"] = datetime.now(timezone.utc).isoformat()
        return record


def serve(config: dict[str, Any], emit) -> None:
    framework, device_kind = config["framework"], config["device"]
    affinity = _pin_threads(config["num_threads"])
    adapter = get_adapter(framework)
    started = time.perf_counter()
    try:
        info = adapter.load(config["num_threads"])
    except Exception as error:  # noqa: BLE001
        emit({"event": "hello", "available": False, "reason": f"unavailable: {_short(error)}"})
        return
    import_s = time.perf_counter() - started
    try:
        device = adapter.select_device(device_kind)
    except DeviceUnavailable as error:
        emit({"event": "hello", "available": False, "version": info["version"],
              "reason": f"device unavailable: {error}"})
        return
    emit({"event": "hello", "available": True, "version": info["version"], "settings": info["settings"],
          "device": device, "import_s": import_s, "pid": os.getpid(), "cpu_affinity": affinity})
    runner = CellRunner(adapter, config, info, device, affinity)
    for cell in config["cells"]:
        emit({"event": "start", "cell_id": cell["cell_id"]})
        emit({"event": "result", "record": runner.run(cell)})
    emit({"event": "done"})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--probe"]:
        threads = int(argv[3]) if len(argv) > 3 and argv[2] == "--threads" else os.cpu_count() or 1
        stream = _protocol_stream()
        stream.write(json.dumps(probe(argv[1], threads)) + "\n")
        stream.flush()
        return 0
    stream = _protocol_stream()

    def emit(message: dict[str, Any]) -> None:
        from fwbench.results import _json_safe

        stream.write(json.dumps(_json_safe(message)) + "\n")
        stream.flush()

    config = json.loads(sys.stdin.readline())
    serve(config, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
