"""A (framework, device) group of cells and the worker processes that run it.

:class:`WorkerGroup` is what every executor hands work to: the sequential
executor calls :meth:`WorkerGroup.run`, which starts a :class:`WorkerProcess`
and, if it dies mid-cell, fails that cell with the cause and starts a fresh
one for the rest; ``--interleave`` and Ray drive the same group's worker
themselves.  What to do with a finished record (roofline fields, writing,
progress) is the caller's ``finish`` callback, so this package never imports
the runner.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from fwbench.adapters import get_adapter
from fwbench.execution.plan import Cell
from fwbench.execution.worker_process import WorkerProcess, worker_environment
from fwbench.records.results import base_record, with_fields
from fwbench.stats.timing import TimerSettings

CACHE_DIRECTORY = "cache"  # inputs and float64 references shared by a run's workers, removed at the end
UNAVAILABLE_PREFIXES = ("unavailable", "device unavailable")


class Progress:
    """Callbacks the CLI implements with a progress bar; the defaults do nothing."""

    def begin(self, total: int) -> None: ...
    def add(self, cells: int) -> None: ...  # more cells than ``begin`` announced (a repeated round)
    def warn(self, message: str) -> None: ...
    def worker(self, framework: str, device: str, message: str) -> None: ...
    def cell_started(self, cell: Cell) -> None: ...
    def cell_finished(self, cell: Cell, record: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class WorkerSide:
    """One side of ``fwbench ab``: the interpreter its workers run, the environment variables they get, and
    the directories their workload modules come from first (``FWBENCH_MODULE_PATH``)."""

    name: str
    python: str
    environment: dict[str, str] = field(default_factory=dict)
    path: tuple[str, ...] = ()

    def environment_for(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` (a worker's environment) with this side's variables and module path."""
        found = dict(base, **self.environment)
        if "PYTHONPATH" in self.environment and base.get("PYTHONPATH"):  # before fwbench's own, not instead
            found["PYTHONPATH"] = os.pathsep.join([self.environment["PYTHONPATH"], base["PYTHONPATH"]])
        if self.path:
            found["FWBENCH_MODULE_PATH"] = os.pathsep.join(self.path)
        return found

    def describe(self) -> str:
        """``/venv/bin/python OMP_NUM_THREADS=1 path=/checkout``: what makes this side this side."""
        return " ".join([self.python, *(f"{key}={value}" for key, value in sorted(self.environment.items())),
                         *(f"path={entry}" for entry in self.path)])


@dataclass
class GroupSettings:
    """What a worker needs to know besides its cells."""

    out_dir: Path
    run_info: dict[str, Any]
    timer: TimerSettings = field(default_factory=TimerSettings)
    cell_timeout_s: float = 900.0
    memory_limit_bytes: int | None = None
    round_index: int = 1
    interleave: bool = False
    unset_environment: tuple[str, ...] = ()  # variables removed from the workers' environment (--unset-env)
    attempt: int = 1  # 2 when the round retries cells whose process died
    turn_s: float | None = None  # --interleave: seconds of sampling a turn (None: a quarter of ``timer``'s budget)
    look: int | None = None  # the look that will judge this round's cells (runs that extend open sizes)
    # --rounds-per-start: the rounds one start of the workers serves, each a fresh fork of every cell (the
    # interleaved executor only); empty: round_index alone
    served_rounds: tuple[int, ...] = ()
    sides: dict[str, WorkerSide] = field(default_factory=dict)  # fwbench ab: each side's workers
    # fwbench ab's looks: after each of ``look_after_rounds`` rounds of a size, ``settled(its records, that
    # count)`` names the cells (both sides) already decided, and they get no more rounds
    # (fwbench.execution.interleave)
    settled: Callable[[list[dict[str, Any]], int], set[str]] | None = None
    look_after_rounds: tuple[int, ...] = ()
    # fwbench run's extension (fwbench.execution.extension): the most rounds each size takes of those this start
    # serves (a size not named takes them all; the sizes go in this order), and the time.perf_counter() past
    # which no size-round but the start's first begins
    size_rounds: dict[tuple[str, str, str], int] | None = None
    deadline: float | None = None
    # ... and the seconds of sampling a cell of a size takes in each of those rounds, where a look chose rounds
    # longer than the first pass's (fwbench.execution.extension.ROUND_LENGTHS; a size not named: ``timer``'s)
    size_budgets: dict[tuple[str, str, str], float] | None = None


def finished_without_running(cell: Cell, run_info: dict[str, Any], status: str, reason: str,
                             version: str | None = None, **fields: Any) -> dict[str, Any]:
    """The record of a cell that never ran (skipped, or failed with its worker; ``fields``: more to state,
    such as its ``failure`` or ``round``)."""
    return with_fields(base_record(cell.to_dict(), cell.workload.to_dict(), run_info), status=status,
                       reason=reason, framework_version=version, timestamp=datetime.now(timezone.utc).isoformat(),
                       **fields)


def own_worker_kind(cells: list[Cell]) -> str:
    """The kind that wants a worker of its own (``Kind.OWN_WORKER``) when every cell is of it, else ''."""
    from fwbench.kinds import get_kind_class

    kinds = {cell.workload.kind for cell in cells}
    if len(kinds) == 1 and get_kind_class(next(iter(kinds))).OWN_WORKER:
        return next(iter(kinds))
    return ""


class WorkerGroup:
    """Runs one (framework, device) group, restarting the worker after a crash."""

    def __init__(self, framework: str, device: str, cells: list[Cell], settings: GroupSettings,
                 finish: Callable[[Cell, dict[str, Any]], dict[str, Any]], progress: Progress | None = None) -> None:
        self.framework = framework
        self.device = device
        self.cells = cells
        self.settings = settings
        self.run_info = settings.run_info
        self._finish_callback = finish
        self.progress = progress or Progress()
        self.hellos: list[dict[str, Any]] = []
        self.version: str | None = None
        own = own_worker_kind(cells)
        self.side = settings.sides.get(cells[0].side) if cells and cells[0].side else None
        self.log_path = settings.out_dir / "logs" / (f"worker-{framework}-{device}{'-' + own if own else ''}"
                                                     f"{'-' + self.side.name if self.side else ''}.log")

    @property
    def rounds(self) -> tuple[int, ...]:
        """The rounds this start of the group's worker serves, in order."""
        return self.settings.served_rounds or (self.settings.round_index,)

    def finish(self, cell: Cell, record: dict[str, Any], round_index: int | None = None) -> dict[str, Any]:
        """Hand a finished record (stamped with its round, by default the first this start serves, the look
        that judges it, and its attempt when a retry) to the caller."""
        stamped = with_fields(record, round=round_index or self.settings.round_index,
                              **({"worker_round": self.settings.round_index} if len(self.rounds) > 1 else {}),
                              **({"look": self.settings.look} if self.settings.look is not None else {}),
                              **({"attempt": self.settings.attempt} if self.settings.attempt > 1 else {}))
        return self._finish_callback(cell, stamped)

    def fail(self, cell: Cell, cause: str, round_index: int | None = None) -> dict[str, Any]:
        """Finish ``cell`` without running it: skipped if the framework or device is unavailable, else error,
        with how the worker's end caused it (``failure``: timed out, or worker died, which the runner retries)."""
        status = "skipped" if cause.startswith(UNAVAILABLE_PREFIXES) else "error"
        failure = ({"failure": "timed out" if cause.startswith("timed out") else "worker died"}
                   if status == "error" else {})
        return self.finish(cell, finished_without_running(cell, self.run_info, status, cause, self.version, **failure),
                           round_index)

    def start_worker(self, cells: list[Cell]) -> WorkerProcess:
        """A fresh worker for ``cells``, its configuration sent."""
        adapter = get_adapter(self.framework)
        environment = worker_environment({
            **adapter.compile_cache_environment(str(self.cache_directory())),
            **adapter.thread_environment(self.run_info["num_threads"], self.device)},
            unset=self.settings.unset_environment)
        if self.side is not None:
            environment = self.side.environment_for(environment)
        self.progress.worker(self.framework, self.device, "starting")
        worker = WorkerProcess(environment, self.log_path, python=self.side.python if self.side else None)
        worker.send(self.config(cells))
        if not self.settings.interleave:
            worker.close_input()
        return worker

    def cache_directory(self) -> Path:
        """Where the run's workers share inputs, references and compile caches: one per side under ab (a
        side's own module may compute its own reference)."""
        base = self.settings.out_dir / CACHE_DIRECTORY
        return base / self.side.name if self.side is not None else base

    def record_hello(self, message: dict[str, Any]) -> None:
        hello = {key: value for key, value in message.items() if key not in ("event", "device")}
        self.hellos.append({"framework": self.framework, "device": self.device, "round": self.settings.round_index,
                            "device_info": message.get("device"), **hello})
        self.version = message.get("version")

    def config(self, cells: list[Cell]) -> dict[str, Any]:
        """The worker's configuration: its framework, device, threads, timer and cells."""
        return {
            "framework": self.framework,
            "device": self.device,
            "num_threads": self.run_info["num_threads"],
            "timer": self.settings.timer.to_dict(),
            "run": self.run_info,
            "workloads": {cell.workload.name: cell.workload.to_dict() for cell in cells},
            "cells": [cell.to_dict() for cell in cells],
            "cache_dir": str(self.cache_directory()),
            "memory_limit_bytes": self.settings.memory_limit_bytes,
            "interleave": self.settings.interleave,
            "round": self.settings.round_index,
            "unset_environment": list(self.settings.unset_environment),
        }

    def run(self) -> list[dict[str, Any]]:
        """Every cell of the group, one worker after another until each cell has a record.

        A worker that dies in a cell fails that cell (the runner runs it once more at the end); one that dies
        between cells, after it started, is replaced and fails none, unless two in a row die so without
        finishing a cell; one that never started (unavailable, or dead before its hello) fails the rest."""
        pending = deque(self.cells)
        records = []
        idle_deaths = 0
        while pending:
            finished, crashed_cell, cause = self._run_worker(list(pending))
            for cell, record in finished:
                records.append(record)
                pending.remove(cell)
            if cause is None:
                break
            started = self._started
            if cause.startswith(UNAVAILABLE_PREFIXES) or (crashed_cell is None and not started):
                # Unavailable, or it died before starting: retrying would fail the same way.
                records.extend(self.fail(cell, cause) for cell in list(pending))
                break
            if crashed_cell is None:
                idle_deaths = 0 if finished else idle_deaths + 1
                if idle_deaths >= 2:
                    records.extend(self.fail(cell, cause) for cell in list(pending))
                    break
                continue
            records.append(self.fail(crashed_cell, cause))
            pending.remove(crashed_cell)
        return records

    def _run_worker(self, cells: list[Cell]) -> tuple[list[tuple[Cell, dict]], Cell | None, str | None]:
        by_id = {cell.cell_id: cell for cell in cells}
        self._started = False  # set once the worker says it is available
        worker = self.start_worker(cells)
        finished: list[tuple[Cell, dict]] = []
        current: Cell | None = None
        timeout_s = self.settings.cell_timeout_s + 120  # the import counts too
        try:
            while True:
                message = worker.receive(timeout_s)
                if message is None:
                    if worker.cause.startswith("timed out"):
                        what = f"cell {current.cell_id}" if current else "the worker start"
                        return finished, current, f"{worker.cause} ({what}); {worker.stderr_tail()}"
                    return finished, current, f"{worker.cause}; {worker.stderr_tail()}"
                event = message.get("event")
                if event == "hello":
                    self.record_hello(message)
                    if not message.get("available"):
                        worker.wait()
                        return finished, None, message.get("reason", "unavailable")
                    self._started = True
                    self.progress.worker(self.framework, self.device, "running")
                elif event == "start":
                    current = by_id[message["cell_id"]]
                    timeout_s = self.settings.cell_timeout_s
                    self.progress.cell_started(current)
                elif event == "result":
                    record = message["record"]
                    cell = by_id[record["cell_id"]]
                    finished.append((cell, self.finish(cell, record)))
                    current = None
                elif event == "done":
                    worker.wait()
                    return finished, None, None
        except BaseException:
            worker.kill()
            raise
