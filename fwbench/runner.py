"""The parent side of a run: plan, start one worker per (framework, device), collect.

Workers run one after another, never side by side, so no two timings share
the CPU.  Each finished cell is written to ``results.jsonl`` (flushed and
fsynced) as soon as its line arrives.  A worker that dies or hangs fails
only its in-flight cell, with the cause; a fresh worker takes the rest.
The parent imports no framework.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from fwbench import __version__
from fwbench.adapters import get_adapter
from fwbench.envinfo import host_info, usable_cores
from fwbench.errors import UserError
from fwbench.plan import Cell, Selection, plan_cells
from fwbench.results import (CSV_FILE, MANIFEST_FILE, RESULTS_FILE, ResultsWriter, base_record,
                             read_records, write_csv, write_json_atomic)
from fwbench.spec.loader import Spec
from fwbench.timing import TimerSettings

DEFAULT_CELL_TIMEOUT_S = 900.0
CACHE_DIRECTORY = "cache"  # float64 references shared by the run's workers, removed at the end
STDERR_TAIL_LINES = 15


class Progress:
    """Callbacks the CLI implements with a progress bar; the defaults do nothing."""

    def begin(self, total: int) -> None: ...
    def worker(self, framework: str, device: str, message: str) -> None: ...
    def cell_started(self, cell: Cell) -> None: ...
    def cell_finished(self, cell: Cell, record: dict[str, Any]) -> None: ...


@dataclass
class RunOptions:
    out_dir: Path
    selection: Selection = field(default_factory=Selection)
    num_threads: int | None = None
    timer: TimerSettings = field(default_factory=TimerSettings)
    cell_timeout_s: float = DEFAULT_CELL_TIMEOUT_S
    overwrite: bool = False
    command: list[str] = field(default_factory=list)
    calibration: dict[str, Any] | None = None  # machine peaks (fwbench.calibrate); rows get % of peak
    interleave: bool = False  # frameworks take turns sample by sample (fwbench.interleave)
    memory_limit_bytes: int | None = None  # RLIMIT_AS for each worker
    resume: bool = False  # continue the run in out_dir: only its missing cells (fwbench.resume)
    executor: str = "local"  # or "ray" (fwbench.executors.ray_executor)
    ray_address: str | None = None


@dataclass
class RunOutcome:
    run_id: str
    out_dir: Path
    records: list[dict[str, Any]]
    wall_s: float


def default_threads() -> int:
    return len(usable_cores())


def check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to replace an earlier run's results unless asked to."""
    if (out_dir / RESULTS_FILE).exists() and not overwrite:
        raise UserError(f"{out_dir}: holds results of an earlier run",
                        hint="pass --overwrite to replace them, or choose another --out")


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    check_out_dir(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in (RESULTS_FILE, CSV_FILE, MANIFEST_FILE):
            (out_dir / name).unlink(missing_ok=True)


def run(specs: list[Spec], options: RunOptions, progress: Progress | None = None,
        cells: list[Cell] | None = None) -> RunOutcome:
    """Run ``cells`` (default: every cell the specs and the selection give) and write the run directory."""
    progress = progress or Progress()
    started = time.perf_counter()
    num_threads = options.num_threads or default_threads()
    if cells is None:
        cells = plan_cells(specs, options.selection)
    if not cells:
        raise UserError("no cells match the selection", hint="check --framework/--device/--mode/--filter")
    if options.resume:
        from fwbench.resume import remaining_cells

        manifest, cells, _done = remaining_cells(options.out_dir, cells, num_threads, options.timer.to_dict())
        run_info = {"run_id": manifest["run_id"], "num_threads": num_threads, "host": host_info()}
        options.calibration = options.calibration or manifest.get("calibration")
    else:
        prepare_out_dir(options.out_dir, options.overwrite)
        run_info = {
            "run_id": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6],
            "num_threads": num_threads,
            "host": host_info(),
        }
        manifest = _new_manifest(specs, options, run_info)
    write_json_atomic(manifest, options.out_dir / MANIFEST_FILE)
    return _execute(cells, options, progress, run_info, manifest, started)


def _new_manifest(specs: list[Spec], options: RunOptions, run_info: dict[str, Any]) -> dict[str, Any]:
    selection = options.selection
    return {
        "version": 1,
        "run_id": run_info["run_id"],
        "fwbench_version": __version__,
        "command": options.command,
        "started": datetime.now(timezone.utc).isoformat(),
        "num_threads": run_info["num_threads"],
        "selection": {"frameworks": selection.frameworks, "devices": selection.devices, "modes": selection.modes,
                      "filter_text": selection.filter_text, "quick": selection.quick,
                      "shard": list(selection.shard) if selection.shard else None},
        "timer": options.timer.to_dict(),
        "interleave": options.interleave,
        "executor": options.executor,
        "specs": sorted({w.spec_file for s in specs for w in s.workloads}),
        "host": run_info["host"],
        "workers": [],
        "calibration": _calibration_summary(options.calibration),
    }


def _execute(cells: list[Cell], options: RunOptions, progress: Progress, run_info: dict[str, Any],
             manifest: dict[str, Any], started: float) -> RunOutcome:
    records: list[dict[str, Any]] = []
    runnable = [cell for cell in cells if cell.skip_reason is None]
    progress.begin(len(runnable))
    try:
        with ResultsWriter(options.out_dir) as writer:
            for cell in cells:
                if cell.skip_reason is not None:
                    record = _finished_without_running(cell, run_info, "skipped", cell.skip_reason)
                    writer.write(record)
                    records.append(record)
            supervisors = [_WorkerGroup(framework, device, group, run_info, options, writer, progress)
                           for (framework, device), group in _groups(runnable)]
            if options.executor == "ray":
                from fwbench.executors.ray_executor import run_on_ray

                records.extend(run_on_ray(supervisors, options, options.ray_address))
                for supervisor in supervisors:
                    manifest.setdefault("workers", []).extend(supervisor.hellos)
            elif options.interleave:
                from fwbench.interleave import run_interleaved

                records.extend(run_interleaved(supervisors, options.cell_timeout_s))
                for supervisor in supervisors:
                    manifest.setdefault("workers", []).extend(supervisor.hellos)
            for supervisor in [] if options.interleave or options.executor != "local" else supervisors:
                records.extend(supervisor.run())
                manifest.setdefault("workers", []).extend(supervisor.hellos)
                write_json_atomic(manifest, options.out_dir / MANIFEST_FILE)
    except BaseException:
        manifest["interrupted"] = datetime.now(timezone.utc).isoformat()
        write_json_atomic(manifest, options.out_dir / MANIFEST_FILE)
        raise
    finally:
        shutil.rmtree(options.out_dir / CACHE_DIRECTORY, ignore_errors=True)
    manifest["finished"] = datetime.now(timezone.utc).isoformat()
    manifest["wall_s"] = manifest.get("wall_s", 0.0) + time.perf_counter() - started if options.resume \
        else time.perf_counter() - started
    write_json_atomic(manifest, options.out_dir / MANIFEST_FILE)
    write_csv(read_records(options.out_dir), options.out_dir / CSV_FILE)
    return RunOutcome(run_info["run_id"], options.out_dir, records, time.perf_counter() - started)


def _calibration_summary(calibration: dict[str, Any] | None) -> dict[str, Any] | None:
    if not calibration:
        return None
    return {key: calibration.get(key) for key in ("file", "fingerprint", "measured_at", "num_threads", "devices")}


def _groups(cells: Iterable[Cell]) -> list[tuple[tuple[str, str], list[Cell]]]:
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.framework, cell.device), []).append(cell)
    return list(groups.items())


def _finished_without_running(cell: Cell, run_info: dict[str, Any], status: str, reason: str,
                              version: str | None = None) -> dict[str, Any]:
    record = base_record(cell.to_dict(), cell.workload.to_dict(), run_info)
    record.update(status=status, reason=reason, framework_version=version,
                  timestamp=datetime.now(timezone.utc).isoformat())
    return record


class _WorkerGroup:
    """Runs one (framework, device) group, restarting the worker after a crash."""

    def __init__(self, framework: str, device: str, cells: list[Cell], run_info: dict[str, Any],
                 options: RunOptions, writer: ResultsWriter, progress: Progress) -> None:
        self.framework = framework
        self.device = device
        self.cells = cells
        self.run_info = run_info
        self.options = options
        self.writer = writer
        self.progress = progress
        self.hellos: list[dict[str, Any]] = []
        self.version: str | None = None
        log_dir = options.out_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        self.log_path = log_dir / f"worker-{framework}-{device}.log"

    def _finish(self, cell: Cell, record: dict[str, Any]) -> dict[str, Any]:
        from fwbench.calibrate import roofline_fields

        record.update(roofline_fields(record, self.options.calibration))
        self.writer.write(record)
        self.progress.cell_finished(cell, record)
        return record

    def run(self) -> list[dict[str, Any]]:
        pending = deque(self.cells)
        records = []
        while pending:
            finished, crashed_cell, cause = self._run_worker(list(pending))
            for cell, record in finished:
                records.append(record)
                pending.remove(cell)
            if cause is None:
                break
            if cause.startswith("unavailable") or cause.startswith("device unavailable"):
                for cell in list(pending):
                    records.append(self._finish(cell, _finished_without_running(
                        cell, self.run_info, "skipped", cause, self.version)))
                break
            if crashed_cell is None:
                # It died before starting a cell: retrying would fail the same way.
                for cell in list(pending):
                    records.append(self._finish(cell, _finished_without_running(
                        cell, self.run_info, "error", cause, self.version)))
                break
            records.append(self._finish(crashed_cell, _finished_without_running(
                crashed_cell, self.run_info, "error", cause, self.version)))
            pending.remove(crashed_cell)
        return records

    def _environment(self, num_threads: int) -> dict[str, str]:
        environment = dict(os.environ)
        environment.update(get_adapter(self.framework).thread_environment(num_threads, self.device))
        environment["PYTHONUNBUFFERED"] = "1"
        package_root = str(Path(__file__).resolve().parent.parent)
        environment["PYTHONPATH"] = os.pathsep.join(
            [package_root, *filter(None, [environment.get("PYTHONPATH")])])
        return environment

    def config(self, cells: list[Cell]) -> dict[str, Any]:
        """The worker's configuration: its framework, device, threads, timer and cells."""
        return {
            "framework": self.framework,
            "device": self.device,
            "num_threads": self.run_info["num_threads"],
            "timer": self.options.timer.to_dict(),
            "run": self.run_info,
            "workloads": {cell.workload.name: cell.workload.to_dict() for cell in cells},
            "cells": [cell.to_dict() for cell in cells],
            "cache_dir": str(self.options.out_dir / CACHE_DIRECTORY),
            "memory_limit_bytes": self.options.memory_limit_bytes,
        }

    def _run_worker(self, cells: list[Cell]) -> tuple[list[tuple[Cell, dict]], Cell | None, str | None]:
        num_threads = self.run_info["num_threads"]
        by_id = {cell.cell_id: cell for cell in cells}
        config = self.config(cells)
        self.progress.worker(self.framework, self.device, "starting")
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "fwbench.worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                env=self._environment(num_threads), start_new_session=True,
            )
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            process.stdin.write((json.dumps(config) + "\n").encode("utf-8"))
            process.stdin.close()
        except BrokenPipeError:
            pass
        finished: list[tuple[Cell, dict]] = []
        current: Cell | None = None
        deadline = time.monotonic() + self.options.cell_timeout_s + 120  # the import counts too
        try:
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    _kill(process)
                    what = f"cell {current.cell_id}" if current else "the worker start"
                    return finished, current, (f"timed out after {self.options.cell_timeout_s:.0f} s "
                                               f"({what}); {self._stderr_tail()}")
                if line is None:
                    break
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                event = message.get("event")
                if event == "hello":
                    hello = {key: value for key, value in message.items() if key not in ("event", "device")}
                    self.hellos.append({"framework": self.framework, "device": self.device,
                                        "device_info": message.get("device"), **hello})
                    self.version = message.get("version")
                    if not message.get("available"):
                        process.wait()
                        return finished, None, message.get("reason", "unavailable")
                    self.progress.worker(self.framework, self.device, "running")
                elif event == "start":
                    current = by_id[message["cell_id"]]
                    deadline = time.monotonic() + self.options.cell_timeout_s
                    self.progress.cell_started(current)
                elif event == "result":
                    record = message["record"]
                    cell = by_id[record["cell_id"]]
                    finished.append((cell, self._finish(cell, record)))
                    current = None
                elif event == "done":
                    process.wait()
                    return finished, None, None
        except BaseException:
            _kill(process)
            raise
        code = process.wait()
        return finished, current, f"worker {_describe_exit(code)}; {self._stderr_tail()}"

    def _stderr_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "no worker log"
        tail = [line for line in lines if line.strip()][-STDERR_TAIL_LINES:]
        return "last worker output: " + " | ".join(tail)[-1500:] if tail else "the worker printed nothing"


def _read_lines(stream, lines: queue.Queue) -> None:
    for raw in stream:
        lines.put(raw.decode("utf-8", errors="replace"))
    lines.put(None)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    process.wait()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
