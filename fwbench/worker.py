"""The worker process: one framework, one device, many cells.

Started by the runner (``fwbench.execution.worker_process.WORKER_COMMAND``,
which imports this module and calls :func:`main`).  It reads one JSON
line (its configuration and cells) from stdin, pins itself to
``num_threads`` CPUs, imports its framework once, and writes JSON lines to
its private copy of stdout::

    {"event": "hello", "available": true, "version": ..., "device": {...}}
    {"event": "start", "cell_id": ...}
    {"event": "result", "record": {...}}       one per cell
    {"event": "done"}

File descriptor 1 is pointed at stderr before any framework loads, so
whatever native libraries print cannot corrupt the protocol.

Every cell runs in its own child process, forked from the worker after the
import and before anything else (device selection included, so the
framework's thread pools start in the child): each cell begins in the state
of a fresh script that has just imported the framework.  That state matters
because glibc's malloc raises its mmap and trim thresholds for the rest of a
process's life whenever a large block is freed; a long-lived worker would
time every cell in whatever state earlier cells left (8x apart for a NumPy
power sum at n=1000, see bench/allocator.py).  The child makes the inputs,
times the calls, and only then computes (or loads) the float64 reference and
verifies.  A child that crashes fails its own cell only.

``python -m fwbench.worker --probe FRAMEWORK`` prints one JSON object with
the framework's availability, version, settings and devices (``fwbench env``).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, TextIO

from fwbench.adapters.base import DeviceUnavailable, get_adapter
from fwbench.memory import PeakHostMemory
from fwbench.processes import describe_exit
from fwbench.results import add_measurement, base_record, json_safe
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
    """Runs cells for one adapter.  :meth:`select_device` comes first, in the process that runs the cells
    (the cell's child): the device, and whether calls need a sync, are decided there."""

    def __init__(self, adapter: Any, config: dict[str, Any], info: dict[str, Any], affinity: list[int]) -> None:
        from fwbench.kinds import get_kind_class

        self.adapter = adapter
        self.config = config
        self.info = info
        self.device: dict[str, Any] = {}
        self.timer = TimerSettings(**config["timer"])
        self.workloads = {name: Workload.from_dict(data) for name, data in config["workloads"].items()}
        self.kinds = {name: get_kind_class(w.kind)(w) for name, w in self.workloads.items()}
        self.sync: Callable[[Any], None] | None = None
        self.settings: dict[str, Any] = {
            "clock": "time.perf_counter",
            "timer": self.timer.to_dict(),
            "sync_method": adapter.SYNC_METHOD,
            "sync_in_timed_region": True,
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
            "allocator": allocator_state(),
            "framework": info["settings"],
        }

    def select_device(self) -> None:
        """Select the configured device in this process; whether calls need a sync depends on it."""
        self.device = self.adapter.select_device(self.config["device"])
        self.sync = self.adapter.sync if self.adapter.sync_needed() else None
        self.settings["sync_every_call"] = self.sync is not None

    def _device_memory_refusal(self, cell: dict[str, Any]) -> str | None:
        """On an accelerator, refuse a cell whose estimated memory exceeds what the device has free (RLIMIT_AS
        cannot guard a device, and CUDA and XLA reserve large address ranges that it would refuse)."""
        if self.config["device"] == "cpu":
            return None
        needed = (cell.get("cost") or {}).get("memory_bytes")
        free = self.adapter.device_memory_free_bytes()
        if needed and free is not None and needed > free:
            return (f"too large for the device: needs about {needed / 2**30:.2f} GiB, "
                    f"{free / 2**30:.2f} GiB free on {self.device.get('name')}")
        return None

    def _cache_key(self, workload: Workload, params: dict[str, int]) -> str:
        return hashlib.sha256(json.dumps([workload.spec_hash, workload.name, workload.seed, sorted(params.items())])
                              .encode()).hexdigest()[:32]

    def _inputs(self, kind: Any, workload: Workload, params: dict[str, int]) -> list[Any]:
        """The host inputs; ones slow to generate are saved once per run for the next workers."""
        directory = self.config.get("cache_dir")
        if not directory or not kind.CACHE_INPUTS:
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
        """Make the inputs, move them to the device, build, first call and warm-up; a finished record if
        the cell cannot go on.  Nothing else happens before the timing: the reference comes after it."""
        state = CellState(cell=cell, started=time.perf_counter())
        workload = self.workloads[cell["workload"]]
        state.kind = kind = self.kinds[cell["workload"]]
        state.params = params = cell["params"]
        state.record = record = base_record(cell, workload.to_dict(), self.config["run"])
        record.update({"framework_version": self.info["version"], "device_name": self.device.get("name"),
                       "settings": self.settings, "process_id": os.getpid(), "matmul_precision": kind.matmul_precision})
        try:
            record["settings"] = dict(self.settings, matmul=self.adapter.set_matmul_precision(kind.matmul_precision),
                                      device_memory_peak_scope=self.adapter.DEVICE_MEMORY_PEAK_SCOPE,
                                      headline_time="host: time.perf_counter around the calls and their sync",
                                      device_time=self.adapter.DEVICE_TIME, cache=kind.cache)
            record["cache"] = kind.cache
            record.update(dtype=kind.dtype, description=kind.describe(params))
            reason = (kind.skip(params, cell["framework"], cell["mode"], cell["device"])
                      or self._device_memory_refusal(cell))
            if reason:
                record.update(status="skipped", reason=reason)
                return self._stamp(state)
            started = time.perf_counter()
            state.inputs = self._inputs(kind, workload, params)
            record["inputs_s"] = time.perf_counter() - started
            cost = kind.runtime_cost(params)
            if cost is not None:
                record.update(flops=cost.flops, fused_bytes=cost.fused_bytes, unfused_bytes=cost.unfused_bytes)
            state.memory.start()
            self.adapter.reset_device_memory_peak()
            state.device_inputs = [self.adapter.to_device(array) for array in state.inputs]
            state.call = kind.build(params, cell["framework"], cell["mode"], self.adapter, state.device_inputs)
            if cell.get("method") == "timeit":
                return self.conclude(state)
            flush = None
            if kind.cache == "cold":
                flush, flush_bytes = self.adapter.cache_flusher()
                record["settings"]["cache"] = (f"cold: {flush_bytes / 2**20:.0f} MiB written before every call, "
                                               "outside the timed region")
            device_timer = self.adapter.device_timer() if self.sync is not None else None
            state.sampler = Sampler(state.call, self.sync, self.timer, device_timer=device_timer, flush=flush)
            state.sampler.start()
            state.faults_at_start = minor_page_faults()
            return state
        except Exception as error:  # noqa: BLE001 - one cell's failure must not end the run
            return self.fail(state, error)

    def conclude(self, state: "CellState") -> dict[str, Any]:
        """Finish the timing if needed, then make the reference, check the result, and return the record."""
        kind, params, record, cell = state.kind, state.params, state.record, state.cell
        try:
            if cell.get("method") == "timeit":
                timed = measure_timeit(state.call, self.adapter.sync, cell.get("timeit_repeats") or 5,
                                       cell.get("timeit_loops"))
                output = timed.output
                add_measurement(record, summarize(timed.per_loop_s), timed.per_loop_s, first_call_s=None,
                                n_loops=timed.loops, converged=None, timeit_best_s=timed.best_s,
                                timeit_loops=timed.loops, timeit_repeats=timed.repeats,
                                timeit_autoranged=timed.autoranged)
                record["method"] = "timeit"
            else:
                measurement = state.sampler.measurement()
                sampled_calls = len(measurement.samples_s) * measurement.n_loops
                output = measurement.output
                add_measurement(record, measurement.statistics(), measurement.samples_s,
                                first_call_s=measurement.first_call_s, n_loops=measurement.n_loops,
                                warmup_calls=measurement.warmup_calls, converged=measurement.converged,
                                timed_s=measurement.timed_s,
                                page_faults_per_call=(minor_page_faults() - state.faults_at_start) / sampled_calls)
                record["method"] = "fwbench"
                if measurement.device_samples_s:
                    record["device_samples_s"] = measurement.device_samples_s
                    record["device_median_s"] = summarize(measurement.device_samples_s)["median_s"]
            peak, at_start = state.memory.stop()
            started = time.perf_counter()
            workload = self.workloads[cell["workload"]]
            reference = self._reference(kind, workload, params, state.inputs)
            record.update(reference_s=time.perf_counter() - started, inputs_sha256=inputs_digest(state.inputs))
            check = kind.check(params, self.adapter, state.call, output, reference)
            record.update(kind.extra_fields(params, state.call))
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

    def failed_outside(self, cell: dict[str, Any], cause: str) -> dict[str, Any]:
        """The record of a cell whose process died before it could report."""
        state = CellState(cell=cell, started=time.perf_counter())
        state.record = base_record(cell, self.workloads[cell["workload"]].to_dict(), self.config["run"])
        state.record.update(framework_version=self.info["version"], status="error", reason=cause,
                            settings=self.settings)
        return self._stamp(state)

    def fail(self, state: "CellState", error: BaseException) -> dict[str, Any]:
        state.record.update(status="error", reason=_short(error), traceback=traceback.format_exc(limit=20)[-4000:])
        return self._stamp(state)

    def _stamp(self, state: "CellState") -> dict[str, Any]:
        state.device_inputs = state.inputs = []
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
    inputs: list[Any] = field(default_factory=list)
    device_inputs: list[Any] = field(default_factory=list)
    faults_at_start: int = 0
    call: Any = None
    sampler: Sampler | None = None
    memory: PeakHostMemory = field(default_factory=PeakHostMemory)


class CellChild:
    """One cell's process: a fork of the worker, which has imported its framework and done nothing else.

    ``body(emit, commands)`` runs in the child; ``emit`` sends a message to
    the parent through a pipe and ``commands`` reads the lines the parent
    :meth:`send` s (``--interleave``).  The parent relays the child's messages
    to the protocol stream, so it alone writes there, and it sees the child's
    end: :meth:`receive` returns None once the child has exited.
    """

    def __init__(self, body: Callable[[Callable[[dict], None], TextIO], None]) -> None:
        messages_read, messages_write = os.pipe()
        commands_read, commands_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(messages_read)
            os.close(commands_write)
            _run_child(body, os.fdopen(messages_write, "w", buffering=1, encoding="utf-8"),
                       os.fdopen(commands_read, encoding="utf-8"))
        os.close(messages_write)
        os.close(commands_read)
        self.messages = os.fdopen(messages_read, encoding="utf-8")
        self.commands = os.fdopen(commands_write, "w", buffering=1, encoding="utf-8")

    def send(self, command: dict[str, Any]) -> None:
        try:
            self.commands.write(json.dumps(command) + "\n")
        except BrokenPipeError:
            pass  # the child has gone; receive() reports it

    def receive(self) -> dict[str, Any] | None:
        line = self.messages.readline()
        return json.loads(line) if line else None

    def end(self) -> str | None:
        """Wait for the child; None if it exited normally, else how it died."""
        for stream in (self.commands, self.messages):
            try:
                stream.close()
            except OSError:
                pass
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return None if code == 0 else f"the cell's process {describe_exit(code)}"


def _run_child(body: Callable[[Callable[[dict], None], TextIO], None], messages: TextIO, commands: TextIO) -> None:
    code = 1
    try:
        _die_with_parent()

        def emit(message: dict[str, Any]) -> None:
            messages.write(json.dumps(json_safe(message)) + "\n")

        body(emit, commands)
        code = 0
    except BaseException:  # noqa: BLE001 - reported through the exit code and stderr
        traceback.print_exc()
    finally:
        try:
            messages.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _cell_child(runner: CellRunner, cell: dict[str, Any], interleaved: bool) -> CellChild:
    def body(emit, commands) -> None:
        runner.select_device()
        if interleaved:
            serve_cell_commands(runner, cell, emit, commands)
        else:
            emit({"event": "result", "record": runner.run(cell)})

    return CellChild(body)


def _relay(runner: CellRunner, cell: dict[str, Any], child: CellChild, emit) -> bool:
    """Pass the child's next message on; True once the cell is finished (its result sent, the child ended).

    A child that ends without a result gets one: an error naming how it died."""
    message = child.receive()
    if message is not None:
        emit(message)
        if message.get("event") != "result":
            return False
    cause = child.end()
    if message is None:
        emit({"event": "result", "record": runner.failed_outside(
            cell, cause or "the cell's process ended without a result")})
    return True


def serve_cell_commands(runner: CellRunner, cell: dict[str, Any], emit, commands: TextIO) -> None:
    """In a cell's child under ``--interleave``: prepare, then one turn per command (:func:`take_turn`), then
    finish."""
    state = runner.begin(cell)
    if isinstance(state, dict):
        emit({"event": "result", "record": state})
        return
    emit({"event": "prepared", "cell_id": cell["cell_id"], "pid": os.getpid()})
    for line in commands:
        command = json.loads(line)
        action = command.get("cmd")
        if action == "sample":
            try:
                taken = take_turn(state.sampler, float(command.get("block_s") or 0.0))
            except Exception as error:  # noqa: BLE001
                emit({"event": "result", "record": runner.fail(state, error)})
                return
            emit({"event": "sampled", "cell_id": cell["cell_id"], "done": state.sampler.done(), "samples": taken})
        elif action == "finish":
            emit({"event": "result", "record": runner.conclude(state)})
            return
        else:
            return


def take_turn(sampler: Any, block_s: float) -> int:
    """One turn of a cell under ``--interleave``: one sample, or with ``block_s`` an untimed call that wakes
    the framework's threads and then samples for ``block_s`` of sampling or until the stopping rule holds.
    Returns the number of samples taken."""
    if block_s <= 0:
        sampler.sample()
        return 1
    sampler.rewarm()
    began, taken = sampler.sampling_s, 0
    while True:
        sampler.sample()
        taken += 1
        if sampler.done() or sampler.sampling_s - began >= block_s:
            return taken


def serve_interleaved(runner: CellRunner, cells: dict[str, dict[str, Any]], commands: TextIO, emit) -> None:
    """Obey the parent's commands one line at a time: prepare, sample, finish (``--interleave``).

    ``prepare`` forks the cell's child; later commands for that cell go to
    it, and each command gets exactly one reply."""
    children: dict[str, CellChild] = {}
    for line in commands:
        command = json.loads(line)
        action, cell_id = command.get("cmd"), command.get("cell_id")
        if action == "exit":
            break
        if action == "prepare":
            emit({"event": "start", "cell_id": cell_id})
            children[cell_id] = _cell_child(runner, cells[cell_id], interleaved=True)
        elif cell_id in children:
            children[cell_id].send(command)
        else:
            continue
        if _relay(runner, cells[cell_id], children[cell_id], emit):
            del children[cell_id]
    for child in children.values():
        child.send({"cmd": "exit"})
        child.end()


def _select_device_in_child(adapter: Any, device_kind: str) -> tuple[dict[str, Any] | None, str | None]:
    """Select the device in a throwaway child (backends start threads, which must not exist before a fork)."""

    def body(emit, _commands) -> None:
        try:
            emit({"event": "device", "device": adapter.select_device(device_kind)})
        except DeviceUnavailable as error:
            emit({"event": "device", "reason": str(error)})

    child = CellChild(body)
    message = child.receive()
    cause = child.end()
    if message is None:
        return None, f"device selection failed: {cause}"
    return message.get("device"), message.get("reason")


def serve(config: dict[str, Any], emit) -> None:
    framework, device_kind = config["framework"], config["device"]
    affinity = _pin_threads(config["num_threads"])
    if device_kind == "cpu":  # accelerators get the device memory guard (CellRunner._device_memory_refusal)
        _limit_memory(config.get("memory_limit_bytes"))
    adapter = get_adapter(framework)
    started = time.perf_counter()
    try:
        info = adapter.load(config["num_threads"])
    except Exception as error:  # noqa: BLE001
        emit({"event": "hello", "available": False, "reason": f"unavailable: {_short(error)}"})
        return
    import_s = time.perf_counter() - started
    device, reason = _select_device_in_child(adapter, device_kind)
    if device is None:
        emit({"event": "hello", "available": False, "version": info["version"],
              "reason": f"device unavailable: {reason}"})
        return
    emit({"event": "hello", "available": True, "version": info["version"], "settings": info["settings"],
          "device": device, "import_s": import_s, "pid": os.getpid(), "cpu_affinity": affinity})
    runner = CellRunner(adapter, config, info, affinity)
    if config.get("interleave"):
        serve_interleaved(runner, {cell["cell_id"]: cell for cell in config["cells"]}, sys.stdin, emit)
        emit({"event": "done"})
        return
    for cell in config["cells"]:
        emit({"event": "start", "cell_id": cell["cell_id"]})
        child = _cell_child(runner, cell, interleaved=False)
        while not _relay(runner, cell, child, emit):
            pass
    emit({"event": "done"})


def minor_page_faults() -> int:
    """Page faults of this process so far that needed no disk read: fresh pages the allocator touched."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def allocator_state() -> dict[str, Any]:
    """How the host allocator starts every cell, recorded in each row."""
    return {
        "process": "one child per cell, forked from the worker after the framework import and nothing else",
        "malloc": "glibc" if sys.platform.startswith("linux") else sys.platform,
        "thresholds": "glibc's dynamic mmap/trim thresholds, as a fresh process has them",
        "reference_made": "after timing",
        "environment": {name: os.environ[name] for name in ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX",
                                                             "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                             "LD_PRELOAD") if name in os.environ},
    }


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
        stream.write(json.dumps(json_safe(message)) + "\n")
        stream.flush()

    config = json.loads(sys.stdin.readline())
    serve(config, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
