"""The parent side of a run: plan, lock the run directory, run rounds of workers, collect.

A run is ``--rounds`` rounds.  Each round measures every cell in a fresh process,
so every cell is measured in several independent processes (memory layout,
allocator state and the machine's drift differ between them): a start of a
worker per (framework, device) group serves ``rounds_per_start`` rounds, each
forking every cell afresh (``fwbench run`` serves three from one start when
the series take turns, one with ``--sequential``); the groups' order rotates
from start to start, so slow drift falls on every framework alike, and each
round samples for its share of the per-cell budget.  Every finished cell of
every round is written to ``results.jsonl`` (one line per cell and round,
flushed and fsynced) as soon as it arrives; readers combine a cell's rounds into one row whose interval
covers the round-to-round variation (:func:`fwbench.records.combine.combine_rounds`).
Between rounds the parent times a fixed pure-Python probe, so a reader can
tell machine noise from framework noise.  The parent imports no framework.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from fwbench import __version__
from fwbench.adapters.base import DEFAULT_ALLOCATOR_REGIME
from fwbench.errors import UserError
from fwbench.execution import make_executor, rotated
from fwbench.execution.extension import ROUND_LENGTHS, allot, first_pass_timer, open_sizes, pool_s
from fwbench.execution.groups import (
    CACHE_DIRECTORY,
    GroupSettings,
    Progress,
    WorkerGroup,
    finished_without_running,
    own_worker_kind,
)
from fwbench.execution.handoff import handoff_summary
from fwbench.execution.lock import RunDirectoryLock
from fwbench.execution.plan import Cell, Selection, plan_cells, shared_starts
from fwbench.execution.retry import crashed_before, merged, process_died, retry_starts, with_partners
from fwbench.machine.envinfo import host_info, machine_busy_reasons, usable_cores
from fwbench.machine.roofline import roofline_fields
from fwbench.records.combine import combine_rounds
from fwbench.records.journal import ResultsWriter
from fwbench.records.manifest import ManifestFile, RunManifest
from fwbench.records.results import (
    CSV_FILE,
    MANIFEST_FILE,
    prepare_out_dir,
    read_records,
    with_fields,
    with_settings,
    write_csv,
)
from fwbench.spec.loader import Spec
from fwbench.stats.pooling import contended_threshold
from fwbench.stats.timing import TimerSettings

DEFAULT_CELL_TIMEOUT_S = 900.0
MIN_SAMPLES_PER_ROUND = 3

__all__ = ["DEFAULT_CELL_TIMEOUT_S", "Progress", "RunOptions", "RunOutcome", "default_threads", "run",
           "round_timer"]


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path
    selection: Selection = field(default_factory=Selection)
    num_threads: int | None = None
    timer: TimerSettings = field(default_factory=TimerSettings)  # budget_s: per cell, over all rounds
    rounds: int = 1  # fresh worker processes per cell ('fwbench run' defaults to 3)
    rounds_per_start: int = 1  # rounds one start of the workers serves, each forking every cell afresh (interleaved)
    cell_timeout_s: float = DEFAULT_CELL_TIMEOUT_S
    overwrite: bool = False
    command: list[str] = field(default_factory=list)
    calibration: dict[str, Any] | None = None  # machine peaks (fwbench.machine.calibration); rows get % of peak
    interleave: bool = False  # frameworks take turns, a block of samples each (fwbench.execution.interleave)
    memory_limit_bytes: int | None = None  # RLIMIT_AS for each CPU worker (accelerators: a device memory guard)
    matmul_precision: str | None = None  # every workload's, overriding its spec field ("highest" or "high")
    cache: str | None = None  # every workload's, overriding its spec field ("warm" or "cold")
    allocator: str | None = None  # every workload's, overriding its spec field ("steady" or "fresh")
    unset_environment: tuple[str, ...] = ()  # variables every worker runs without (--unset-env)
    turn_s: float | None = None  # --interleave: seconds of sampling a turn (--turn-ms); None: a quarter budget
    repeat_contended: bool = True  # run the sizes of contended cells once more (fwbench ab: many rounds, no need)
    extend: bool = False  # first pass on half the budget, the rest to sizes still open (fwbench.execution.extension)
    sides: dict[str, Any] = field(default_factory=dict)  # fwbench ab: side name -> execution.groups.WorkerSide
    # fwbench ab: after each of these counts of a size's rounds, the cells settled(records of the size, the
    # count) names get no more
    settled: Callable[[list[dict[str, Any]], int], set[str]] | None = None
    look_after_rounds: tuple[int, ...] = ()
    resume: bool = False  # continue the run in out_dir: only its missing cells and rounds (fwbench.execution.resume)
    executor: str = "local"  # or "ray" (fwbench.execution.ray_executor)
    ray_address: str | None = None

    @classmethod
    def from_manifest(cls, manifest: RunManifest, out_dir: Path, **given: Any) -> "RunOptions":
        """The options of the run ``manifest`` describes, to finish it in ``out_dir`` (``--resume``): everything
        that decides its timings (selection, threads, timer, rounds, turns, extension, precision, cache,
        allocator, unset variables) comes from the manifest; ``given`` sets the rest (command, timeout,
        executor, memory limit)."""
        recorded = dict(manifest.selection)
        recorded["shard"] = tuple(recorded["shard"]) if recorded.get("shard") else None
        recorded["sides"] = tuple(recorded.get("sides") or ())
        return cls(out_dir=Path(out_dir), selection=Selection(**recorded), num_threads=manifest.num_threads,
                   timer=TimerSettings(**manifest.timer), rounds=manifest.rounds_planned,
                   rounds_per_start=manifest.rounds_per_start or 1,
                   interleave=bool(manifest.interleave), turn_s=manifest.turn_s, extend=bool(manifest.extend),
                   matmul_precision=manifest.matmul_precision, cache=manifest.cache, allocator=manifest.allocator,
                   unset_environment=tuple(manifest.unset_environment or ()), resume=True, **given)


@dataclass
class RunOutcome:
    run_id: str
    out_dir: Path
    records: list[dict[str, Any]]  # one per cell, its rounds combined
    wall_s: float


def default_threads() -> int:
    return len(usable_cores())


def round_timer(timer: TimerSettings, rounds: int) -> TimerSettings:
    """Each round's share of the per-cell budget, and at least three samples a round (the round's median)."""
    if rounds <= 1:
        return timer
    return dataclasses.replace(timer, budget_s=timer.budget_s / rounds,
                               min_samples=min(timer.min_samples, MIN_SAMPLES_PER_ROUND))


def first_rounds_timer(options: RunOptions) -> TimerSettings:
    """The timer of each of the run's ``--rounds`` rounds: their share of the budget, or with ``--extend`` of
    the first pass's share of it (an extension round samples a multiple of this one's budget)."""
    return round_timer(first_pass_timer(options.timer) if options.extend else options.timer, options.rounds)


def run(specs: list[Spec], options: RunOptions, progress: Progress | None = None,
        cells: list[Cell] | None = None) -> RunOutcome:
    """Run ``cells`` (default: every cell the specs and the selection give) and write the run directory."""
    progress = progress or Progress()
    started = time.perf_counter()
    contended_threshold()  # a bad FWBENCH_CONTENDED_CORES stops the run before anything is overwritten
    num_threads = options.num_threads or default_threads()
    specs, cells = with_run_settings(specs, cells, options)
    if cells is None:
        cells = plan_cells(specs, options.selection)
    if not cells:
        raise UserError("no cells match the selection", hint="check --framework/--device/--mode/--filter")
    if all(cell.skip_reason is not None for cell in cells):
        raise UserError(f"nothing can run: every one of the {len(cells)} selected cells would be skipped ("
                        + skip_summary([cell.skip_reason for cell in cells]) + ")",
                        hint="select a device, framework or mode that this machine has ('fwbench env' lists them)")
    with RunDirectoryLock(options.out_dir, options.command):
        if options.resume:
            from fwbench.execution.resume import remaining_rounds

            recorded, pending = remaining_rounds(options.out_dir, cells, num_threads, options.timer.to_dict())
            manifest = RunManifest.from_dict(recorded).resume()
            options = dataclasses.replace(options, rounds=manifest.rounds_planned,
                                          calibration=options.calibration or manifest.calibration)
            run_info = {"run_id": manifest.run_id, "num_threads": num_threads, "host": host_info()}
        else:
            prepare_out_dir(options.out_dir, options.overwrite)
            run_info = {
                "run_id": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6],
                "num_threads": num_threads,
                "host": host_info(),
            }
            manifest = _new_manifest(specs, options, run_info)
            pending = {round_index: list(cells) for round_index in range(1, options.rounds + 1)}
        journal = ManifestFile(options.out_dir / MANIFEST_FILE, manifest)
        journal.save()
        return _execute(cells, pending, options, progress, run_info, journal, started)


def with_run_settings(specs: list[Spec], cells: list[Cell] | None,
                      options: RunOptions) -> tuple[list[Spec], list[Cell] | None]:
    """Copies of the specs (and of given cells) whose workloads carry the run's ``--matmul-precision``,
    ``--cache`` and ``--allocator`` where set; the caller's specs and cells are left as they were."""
    def settled(workload: Any) -> Any:
        return dataclasses.replace(workload, matmul_precision=options.matmul_precision or workload.matmul_precision,
                                   cache=options.cache or workload.cache,
                                   allocator=options.allocator or workload.allocator)

    copies = {}
    new_specs = []
    for spec in specs:
        workloads = [copies.setdefault(id(workload), settled(workload)) for workload in spec.workloads]
        new_specs.append(dataclasses.replace(spec, workloads=workloads))
    if cells is not None:
        cells = [dataclasses.replace(cell, workload=copies.get(id(cell.workload)) or settled(cell.workload))
                 for cell in cells]
    return new_specs, cells


def _new_manifest(specs: list[Spec], options: RunOptions, run_info: dict[str, Any]) -> RunManifest:
    selection = options.selection
    return RunManifest.new(
        run_info["run_id"], run_info["host"], __version__,
        command=tuple(options.command),
        num_threads=run_info["num_threads"],
        selection={"frameworks": selection.frameworks, "devices": selection.devices, "modes": selection.modes,
                   "filter_text": selection.filter_text, "quick": selection.quick, "full": selection.full,
                   "shard": list(selection.shard) if selection.shard else None,
                   "replicas": selection.replicas, "sides": list(selection.sides)},
        timer=options.timer.to_dict(),
        rounds_planned=options.rounds,
        rounds_per_start=options.rounds_per_start,
        round_timer=first_rounds_timer(options).to_dict(),
        interleave=options.interleave,
        turn_s=options.turn_s,
        extend=options.extend,
        matmul_precision=options.matmul_precision,
        cache=options.cache,
        allocator=options.allocator,
        allocator_default=DEFAULT_ALLOCATOR_REGIME,
        unset_environment=tuple(options.unset_environment),
        executor=options.executor,
        specs=tuple(sorted({w.spec_file for s in specs for w in s.workloads})),
        calibration=_calibration_summary(options.calibration),
    )


PROBE_REPEATS = 5


def machine_probe_s() -> float:
    """The fastest of a few timings of a fixed pure-Python loop (~20 ms): the machine's speed right now."""
    times = []
    for _ in range(PROBE_REPEATS):
        start = time.perf_counter()
        total = 0
        for value in range(400_000):
            total += value
        times.append(time.perf_counter() - start)
    return min(times)


def _execute(cells: list[Cell], pending: dict[int, list[Cell]], options: RunOptions, progress: Progress,
             run_info: dict[str, Any], journal: ManifestFile, started: float) -> RunOutcome:
    runnable_ids = {cell.cell_id for cell in cells if cell.skip_reason is None}
    busy = journal.save(journal.manifest.with_facts(busy_at_start=machine_busy_reasons())).busy_at_start or ()
    for reason in busy:
        progress.warn(f"{reason}; timings will be noisier than this machine allows")
    for warning in (journal.manifest.host.get("accelerators") or {}).get("warnings", []):
        progress.warn(warning)
    progress.begin(sum(1 for todo in pending.values() for cell in todo if cell.cell_id in runnable_ids))
    executor = make_executor(options.executor, options.interleave, options.cell_timeout_s, options.ray_address)
    try:
        with ResultsWriter(options.out_dir) as writer:
            for cell in pending.get(1, []):
                if cell.skip_reason is not None:
                    writer.write(finished_without_running(cell, run_info, "skipped", cell.skip_reason, round=1))

            # Ray runs groups side by side, so their cells take CPU from each other: no round is judged there.
            threshold = contended_threshold() if options.executor == "local" else None
            contended = _contended_before(options, cells, threshold) if options.resume else {}
            crashed = crashed_before(options.out_dir, cells) if options.resume else {}

            def finish(cell: Cell, record: dict[str, Any]) -> dict[str, Any]:
                record = with_settings(with_fields(record, **roofline_fields(record, options.calibration)),
                                       contended_cores=threshold)
                writer.write(record)
                progress.cell_finished(cell, record)
                if _contended(record, threshold):
                    contended[cell.cell_id] = cell
                if process_died(record):
                    crashed.setdefault(record["round"], {})[cell.cell_id] = cell
                return record

            timer = first_rounds_timer(options)

            def run_round(round_index: int, todo: list[Cell], repeat: bool = False, attempt: int = 1,
                          look: int | None = None, served: tuple[int, ...] = (),
                          size_rounds: dict[tuple[str, str, str], int] | None = None,
                          deadline: float | None = None,
                          size_budgets: dict[tuple[str, str, str], float] | None = None) -> None:
                look = look or (1 if options.extend else None)
                settings = GroupSettings(out_dir=options.out_dir, run_info=run_info, timer=timer,
                                         cell_timeout_s=options.cell_timeout_s,
                                         memory_limit_bytes=options.memory_limit_bytes, round_index=round_index,
                                         interleave=options.interleave,
                                         unset_environment=tuple(options.unset_environment), attempt=attempt,
                                         turn_s=options.turn_s, look=look, sides=options.sides,
                                         served_rounds=served if len(served) > 1 else (),
                                         settled=options.settled if attempt == 1 else None,
                                         look_after_rounds=options.look_after_rounds if attempt == 1 else (),
                                         size_rounds=size_rounds, deadline=deadline, size_budgets=size_budgets)
                groups = rotated([WorkerGroup(framework, device, group_cells, settings, finish, progress)
                                  for (framework, device), group_cells in _groups(todo)], round_index)
                order = [f"{group.framework}@{group.device}" for group in groups]
                manifest = journal.manifest
                for number in served or (round_index,):  # one entry per round, written once for the start
                    manifest = manifest.with_round({
                        "round": number, "started": datetime.now(timezone.utc).isoformat(), "order": order,
                        **({"machine_probe_s": machine_probe_s()} if number == round_index else
                           {"workers_of_round": round_index}),
                        **({"repeat": True} if repeat else {}), **({"look": look} if look else {}),
                        **({"retry": True} if attempt > 1 else {})})
                journal.save(manifest)
                executor.run_round(groups)
                journal.save(journal.manifest.with_workers(hello for group in groups for hello in group.hellos))

            per_start = options.rounds_per_start if options.interleave and options.executor == "local" else 1
            for served, todo in starts(pending, runnable_ids, per_start):
                run_round(served[0], todo, served=served)
            if contended and options.rounds >= 2 and options.repeat_contended:
                # Every series of a contended cell's workload size runs again, so that its new round has
                # partners to be paired with (the leaderboard pairs rounds by number).
                sizes = {cell.size for cell in contended.values()}
                repeat_cells = [cell for cell in cells if cell.cell_id in runnable_ids and cell.size in sizes]
                journal.manifest = journal.manifest.with_facts(repeated={
                    "round": options.rounds + 1, "cells": [cell.cell_id for cell in repeat_cells],
                    "contended": sorted(contended),
                    "reason": f"other processes took {threshold} of a core or more while the contended cells were "
                              "timed; every series of their workload sizes runs again"})
                progress.warn(f"{len(contended)} cells were timed while other processes took CPU: running their "
                              f"workload sizes once more ({len(repeat_cells)} cells, round {options.rounds + 1})")
                progress.add(len(repeat_cells))
                run_round(options.rounds + 1, repeat_cells, repeat=True)
            def retry_crashed() -> None:
                # Cell-rounds whose process died (killed, as the OOM killer does, or crashed) run once more in a
                # fresh worker, at their round's look and length; the retry's record supersedes the failed one
                # (records.combine._latest_attempts).  A retry that dies too is not retried (attempt 2).
                retry = {round_index: dict(todo) for round_index, todo in crashed.items() if todo}
                crashed.clear()
                if not retry:
                    return
                count = sum(len(todo) for todo in retry.values())
                records = read_records(options.out_dir)
                rerun = with_partners(records, retry, {cell.cell_id: cell for cell in cells
                                                       if cell.cell_id in runnable_ids})
                partners = sum(len(todo) for todo in rerun.values()) - count
                journal.manifest = journal.manifest.with_facts(
                    retried=merged(journal.manifest.retried, {number: set(todo) for number, todo in retry.items()}),
                    rerun_beside=merged(journal.manifest.rerun_beside,
                                        {number: set(todo) - set(retry[number]) for number, todo in rerun.items()}))
                progress.warn(f"{count} cell-rounds failed because their process died: running them once more"
                              + (f", with the {partners} cell-rounds paired with them in those rounds, so that "
                                 "their turns are paired in time" if partners else ""))
                progress.add(count + partners)
                for served, todo, look, budgets in retry_starts(records, journal.manifest.looks or (), rerun,
                                                                 timer.budget_s, per_start):
                    run_round(served[0], todo, attempt=2, look=look, size_budgets=budgets or None, served=served)

            retry_crashed()
            if options.extend:
                _extend(cells, runnable_ids, options, journal, run_round, progress, per_start)
                retry_crashed()  # the extension's own rounds
            journal.manifest = journal.manifest.with_facts(machine_noise=_machine_noise(journal.manifest.rounds))
    except BaseException:
        try:
            journal.save(journal.manifest.interrupt())
        except UserError:
            pass  # the disk is full or gone: the error being raised already says so
        raise
    finally:
        shutil.rmtree(options.out_dir / CACHE_DIRECTORY, ignore_errors=True)
    records = read_records(options.out_dir)  # read once: the hand-off probe's summary, then the combined cells
    journal.manifest = journal.manifest.with_facts(handoff=handoff_summary(records))
    earlier_s = (journal.manifest.wall_s or 0.0) if options.resume else 0.0
    journal.save(journal.manifest.finish(earlier_s + time.perf_counter() - started))
    combined = combine_rounds(records)
    write_csv(combined, options.out_dir / CSV_FILE)
    return RunOutcome(run_info["run_id"], options.out_dir, combined, time.perf_counter() - started)


def starts(pending: dict[int, list[Cell]], runnable_ids: set[str],
           per_start: int) -> list[tuple[tuple[int, ...], list[Cell]]]:
    """The worker starts that serve the pending rounds: up to ``per_start`` consecutive rounds with the same
    runnable cells share one start (``--rounds-per-start``); rounds with nothing runnable need none."""
    todo = {round_index: [cell for cell in pending[round_index] if cell.cell_id in runnable_ids]
            for round_index in sorted(pending)}
    return shared_starts([(round_index, tuple(cell.cell_id for cell in cells), cells)
                          for round_index, cells in todo.items() if cells], per_start)


def _extend(cells: list[Cell], runnable_ids: set[str], options: RunOptions, journal: ManifestFile,
            run_round: Any, progress: Progress, per_start: int) -> None:
    """Look at the open sizes' verdicts and give the ones the pool (wall seconds) can settle the rounds they
    need, their contested series only, from one start of the workers (:mod:`fwbench.execution.extension`), then
    look again, while the pool lasts; each look is written to ``run.json`` (``looks``).  Where one start serves
    one round (``per_start``: ``--rounds-per-start 1``, ``--sequential``, Ray) a look gives each size one."""
    from fwbench.stats.paired import series_name

    looks = journal.manifest.looks or ()
    pool = looks[-1]["pool_left_s"] if looks else pool_s(options.timer, len(runnable_ids))
    round_budget_s = first_rounds_timer(options).budget_s
    # a round longer than the first pass's is a budget sent with each prepare: the interleaved executor's
    lengths = ROUND_LENGTHS if options.interleave and options.executor == "local" else (1,)
    among = {tuple(entry["size"]) for entry in looks[-1]["open"]} if looks else None
    look = len(looks) + 1
    while True:
        still_open = open_sizes(options.out_dir, among, round_budget_s, lengths)
        among = set(still_open)
        given = allot(still_open, pool) if pool > 0 else {}
        if per_start <= 1:
            given = {size: 1 for size in given}
        todo = [cell for cell in cells if cell.cell_id in runnable_ids and cell.size in given
                and still_open[cell.size].needs(series_name(cell.to_dict()))]
        entry = {"look": look, "open": [found.as_dict(size, pool, given.get(size, 0))
                                        for size, found in still_open.items()],
                 "round_given": bool(todo), "pool_left_s": pool}
        journal.save(journal.manifest.with_look(entry))
        if not entry["round_given"]:
            if still_open and pool > 0:
                progress.warn(f"look {look}: {len(still_open)} size{'s' if len(still_open) > 1 else ''} still open, "
                              f"each needing more rounds than the {pool:.0f} s of budget left pay for: no more rounds")
            return
        beyond = len(still_open) - len(given)
        cell_rounds = sum(given[cell.size] for cell in todo)
        progress.warn(f"look {look}: {len(still_open)} size{'s' if len(still_open) > 1 else ''} still open; "
                      f"{len(given)} get{'s' if len(given) == 1 else ''} more rounds, "
                      f"{'its' if len(given) == 1 else 'their'} undecided series and the fastest "
                      f"only ({cell_rounds} cell-rounds, {pool:.0f} s of the budget left)"
                      + (f"; {beyond} need more rounds than that pays for" if beyond else ""))
        progress.add(cell_rounds)
        started = time.perf_counter()
        first = max(item["round"] for item in journal.manifest.rounds) + 1
        run_round(first, todo, look=look + 1, served=tuple(range(first, first + max(given.values()))),
                  size_rounds=given, deadline=started + pool,
                  size_budgets={size: round_budget_s * still_open[size].length for size in given
                                if still_open[size].length > 1})
        round_wall_s = time.perf_counter() - started
        pool -= round_wall_s
        journal.save(journal.manifest.with_last_look(round_wall_s=round_wall_s, pool_left_s=pool))
        look += 1


def _contended_before(options: RunOptions, cells: list[Cell], threshold: float | None) -> dict[str, Cell]:
    """On ``--resume``: the cells an earlier session found contended whose repeat round is not yet written."""
    if threshold is None:
        return {}
    by_id = {cell.cell_id: cell for cell in cells}
    records = read_records(options.out_dir)
    repeated = {record["cell_id"] for record in records if (record.get("round") or 1) > options.rounds}
    return {record["cell_id"]: by_id[record["cell_id"]] for record in records
            if record.get("cell_id") in by_id and record["cell_id"] not in repeated and _contended(record, threshold)}


def reason_counts(reasons: list[str]) -> dict[str, int]:
    """Each distinct reason with how many times it came, in the order first seen."""
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def skip_summary(reasons: list[str]) -> str:
    """'18 x device absent: ...; 2 x ...': each distinct reason with its count, the commonest first."""
    return "; ".join(f"{count} x {reason}" for reason, count in
                     sorted(reason_counts(reasons).items(), key=lambda item: -item[1]))


def _contended(record: dict[str, Any], threshold: float | None) -> bool:
    """Whether a measured round's record says other processes took ``threshold`` cores or more meanwhile."""
    return (threshold is not None and record.get("status") == "ok"
            and (record.get("other_cpu_cores") or 0) >= threshold)


def _machine_noise(rounds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How much the fixed probe's time moved between rounds: the machine's own share of the noise."""
    probes = [entry["machine_probe_s"] for entry in rounds if entry.get("machine_probe_s")]
    if not probes:
        return None
    return {"probe": "the fastest of 5 runs of a 400,000-step pure-Python loop, before each round",
            "probe_median_s": statistics.median(probes),
            "probe_spread": max(probes) / min(probes) - 1}


def _calibration_summary(calibration: dict[str, Any] | None) -> dict[str, Any] | None:
    if not calibration:
        return None
    return {key: calibration.get(key) for key in ("file", "fingerprint", "measured_at", "num_threads", "devices")}


def _groups(cells: Iterable[Cell]) -> list[tuple[tuple[str, str], list[Cell]]]:
    """Cells by (framework, device); a kind that wants a worker of its own (``Kind.OWN_WORKER``, such as
    ``keras``, which imports Keras into the worker before its cells fork) gets one per framework and device."""
    groups: dict[tuple[str, str, str, str], list[Cell]] = {}
    for cell in cells:  # under fwbench ab each side has workers of its own (its interpreter and environment)
        groups.setdefault((cell.framework, cell.device, own_worker_kind([cell]), cell.side), []).append(cell)
    return [((framework, device), group_cells) for (framework, device, _, _), group_cells in groups.items()]
