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

import json
import os
import sys
import time
from typing import Any, NoReturn

from fwbench.adapters.base import get_adapter, kernel_facts
from fwbench.files import json_safe
from fwbench.machine.kernels import kernel_environment
from fwbench.worker.cells import CellRunner
from fwbench.worker.children import cell_child, relay, select_device_in_child, serve_interleaved
from fwbench.worker.process import die_with_parent, limit_memory, pin_threads, probe, protocol_stream, short_reason


def serve(config: dict[str, Any], emit) -> None:
    framework, device_kind = config["framework"], config["device"]
    affinity = pin_threads(config["num_threads"], interleaved=bool(config.get("interleave")))
    if device_kind == "cpu":  # accelerators get the device memory guard (CellRunner._device_memory_refusal)
        limit_memory(config.get("memory_limit_bytes"))
    adapter = get_adapter(framework)
    started = time.perf_counter()
    try:
        info = adapter.load(config["num_threads"])
    except Exception as error:  # noqa: BLE001
        emit({"event": "hello", "available": False, "reason": f"unavailable: {short_reason(error)}"})
        return
    import_s = time.perf_counter() - started
    info["kernels"] = kernel_facts(framework)
    device, reason = select_device_in_child(adapter, device_kind)
    if device is None:
        emit({"event": "hello", "available": False, "version": info["version"],
              "reason": f"device unavailable: {reason}"})
        return
    # Everything the worker does before its cells (imports a kind wants, torch.compile's modules, Inductor's
    # probe) happens before its hello: the parent starts no cell until every worker has said hello, so none
    # of it runs beside a timed turn of another framework's cell.
    runner = CellRunner(adapter, config, info, affinity)
    for kind_class in {type(kind) for kind in runner.kinds.values() if kind.OWN_WORKER}:
        runner.settings.setdefault("worker_imports", {}).update(kind_class.prepare_worker(framework))
    warm = getattr(adapter, "warm_worker", None)
    modes = {cell["mode"] for cell in config["cells"]}

    def warm_for(round_index: int) -> None:
        if warm is not None:
            warmed = warm(round_index, modes, device_kind)
            if warmed:
                runner.settings["worker_warmed"] = warmed

    warm_for(config.get("round") or 1)
    emit({"event": "hello", "available": True, "version": info["version"], "settings": info["settings"],
          "device": device, "import_s": import_s, "pid": os.getpid(), "cpu_affinity": affinity,
          "kernels": info["kernels"], "kernel_environment": kernel_environment(),
          "environment_unset": list(config.get("unset_environment") or [])})
    if config.get("interleave"):
        serve_interleaved(runner, {cell["cell_id"]: cell for cell in config["cells"]}, sys.stdin, emit,
                          warm_later=warm_for)
        emit({"event": "done"})
        return
    for cell in config["cells"]:
        emit({"event": "start", "cell_id": cell["cell_id"]})
        child = cell_child(runner, cell, interleaved=False)
        while not relay(runner, cell, child, emit):
            pass
    emit({"event": "done"})


def end_now(code: int, *streams: Any) -> NoReturn:
    """Flush ``streams`` and the standard ones, then end this process at once (``os._exit``): a worker has sent
    everything and reaped its cells' processes, and the interpreter's orderly shutdown of an imported framework
    only costs time (TensorFlow 0.91 s of CPU, torch 0.43 s, jax 0.16 s, against 0.01-0.03 s; every round ends
    its workers, and under ``fwbench ab`` eight of them).  Cells' processes already end so."""
    for stream in (*streams, sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """The worker's entry point (a process of its own: it ends the process, see :func:`end_now`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--probe"]:
        threads = int(argv[3]) if len(argv) > 3 and argv[2] == "--threads" else os.cpu_count() or 1
        stream = protocol_stream()
        stream.write(json.dumps(probe(argv[1], threads)) + "\n")
        end_now(0, stream)
    die_with_parent()
    stream = protocol_stream()

    def emit(message: dict[str, Any]) -> None:
        stream.write(json.dumps(json_safe(message)) + "\n")
        stream.flush()

    config = json.loads(sys.stdin.readline())
    serve(config, emit)
    end_now(0, stream)
    return 0  # not reached
