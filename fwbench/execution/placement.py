"""Where a cell's process runs between and during its turns: stopped (SIGSTOP) or running (SIGCONT), its main
thread on the cycle's core and, where its caller computes beside its pool, the pool on the other cores.  Used
by the interleaved executor (:mod:`fwbench.execution.interleave`, whose docstring says why each is done) and
by the cross-core hand-off probe (:mod:`fwbench.execution.handoff`), which runs as a NumPy turn does."""

from __future__ import annotations

import os
import signal


def pause(pid: int | None) -> None:
    """Stop a cell's process between its turns (SIGSTOP): threads it leaves spinning (NumPy's OpenBLAS spins
    about 130 ms after a GEMM, OpenMP pools a while) take no core from the turn that follows."""
    _signal(pid, signal.SIGSTOP)


def resume(pid: int | None) -> None:
    """Let a paused cell's process run again (SIGCONT), before its turn or its end."""
    _signal(pid, signal.SIGCONT)


def _signal(pid: int | None, number: int) -> None:
    """Send ``number`` to a cell's process; nothing when there is none or it has gone."""
    if pid is not None:
        try:
            os.kill(pid, number)
        except (ProcessLookupError, PermissionError):
            pass


def pin_main_thread(pid: int | None, core: int | None, pool_cores: list[int] | None = None) -> None:
    """Run a cell's main thread (its pid) on ``core`` only, from its next turn, and with ``pool_cores`` its
    other threads on those cores; nothing when ``pid`` or ``core`` is None or a call fails (the process or
    a thread has gone, or the platform has no affinity).

    ``pool_cores`` is for a framework whose calling thread computes beside its pool (``CALLER_WORKS``: torch's
    OpenMP master, OpenBLAS's caller): left where it last ran, the pool's thread often sat on the core the
    main thread was just moved to, and the two shared it until the scheduler moved one.  A turn's untimed
    first call then took 4-10 ms (median; 15-24 ms at the 90th percentile) for torch's additions against
    0.3-1.3 ms with the pool on the other core, and torch's turns 19-21 ms against 12-13 ms for 10 ms of
    sampling (session 19, `fwbench ab` of bench/ab_check.py's module, torch and numpy, scratch timestamps in
    the child and the parent).  Where the pool does the work and the caller waits (jax, TensorFlow), the same
    pinning halved a 1024 GEMM's speed: their threads keep the worker's cores."""
    if pid is None or core is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        os.sched_setaffinity(pid, {core})
    except OSError:
        return
    others = set(pool_cores or ()) - {core}
    if others:
        _place(_other_threads(pid), others)


def pin_process(pid: int | None, core: int | None) -> None:
    """Run every thread of a cell's process on ``core`` from its next turn: a single-threaded cell's calling
    thread and the one thread that computes for it (jax's and TensorFlow's pool of one), side by side on one
    core as a single-threaded program runs, so no turn hands work from one core to the other.  Nothing when
    ``pid`` or ``core`` is None; a thread that has gone, or a platform without affinity, is passed over.
    Threads the process starts later inherit the main thread's core."""
    if pid is None or core is None or not hasattr(os, "sched_setaffinity"):
        return
    _place([pid, *_other_threads(pid)], {core})


def _other_threads(pid: int) -> list[int]:
    """The thread ids of process ``pid`` but its main thread's (none when it has gone)."""
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task") if int(name) != pid]
    except OSError:
        return []


def _place(threads: list[int], cores: set[int]) -> None:
    """Each of ``threads`` on ``cores``; a thread that has gone is passed over."""
    for thread in threads:
        try:
            os.sched_setaffinity(thread, cores)
        except OSError:
            pass
