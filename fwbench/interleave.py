"""``fwbench run --interleave``: frameworks take turns, sample by sample.

Without it, each framework's cells run one after another, so a machine that
drifts (thermal throttling, a neighbour starting a job, a cache warming up)
can favour whichever framework ran in the quiet minutes.  With it, all
workers start together and, for each group of comparable cells (one
workload, one size, one device), the parent prepares every cell (first call,
warm-up), then asks each in turn for one sample until every cell meets the
stopping rule, then has each check and report.  Drift then spreads over all
of them.

The cost: every worker is alive at once (each framework's runtime and a
copy of the group's inputs in memory together), and each sample is one
round trip between processes (tens of microseconds, outside the timed
region).  A worker that dies fails its remaining cells; it is not restarted.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any

from fwbench.plan import Cell


class _Worker:
    def __init__(self, group: Any, framework: str, device: str, cells: list[Cell]) -> None:
        self.group = group  # the runner's _WorkerGroup: environment, logs, finishing records
        self.framework, self.device, self.cells = framework, device, cells
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.alive = False
        self.cause: str | None = None

    def start(self, config: dict[str, Any]) -> None:
        with open(self.group.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fwbench.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, env=self.group._environment(config["num_threads"]), start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.send(config)

    def _read(self) -> None:
        for raw in self.process.stdout:
            self.lines.put(raw.decode("utf-8", errors="replace"))
        self.lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        self.process.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
        self.process.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next protocol message, or None when the worker has gone (cause set)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.cause = f"timed out after {timeout:.0f} s; {self.group._stderr_tail()}"
                self.stop(kill=True)
                return None
            if line is None:
                code = self.process.wait()
                self.cause = f"worker exited with code {code}; {self.group._stderr_tail()}"
                self.alive = False
                return None
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue

    def stop(self, kill: bool = False) -> None:
        from fwbench.runner import _kill

        if self.process is None:
            return
        if kill:
            _kill(self.process)
        else:
            try:
                self.send({"cmd": "exit"})
                self.process.stdin.close()
            except (BrokenPipeError, ValueError, OSError):
                pass
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _kill(self.process)
        self.alive = False


def run_interleaved(groups: list[Any], timeout_s: float) -> list[dict[str, Any]]:
    """Run every group's cells with turns taken sample by sample; returns the records written."""
    from fwbench.runner import _finished_without_running

    records: list[dict[str, Any]] = []
    workers = [_Worker(group, group.framework, group.device, group.cells) for group in groups]
    for worker in workers:
        config = worker.group.config(worker.cells)
        config["interleave"] = True
        worker.group.progress.worker(worker.framework, worker.device, "starting")
        worker.start(config)
    for worker in workers:
        hello = worker.receive(timeout_s + 120)
        if hello is None or hello.get("event") != "hello":
            continue
        worker.group.hellos.append({"framework": worker.framework, "device": worker.device,
                                    "device_info": hello.get("device"),
                                    **{k: v for k, v in hello.items() if k not in ("event", "device")}})
        worker.group.version = hello.get("version")
        if hello.get("available"):
            worker.alive = True
        else:
            worker.cause = hello.get("reason", "unavailable")

    def finish(worker: _Worker, cell: Cell, record: dict[str, Any]) -> None:
        records.append(worker.group._finish(cell, record))

    def fail(worker: _Worker, cell: Cell) -> None:
        status = "skipped" if (worker.cause or "").startswith(("unavailable", "device unavailable")) else "error"
        finish(worker, cell, _finished_without_running(cell, worker.group.run_info, status,
                                                      worker.cause or "worker unavailable", worker.group.version))

    owner = {cell.cell_id: worker for worker in workers for cell in worker.cells}
    rounds: dict[tuple, list[Cell]] = {}
    for worker in workers:
        for cell in worker.cells:
            key = (cell.workload.name, tuple(sorted(cell.params.items())), cell.device)
            rounds.setdefault(key, []).append(cell)
    for members in rounds.values():
        active: list[Cell] = []
        for cell in members:
            worker = owner[cell.cell_id]
            if not worker.alive:
                fail(worker, cell)
                continue
            worker.group.progress.cell_started(cell)
            worker.send({"cmd": "prepare", "cell_id": cell.cell_id})
            reply = _reply(worker, timeout_s, {"prepared", "result"})
            if reply is None:
                fail(worker, cell)
            elif reply["event"] == "result":
                finish(worker, cell, reply["record"])
            else:
                active.append(cell)
        while active:
            for cell in list(active):
                worker = owner[cell.cell_id]
                if not worker.alive:
                    fail(worker, cell)
                    active.remove(cell)
                    continue
                worker.send({"cmd": "sample", "cell_id": cell.cell_id})
                reply = _reply(worker, timeout_s, {"sampled", "result"})
                if reply is None:
                    fail(worker, cell)
                    active.remove(cell)
                elif reply["event"] == "result":
                    finish(worker, cell, reply["record"])
                    active.remove(cell)
                elif reply["done"]:
                    worker.send({"cmd": "finish", "cell_id": cell.cell_id})
                    reply = _reply(worker, timeout_s, {"result"})
                    if reply is None:
                        fail(worker, cell)
                    else:
                        finish(worker, cell, reply["record"])
                    active.remove(cell)
    for worker in workers:
        worker.stop()
    return records


def _reply(worker: _Worker, timeout_s: float, wanted: set[str]) -> dict[str, Any] | None:
    while True:
        message = worker.receive(timeout_s)
        if message is None:
            return None
        if message.get("event") in wanted:
            return message
