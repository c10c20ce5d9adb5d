"""Other processes' CPU time while a cell samples: direct evidence that a round was disturbed.

A cell's child knows its own CPU time (``time.process_time``: every thread,
those that have ended included) and the machine's (``/proc/stat``, clock
ticks, every CPU).  What
the machine spent beyond the child, over the wall time of its sampling, is the
average number of cores that other processes took meanwhile
(``other_cpu_cores`` in each round's record).  A run's other fwbench processes
wait on pipes while a cell samples, so on a quiet machine this stays near 0;
another job holding one core reads about 1.  Rounds at or above
:func:`fwbench.stats.pooling.contended_threshold` (half a core) are set apart
from the cell's interval (:mod:`fwbench.records.results`) and run once more at
the end of the run (:mod:`fwbench.execution.runner`).

What this cannot see: a virtual machine's host taking its CPUs away (no steal
time is reported on this project's VM), which slows everything alike and shows
only as the rounds' spread.  Linux only; elsewhere nothing is measured (None).
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


def machine_cpu_s() -> float | None:
    """CPU time every CPU of the machine has spent busy so far (``/proc/stat``); None when unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
        ticks = sum(int(fields[1 + index]) for index in _BUSY_FIELDS)
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def tick_error_s() -> float:
    """How far one reading of the machine's busy time over a span can be off: a clock tick per CPU."""
    return os.sysconf("SC_NPROCESSORS_ONLN") / os.sysconf("SC_CLK_TCK")


class OtherWork:
    """Counts the CPU time other processes took while this one was between :meth:`start` and :meth:`stop`
    (one or more spans: an interleaved cell samples in turns).  :attr:`cores` is a lower bound on their
    average number of cores over those spans."""

    def __init__(self, machine: Callable[[], float | None] = machine_cpu_s,
                 own: Callable[[], float | None] = time.process_time,
                 clock: Callable[[], float] = time.perf_counter,
                 tick_error: Callable[[], float] = tick_error_s) -> None:
        self.machine, self.own, self.clock, self.tick_error = machine, own, clock, tick_error
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
