"""``fwbench run --interleave``: frameworks take turns, a block of samples each.

Without it, each framework's cells run one after another, so a machine that
drifts (thermal throttling, a neighbour starting a job, a cache warming up)
can favour whichever framework ran in the quiet minutes.  With it, all
workers start together and, for each group of comparable cells (one
workload, one size, one device), the parent prepares every cell (first call,
warm-up), then asks each in turn, in a new random order every cycle (the
two sides of an A/B cell back to back), for a block of samples
(``--turn-ms``, or a quarter of the workers' per-round budget, after one
untimed call that wakes the framework's threads unless a call is two
turns long) until every cell
meets the stopping rule, then has each check and report.  Drift then spreads
over all of them, and each record says when its turns began and how many
samples each took (``turn_starts_s``, ``turn_sample_counts``), so turns of
different series can be paired in time (:mod:`fwbench.stats.paired`).

Between its turns a cell's process is stopped (SIGSTOP; SIGCONT before its
next turn or its end): NumPy's OpenBLAS threads keep spinning for about 130
ms of CPU after a multi-threaded GEMM and OpenMP pools for a while, and a turn
taken beside such a thread runs on one core instead of two.  Waiting for the
process to go quiet instead (the earlier remedy) still let idle pools take up
to half a core from torch and jax turns on GEMMs (``other_cpu_cores``) and made
torch/eager read 2.3x slower than NumPy on a 256 GEMM where bench/rmit.py finds
it 1.2x faster; stopped, they took none in the GEMMs' turns
(docs/methodology.md).  ``interleave_turns`` and ``settings.interleave`` say
what was done.

Each cycle's turns run their process's main thread on one core (``sched_setaffinity`` of the cell's pid,
before SIGCONT), the next of the workers' cores the next cycle: a main thread left to the scheduler stays
on the core it last ran on, and this machine's two cores differ in speed by up to 1.5x for a few hundred
milliseconds at a time (``bench/core_speed.py``), so the two partners of a pair on different cores measured
the cores as much as the code.  In ``fwbench ab`` runs at n=256 this took the between-round variance of
log(candidate/baseline), the median over runs, from 0.004-0.011 to 0.0000-0.0018 by framework
(docs/methodology.md).  The framework's pool threads keep the worker's cores, so multi-threaded cells keep
most of theirs, except where the calling thread computes beside the pool (the adapter's ``CALLER_WORKS``:
NumPy, torch): their pool threads run on the other cores during the turn (:func:`pin_main_thread`).
A single-threaded run (``--threads 1``, ``fwbench ab``'s default) puts every thread of the cell's process on
the cycle's core (:func:`pin_process`): the caller and the one pool thread of jax or TensorFlow hand nothing
from core to core, and the workers themselves stay unpinned so that imports and preparation use every core
(:func:`fwbench.worker.process.pin_threads`).  ``turn_cores`` says where each turn ran.

The cost: every worker is alive at once (each framework's runtime and a
copy of the group's inputs in memory together), and each sample is one
round trip between processes (tens of microseconds, outside the timed
region).  A worker that dies fails its remaining cells; it is not restarted.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from fwbench.adapters.base import get_adapter
from fwbench.execution.groups import WorkerGroup
from fwbench.execution.handoff import HandoffProbe
from fwbench.execution.placement import pause, pin_main_thread, pin_process, resume
from fwbench.execution.plan import Cell
from fwbench.execution.worker_process import WorkerProcess
from fwbench.records.results import with_fields, with_settings
from fwbench.stats.sampler import REWARM_BELOW_BLOCKS

TURNS_PER_CELL = 4  # a cell's sampling budget for the round is taken in about this many turns
# Samples of 1 ms at least when the series take turns (10 ms otherwise): a turn of 20 ms then holds many, and
# its median drops the ones an interrupt or another process hit; with 10 ms a turn was one sample or two.
TURN_SAMPLE_S = 0.001
# The warm-up when the series take turns: windows of 10 ms, 30 ms in all at most (a call that compiled still
# restarts it).  A turn begins with an untimed call (but a long call's), and its samples count only against its
# partner's turn beside it, so the warm-up has only to settle the loop count.  The default's windows of 50 ms, up to
# 300 ms a cell, took 43-57 s of each round of `make bench` (208 cells), more than its 25 s of sampling; with
# these, three runs of bench/mixed.yaml took 33-36 s against 40-45 s, deciding as many sizes (2, 2, 3 of 5
# against 2, 3, 2, alternating; session 19).
TURN_WARMUP_S = 0.01
TURN_MAX_WARMUP_S = 0.03


def caller_works(framework: str) -> bool:
    """The adapter's ``CALLER_WORKS`` (False for a name that is no adapter), read in the parent, not reported by
    the worker: under ``fwbench ab`` both sides' pools are then placed alike, whatever version of fwbench each
    side's interpreter has."""
    try:
        return bool(getattr(get_adapter(framework), "CALLER_WORKS", False))
    except KeyError:
        return False


def prepares_together(settings: Any, round_index: int = 1) -> bool:
    """Whether the cells of round ``round_index`` of a run with these
    :class:`fwbench.execution.groups.GroupSettings` are prepared side by side (a size's forks, first calls and
    warm-ups at once, on all cores) rather than one after another: under ``fwbench ab`` (its workers have
    sides), whose verdicts rest on the turns alone and whose rounds spent a third of their time preparing one
    cell at a time, and in a plain run's rounds after the first.  Each cell then counts other processes' CPU
    (``other_cpu_cores``) from its first turn, not from its warm-up, which the others' shared.  A plain run's
    first round prepares one at a time, since the run reports each cell's first call (``first_call_s``) from
    it, and a first call beside another cell's would read slower than a fresh script's; the later rounds'
    first calls are kept per round (``first_call_s_by_round``) and their records say they shared the cores."""
    return bool(settings.sides) or round_index > 1


def cycle_core(cores: list[int], cycle: int) -> int | None:
    """The core of cycle ``cycle``'s turns: the workers' cores in turn (None with no cores to choose from)."""
    return cores[cycle % len(cores)] if cores else None


class _Turn:
    """One group's worker under interleaving: alive until it dies or the run ends."""

    def __init__(self, group: WorkerGroup) -> None:
        self.group = group
        self.process: WorkerProcess = group.start_worker(group.cells)
        self.alive = False
        self.cause: str | None = None
        self.cores: list[int] = []  # the worker's CPU affinity, from its hello
        self.caller_works = caller_works(group.framework)
        self.single_threaded = int(group.settings.run_info.get("num_threads") or 0) == 1

    def pool_apart(self, cell: Cell) -> bool:
        """Whether ``cell``'s pool threads run on the cores its main thread does not have for the turn: a CPU
        cell of a framework whose calling thread computes beside its pool (:func:`pin_main_thread`)."""
        return self.caller_works and cell.device == "cpu"

    def send(self, message: dict[str, Any]) -> None:
        self.process.send(message)

    def receive(self, timeout_s: float) -> dict[str, Any] | None:
        message = self.process.receive(timeout_s)
        if message is None:
            self.alive = False
            self.cause = f"{self.process.cause}; {self.process.stderr_tail()}"
        return message


def run_interleaved(groups: list[WorkerGroup], timeout_s: float) -> list[dict[str, Any]]:
    """Run every group's cells with turns taken a block of samples at a time; returns the records written."""
    records: list[dict[str, Any]] = []
    workers = [_Turn(group) for group in groups]
    threads = int((groups[0].settings.run_info.get("num_threads") or 1) if groups else 1)
    probe = HandoffProbe.start(threads, sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [])
    for worker in workers:
        hello = worker.receive(timeout_s + 120)
        if hello is None or hello.get("event") != "hello":
            continue
        worker.group.record_hello(hello)
        worker.cores = sorted(int(core) for core in hello.get("cpu_affinity") or [])
        if hello.get("available"):
            worker.alive = True
        else:
            worker.cause = hello.get("reason", "unavailable")

    pids: dict[str, int | None] = {}
    turns: dict[str, list[int | None]] = {}  # cell id: the core of each turn taken in the current round
    probes: dict[str, float] = {}  # cell id: the hand-off probe before its size-round's turns

    def finish(worker: _Turn, cell: Cell, record: dict[str, Any], round_index: int) -> None:
        if cell.cell_id in turns:
            block = worker.group.settings.turn_s
            cores = turns[cell.cell_id]
            prepare = ("; the size's cells prepared side by side (first_call_s and the warm-up shared the cores)"
                       if prepares_together(worker.group.settings, round_index) else "")
            pool = ("; every thread of the process on that core (one thread)" if worker.single_threaded else
                    "; its other threads on the other cores (the calling thread computes beside them)"
                    if worker.pool_apart(cell) else "")
            probed = {"handoff_speedup": probes[cell.cell_id]} if cell.cell_id in probes else {}
            record = with_settings(with_fields(record, interleave_turns=len(cores), turn_cores=cores, **probed),
                                   interleave=(
                f"turns of {f'{block * 1000:g} ms' if block else 'a quarter of the round budget'} of sampling "
                "in a new random order each cycle, one untimed call first"
                f"{f' (none for calls of {REWARM_BELOW_BLOCKS * block * 1000:g} ms or more)' if block else ''}; "
                "the cell's process stopped "
                "(SIGSTOP) between its turns; each cycle's turns with the main thread on one core, the next "
                f"core the next cycle{pool}{prepare}"))
        records.append(worker.group.finish(cell, record, round_index))

    def fail(worker: _Turn, cell: Cell, round_index: int) -> None:
        records.append(worker.group.fail(cell, worker.cause or "worker unavailable", round_index))

    owner = {cell.cell_id: worker for worker in workers for cell in worker.group.cells}
    sizes: dict[tuple, list[Cell]] = {}
    for worker in workers:
        for cell in worker.group.cells:
            sizes.setdefault(cell.size, []).append(cell)
    served = groups[0].rounds if groups else ()
    if groups and groups[0].settings.size_rounds:  # an extension's sizes in their allotment's order
        order = {size: index for index, size in enumerate(groups[0].settings.size_rounds)}
        sizes = dict(sorted(sizes.items(), key=lambda item: order.get(item[0], len(order))))
    # Each cycle visits the active cells in a new random order (randomized multiple interleaved trials), seeded
    # by the round so a run can be repeated.
    generator = random.Random(groups[0].settings.round_index if groups else 0)
    settings = groups[0].settings if groups else None
    began = False  # a start whose time is up still takes one size-round: its imports are paid for
    try:
        for members in sizes.values():
            # --rounds-per-start: each round this start serves forks every cell of the size afresh from its worker
            rounds = _rounds_of(members, settings, served)
            for number, round_index in enumerate(rounds):
                if began and _out_of_time(settings):  # the progress bar forgets the rounds it will not take
                    groups[0].progress.add(-len(members) * (len(rounds) - number))
                    break
                if settings is not None and settings.settled is not None and number in settings.look_after_rounds:
                    members = _still_open(members, records, settings.settled, number, len(served) - number,
                                          groups[0].progress)
                    if not members:
                        break
                turns.clear()
                probes.clear()
                _interleave_size(members, owner, pids, turns, generator, timeout_s, round_index, probe, probes,
                                 lambda worker, cell, record, number=round_index: finish(worker, cell, record,
                                                                                         number),
                                 lambda worker, cell, number=round_index: fail(worker, cell, number))
                began = True
    finally:
        if probe is not None:  # never left stopped behind a run that ends early
            probe.close()
    for worker in workers:  # every worker told first, so they exit side by side (a second or so each)
        worker.send({"cmd": "exit"})
        worker.process.close_input()
    for worker in workers:
        worker.process.stop()
    return records


def _rounds_of(members: list[Cell], settings: Any, served: tuple[int, ...]) -> tuple[int, ...]:
    """The rounds of ``served`` a size takes: under ``fwbench run``'s extension the first ones, as many as were
    allotted to it (``settings.size_rounds``); otherwise all of them."""
    allotted = (settings.size_rounds or {}).get(members[0].size) if settings is not None and members else None
    return served if allotted is None else served[:allotted]


def _out_of_time(settings: Any, now: float | None = None) -> bool:
    """Whether the extension's pool of wall time is spent at ``now`` (default: ``time.perf_counter()``) by
    ``settings.deadline``: no size-round but a start's first begins then."""
    if settings is None or settings.deadline is None:
        return False
    return (time.perf_counter() if now is None else now) >= settings.deadline


def _still_open(members: list[Cell], records: list[dict[str, Any]], settled: Any, after_rounds: int,
                rounds_left: int, progress: Any) -> list[Cell]:
    """``fwbench ab``'s look after a size's first ``after_rounds`` rounds: the members of the size whose verdict
    is still open (``settled(the size's records, after_rounds)`` names the decided cells, both sides); the
    progress bar forgets the ``rounds_left`` rounds the others will not take."""
    ids = {cell.cell_id for cell in members}
    closed = settled([record for record in records if record.get("cell_id") in ids], after_rounds)
    kept = [cell for cell in members if cell.cell_id not in closed]
    if len(kept) < len(members):
        progress.add(-(len(members) - len(kept)) * rounds_left)
    return kept


def _interleave_size(members: list[Cell], owner: dict[str, _Turn], pids: dict[str, int | None],
                     turns: dict[str, list[int | None]], generator: random.Random, timeout_s: float,
                     round_index: int, probe: HandoffProbe | None, probes: dict[str, float], finish: Any,
                     fail: Any) -> None:
    """One round of one workload size: fork every member's process (prepare), then turns in a new random order
    each cycle until each meets its stopping rule, then its record (``finish``) or its failure (``fail``).
    ``round_index`` goes with every prepare: it decides where the cell's heap starts (``heap_position``).
    ``probe``, when there is one, measures the cross-core hand-off once every cell is prepared, just before the
    first turn; ``probes`` gets its figure for every cell that takes turns."""
    active: list[Cell] = []

    def prepared(cell: Cell) -> None:
        worker = owner[cell.cell_id]
        reply = _reply(worker, timeout_s, {"prepared", "result"})
        if reply is None:
            fail(worker, cell)
        elif reply["event"] == "result":
            finish(worker, cell, reply["record"])
        else:
            pids[cell.cell_id] = reply.get("pid")
            turns[cell.cell_id] = []
            pause(pids[cell.cell_id])
            active.append(cell)

    together = any(prepares_together(owner[cell.cell_id].group.settings, round_index) for cell in members)
    waiting: list[Cell] = []
    for cell in members:
        worker = owner[cell.cell_id]
        if not worker.alive:
            fail(worker, cell)
            continue
        worker.group.progress.cell_started(cell)
        budget = (worker.group.settings.size_budgets or {}).get(cell.size)
        worker.send({"cmd": "prepare", "cell_id": cell.cell_id, "round": round_index, "together": together,
                     **({"budget_s": budget} if budget else {})})
        if together:
            waiting.append(cell)  # a worker answers its commands in order, so the replies are read in this order
        else:
            prepared(cell)
    for cell in waiting:
        prepared(cell)
    shared = set.intersection(*(set(owner[cell.cell_id].cores) for cell in active)) if active else set()
    cores, cycle = sorted(shared), generator.randrange(max(1, len(shared)))
    handoff = probe.measure(cycle_core(cores, cycle)) if probe is not None and active else None
    if handoff is not None:
        probes.update({cell.cell_id: handoff for cell in active})
    while active:
        core = cycle_core(cores, cycle)  # partners, back to back in a cycle, run on one core
        cycle += 1
        for cell in turn_order(active, generator):
            worker = owner[cell.cell_id]
            if not worker.alive:
                fail(worker, cell)
                active.remove(cell)
                continue
            block_s = worker.group.settings.turn_s or worker.group.settings.timer.budget_s / TURNS_PER_CELL
            if worker.single_threaded:
                pin_process(pids.get(cell.cell_id), core)
            else:
                pin_main_thread(pids.get(cell.cell_id), core, cores if worker.pool_apart(cell) else None)
            resume(pids.get(cell.cell_id))
            worker.send({"cmd": "sample", "cell_id": cell.cell_id, "block_s": block_s})
            reply = _reply(worker, timeout_s, {"sampled", "result"})
            if reply is None:
                fail(worker, cell)
                active.remove(cell)
                continue
            turns[cell.cell_id].append(core)
            if reply["event"] != "result" and not reply["done"]:
                pause(pids.get(cell.cell_id))  # its threads cannot spin into the next turn
            if reply["event"] == "result":
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


def partner_key(cell: Cell) -> tuple:
    """What a cell is compared with beside it: its other side under ``fwbench ab`` and its copies under
    ``--replicas`` share this key (the cell without its side and copy number); other cells have their own."""
    return cell.size, cell.framework, cell.mode, cell.method


def turn_order(active: list[Cell], generator: random.Random) -> list[Cell]:
    """One cycle's turns: the partners of a comparison (:func:`partner_key`) back to back, in a random order
    among themselves, and the partner groups in a random order.

    A/B pairs each turn with the other side's turn nearest in time, and the machine's fast noise decorrelates
    within about 50 ms.  Under a plain shuffle of a size's eight series, partners ran a median 80 ms apart, and
    the robust spread of a pair's log ratio was 0.058-0.141 (by framework) for pairs 20-50 ms apart against
    0.075-0.184 for pairs 100 ms or more apart (docs/verdicts-history.md, "`fwbench ab`").  Cells with no partner (a
    plain ``--interleave`` run) are shuffled as before: each is its own group, and shuffling a group of one
    draws nothing."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in active:
        groups.setdefault(partner_key(cell), []).append(cell)
    ordered = list(groups.values())
    generator.shuffle(ordered)
    order = []
    for group in ordered:
        generator.shuffle(group)
        order.extend(group)
    return order


def _reply(worker: _Turn, timeout_s: float, wanted: set[str]) -> dict[str, Any] | None:
    while True:
        message = worker.receive(timeout_s)
        if message is None:
            return None
        if message.get("event") in wanted:
            return message
