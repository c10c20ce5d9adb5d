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
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

from fwbench.adapters.base import DeviceUnavailable, get_adapter
from fwbench.memory import PeakHostMemory
from fwbench.results import add_measurement, base_record
from fwbench.spec.loader import Workload
from fwbench.timing import Sampler, TimerSettings, measure_timeit, summarize

MAX_REASON_CHARS = 500
REFERENCE_CACHE_MIN_S = 0.5  # cache references that took longer than this to compute


def _protocol_stream() -> TextIO:
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies, even by SIGKILL: no orphans."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the request took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


def _limit_memory(limit_bytes: int | None) -> None:
    """Cap this worker's address space (``--memory-limit``): allocations past it fail in this cell only."""
    if limit_bytes:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def _pin_threads(num_threads: int) -> list[int]:
    """Restrict this process to ``num_threads`` CPUs, so every framework's pools agree."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    chosen = cores[: max(1, num_threads)]
    os.sched_setaffinity(0, chosen)
    return chosen


def _cache_save(stem: str, arrays: list[Any], meta: dict[str, Any]) -> None:
    """Save arrays as STEM<i>.npy, then STEM.json last: a reader that finds the JSON finds every array."""
    import numpy

    os.makedirs(os.path.dirname(stem), exist_ok=True)
    for index, array in enumerate(arrays):
        numpy.save(f"{stem}{index}.tmp.npy", array)
        os.replace(f"{stem}{index}.tmp.npy", f"{stem}{index}.npy")
    with open(stem + ".json.tmp", "w", encoding="utf-8") as handle:
        json.dump({**meta, "count": len(arrays)}, handle)
    os.replace(stem + ".json.tmp", stem + ".json")


def _cache_load(stem: str, read_only: bool = False) -> tuple[list[Any], dict[str, Any]] | None:
    """The arrays and metadata that :func:`_cache_save` wrote, or None.  ``read_only`` maps the files
    instead of reading them (instant, for arrays that are only ever read, such as references)."""
    import numpy

    if not os.path.exists(stem + ".json"):
        return None
    with open(stem + ".json", encoding="utf-8") as handle:
        meta = json.load(handle)
    mode = "r" if read_only else None
    return [numpy.load(f"{stem}{index}.npy", mmap_mode=mode) for index in range(meta["count"])], meta


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
        self.sync = adapter.sync if adapter.sync_needed() else None
        self.cache_key: tuple | None = None
        self.cache: dict[str, Any] = {}
        self.settings = {
            "clock": "time.perf_counter",
            "timer": self.timer.to_dict(),
            "sync_method": adapter.SYNC_METHOD,
            "sync_in_timed_region": True,
            "sync_every_call": adapter.sync_needed(),
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
            inputs = self._inputs(kind, workload, params)
            made = time.perf_counter()
            reference = self._reference(kind, workload, params, inputs)
            self.cache = {"inputs": inputs, "reference": reference, "inputs_sha256": inputs_digest(inputs),
                          "inputs_s": made - started, "reference_s": time.perf_counter() - made}
            self.cache_key = key
        return self.cache

    def _cache_key(self, workload: Workload, params: dict[str, int]) -> str:
        return hashlib.sha256(json.dumps([workload.spec_hash, workload.name, workload.seed, sorted(params.items())])
                              .encode()).hexdigest()[:32]

    def _inputs(self, kind: Any, workload: Workload, params: dict[str, int]) -> list[Any]:
        """The host inputs; ones slow to generate are saved once per run for the next workers."""
        directory = self.config.get("cache_dir")
        if not directory:
            return kind.make_inputs(params, workload.seed)
        stem = os.path.join(directory, self._cache_key(workload, params) + "-input")
        cached = _cache_load(stem)
        if cached is not None:
            return cached[0]
        started = time.perf_counter()
        inputs = kind.make_inputs(params, workload.seed)
        standard = all(array.dtype.kind in "fiub" and array.dtype.name != "bfloat16" for array in inputs)
        if standard and time.perf_counter() - started > REFERENCE_CACHE_MIN_S:
            _cache_save(stem, inputs, {})
        return inputs

    def _reference(self, kind: Any, workload: Workload, params: dict[str, int], inputs: list[Any]) -> Any:
        """The float64 reference, computed once per run: later workers load what the first one saved."""
        from fwbench.kinds.base import Reference

        directory = self.config.get("cache_dir")
        if not directory:
            return kind.reference(params, inputs)
        stem = os.path.join(directory, self._cache_key(workload, params) + "-reference")
        cached = _cache_load(stem, read_only=True)
        if cached is not None:
            (value,), meta = cached
            return Reference(value, meta["scale"])
        started = time.perf_counter()
        reference = kind.reference(params, inputs)
        if time.perf_counter() - started > REFERENCE_CACHE_MIN_S:
            _cache_save(stem, [reference.value], {"scale": reference.scale})
        return reference

    def begin(self, cell: dict[str, Any]) -> "CellState | dict[str, Any]":
        """Prepare a cell up to its first call and warm-up; a finished record if it cannot go on."""
        state = CellState(cell=cell, started=time.perf_counter())
        workload = self.workloads[cell["workload"]]
        state.kind = kind = self.kinds[cell["workload"]]
        state.params = params = cell["params"]
        state.record = record = base_record(cell, workload.to_dict(), self.config["run"])
        record.update({"framework_version": self.info["version"], "device_name": self.device.get("name"),
                       "settings": self.settings})
        try:
            record.update(dtype=kind.dtype, description=kind.describe(params))
            reason = kind.skip(params, cell["framework"], cell["mode"], cell["device"])
            if reason:
                record.update(status="skipped", reason=reason)
                return self._stamp(state)
            state.prepared = prepared = self._prepare(kind, workload, params)
            state.memory.start()
            self.adapter.reset_device_memory_peak()
            record.update(inputs_s=prepared["inputs_s"], reference_s=prepared["reference_s"],
                          inputs_sha256=prepared["inputs_sha256"])
            state.device_inputs = [self.adapter.to_device(array) for array in prepared["inputs"]]
            state.call = kind.build(params, cell["framework"], cell["mode"], self.adapter, state.device_inputs)
            if cell.get("method") == "timeit":
                return self.conclude(state)
            state.sampler = Sampler(state.call, self.sync, self.timer)
            state.sampler.start()
            return state
        except Exception as error:  # noqa: BLE001 - one cell's failure must not end the run
            return self.fail(state, error)

    def conclude(self, state: "CellState") -> dict[str, Any]:
        """Finish the timing if needed, check the result, and return the record."""
        kind, params, record, cell = state.kind, state.params, state.record, state.cell
        try:
            if cell.get("method") == "timeit":
                timed = measure_timeit(state.call, self.adapter.sync, cell.get("timeit_repeats") or 5,
                                       cell.get("timeit_loops"))
                check = kind.check(params, self.adapter, state.call, timed.output, state.prepared["reference"])
                add_measurement(record, summarize(timed.per_loop_s), timed.per_loop_s, first_call_s=None,
                                n_loops=timed.loops, converged=None, timeit_best_s=timed.best_s,
                                timeit_loops=timed.loops, timeit_repeats=timed.repeats,
                                timeit_autoranged=timed.autoranged)
                record["method"] = "timeit"
            else:
                measurement = state.sampler.measurement()
                check = kind.check(params, self.adapter, state.call, measurement.output, state.prepared["reference"])
                add_measurement(record, measurement.statistics(), measurement.samples_s,
                                first_call_s=measurement.first_call_s, n_loops=measurement.n_loops,
                                warmup_calls=measurement.warmup_calls, converged=measurement.converged,
                                timed_s=measurement.timed_s)
                record["method"] = "fwbench"
            record.update(kind.extra_fields(params, state.call))
            peak, at_start = state.memory.stop()
            record.update(peak_host_bytes=peak, host_bytes_at_start=at_start,
                          peak_device_bytes=self.adapter.device_memory_peak_bytes(),
                          max_abs_err=check.max_abs_err, max_rel_err=check.max_rel_err, tolerance=check.tolerance)
            samples = kind.samples_per_call(params)
            if samples and record.get("median_s"):
                record["samples_per_s"] = samples / record["median_s"]
            if check.ok:
                record["status"] = "ok"
            else:
                record["status"] = "mismatch"
                record["reason"] = check.detail or (
                    f"max relative error {check.max_rel_err:.3g} exceeds the tolerance {check.tolerance:.3g}")
        except Exception as error:  # noqa: BLE001
            return self.fail(state, error)
        return self._stamp(state)

    def fail(self, state: "CellState", error: BaseException) -> dict[str, Any]:
        state.record.update(status="error", reason=_short(error), traceback=traceback.format_exc(limit=20)[-4000:])
        return self._stamp(state)

    def _stamp(self, state: "CellState") -> dict[str, Any]:
        state.device_inputs = []
        state.call = state.sampler = None
        state.record["cell_wall_s"] = time.perf_counter() - state.started
        state.record["timestamp"] = datetime.now(timezone.utc).isoformat()
        return state.record

    def run(self, cell: dict[str, Any]) -> dict[str, Any]:
        """One cell from start to record: prepare, sample until the stopping rule, check."""
        state = self.begin(cell)
        if isinstance(state, dict):
            return state
        try:
            while True:
                state.sampler.sample()
                if state.sampler.done():
                    break
        except Exception as error:  # noqa: BLE001
            return self.fail(state, error)
        return self.conclude(state)


@dataclass
class CellState:
    """A cell between ``begin`` and ``conclude`` (kept across turns when interleaving)."""

    cell: dict[str, Any]
    started: float
    kind: Any = None
    params: dict[str, int] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    prepared: dict[str, Any] = field(default_factory=dict)
    device_inputs: list[Any] = field(default_factory=list)
    call: Any = None
    sampler: Sampler | None = None
    memory: PeakHostMemory = field(default_factory=PeakHostMemory)


def serve_interleaved(runner: CellRunner, cells: dict[str, dict[str, Any]], commands: TextIO, emit) -> None:
    """Obey the parent's commands one line at a time: prepare, sample, finish (``--interleave``)."""
    states: dict[str, CellState] = {}
    for line in commands:
        command = json.loads(line)
        action, cell_id = command.get("cmd"), command.get("cell_id")
        if action == "exit":
            break
        if action == "prepare":
            emit({"event": "start", "cell_id": cell_id})
            state = runner.begin(cells[cell_id])
            if isinstance(state, dict):
                emit({"event": "result", "record": state})
            else:
                states[cell_id] = state
                emit({"event": "prepared", "cell_id": cell_id})
        elif action == "sample":
            state = states[cell_id]
            try:
                state.sampler.sample()
                emit({"event": "sampled", "cell_id": cell_id, "done": state.sampler.done()})
            except Exception as error:  # noqa: BLE001
                emit({"event": "result", "record": runner.fail(states.pop(cell_id), error)})
        elif action == "finish":
            emit({"event": "result", "record": runner.conclude(states.pop(cell_id))})


def serve(config: dict[str, Any], emit) -> None:
    framework, device_kind = config["framework"], config["device"]
    affinity = _pin_threads(config["num_threads"])
    _limit_memory(config.get("memory_limit_bytes"))
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
    if config.get("interleave"):
        serve_interleaved(runner, {cell["cell_id"]: cell for cell in config["cells"]}, sys.stdin, emit)
        emit({"event": "done"})
        return
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
    _die_with_parent()
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
