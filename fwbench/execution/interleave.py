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

from typing import Any

from fwbench.execution.groups import WorkerGroup
from fwbench.execution.worker_process import WorkerProcess
from fwbench.plan import Cell


class _Turn:
    """One group's worker under interleaving: alive until it dies or the run ends."""

    def __init__(self, group: WorkerGroup) -> None:
        self.group = group
        self.process: WorkerProcess = group.start_worker(group.cells)
        self.alive = False
        self.cause: str | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.process.send(message)

    def receive(self, timeout_s: float) -> dict[str, Any] | None:
        message = self.process.receive(timeout_s)
        if message is None:
            self.alive = False
            self.cause = f"{self.process.cause}; {self.process.stderr_tail()}"
        return message


def run_interleaved(groups: list[WorkerGroup], timeout_s: float) -> list[dict[str, Any]]:
    """Run every group's cells with turns taken sample by sample; returns the records written."""
    records: list[dict[str, Any]] = []
    workers = [_Turn(group) for group in groups]
    for worker in workers:
        hello = worker.receive(timeout_s + 120)
        if hello is None or hello.get("event") != "hello":
            continue
        worker.group.record_hello(hello)
        if hello.get("available"):
            worker.alive = True
        else:
            worker.cause = hello.get("reason", "unavailable")

    def finish(worker: _Turn, cell: Cell, record: dict[str, Any]) -> None:
        records.append(worker.group.finish(cell, record))

    def fail(worker: _Turn, cell: Cell) -> None:
        records.append(worker.group.fail(cell, worker.cause or "worker unavailable"))

    owner = {cell.cell_id: worker for worker in workers for cell in worker.group.cells}
    rounds: dict[tuple, list[Cell]] = {}
    for worker in workers:
        for cell in worker.group.cells:
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
        worker.process.stop()
    return records


def _reply(worker: _Turn, timeout_s: float, wanted: set[str]) -> dict[str, Any] | None:
    while True:
        message = worker.receive(timeout_s)
        if message is None:
            return None
        if message.get("event") in wanted:
            return message
