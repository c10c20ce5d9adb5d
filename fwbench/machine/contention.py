"""Other processes' CPU time while a cell samples: direct evidence that a round was disturbed.

A cell's child knows its own CPU time (``time.process_time``: every thread,
those that have ended included) and that of the CPUs it may run on
(``/proc/stat``, clock ticks; a worker pins itself to ``--threads`` CPUs).
What those CPUs spent beyond the child, over the wall time of its timing, is
the average number of cores that other processes took from it meanwhile
(``other_cpu_cores`` in each round's record).  A run's other fwbench processes
wait on pipes while a cell samples, so on a quiet machine this stays near 0;
another job holding one core reads about 1.  Rounds at or above
:func:`fwbench.stats.pooling.contended_threshold` (half a core) are set apart
from the cell's interval (:mod:`fwbench.records.results`) and run once more at
the end of the run (:mod:`fwbench.execution.runner`).

What this cannot see: a virtual machine's host taking its CPUs away (no steal
time is reported on this project's VM): the cell's own clock runs on while
it waits, so that shows in its times and the rounds' spread, not here.  Linux
only; elsewhere nothing is measured (None).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable

_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal (guest time is inside user)


def process_cpu_s(pid: int) -> float | None:
    """CPU time of every thread of ``pid`` so far (Linux ``schedstat``, nanoseconds); None when unreadable."""
    total, found = 0, False
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    for thread in threads:
        try:
            total += int((thread / "schedstat").read_text().split()[0])
            found = True
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9 if found else None


def machine_cpu_s(cpus: frozenset[int] | None = None) -> float | None:
    """CPU time the machine's CPUs (only ``cpus``, when given) have spent busy so far (``/proc/stat``); None
    when unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            lines = [line.split() for line in handle if line.startswith("cpu")]
        if cpus is None:
            rows = [lines[0]]
        else:
            rows = [fields for fields in lines[1:] if int(fields[0][3:]) in cpus]
            if not rows:
                return None
        ticks = sum(int(fields[1 + index]) for fields in rows for index in _BUSY_FIELDS)
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpus() -> frozenset[int] | None:
    """The CPUs this process may run on (a worker pins itself to ``--threads`` of them); None where unknown."""
    return frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def tick_error_s(cpus: frozenset[int] | None = None) -> float:
    """How far one reading of busy time over a span can be off: a clock tick per CPU counted."""
    count = len(cpus) if cpus else os.sysconf("SC_NPROCESSORS_ONLN")
    return count / os.sysconf("SC_CLK_TCK")


class OtherWork:
    """Counts the CPU time other processes took while this one was between :meth:`start` and :meth:`stop`
    (one or more spans: an interleaved cell samples in turns).  :attr:`cores` is a lower bound on their
    average number of cores over those spans."""

    def __init__(self, machine: Callable[[], float | None] | None = None,
                 own: Callable[[], float | None] = time.process_time,
                 clock: Callable[[], float] = time.perf_counter,
                 tick_error: Callable[[], float] | None = None) -> None:
        # By default only the CPUs this process may run on count: work elsewhere takes nothing from it.
        cpus = own_cpus() if machine is None or tick_error is None else None
        self.machine = machine or (lambda: machine_cpu_s(cpus))
        self.tick_error = tick_error or (lambda: tick_error_s(cpus))
        self.own, self.clock = own, clock
        self.other_s = 0.0
        self.wall_s = 0.0
        self.spans = 0
        self.readable = True
        self._at_start: tuple[float | None, float | None, float] | None = None

    def start(self) -> None:
        self._at_start = (self.machine(), self.own(), self.clock())

    def stop(self) -> None:
        if self._at_start is None:
            return
        machine_before, own_before, clock_before = self._at_start
        machine_after, own_after, clock_after = self.machine(), self.own(), self.clock()
        self._at_start = None
        if None in (machine_before, own_before, machine_after, own_after):
            self.readable = False
            return
        self.other_s += (machine_after - machine_before) - (own_after - own_before)
        self.wall_s += clock_after - clock_before
        self.spans += 1

    @property
    def cores(self) -> float | None:
        """At least this many cores, on average over the spans, went to other processes: the machine's busy
        time less this process's, less what clock ticks can misread (a tick per CPU a span, root-sum over
        the spans); None when unreadable or nothing was measured."""
        if not self.readable or self.wall_s <= 0:
            return None
        return max(0.0, self.other_s - self.tick_error() * math.sqrt(self.spans)) / self.wall_s
