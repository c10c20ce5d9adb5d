"""The cross-core hand-off probe: is this machine in a slow spell for multi-threaded small kernels?

On the 2-core VM of session 20 a kernel that hands half its work to a thread on the other core ran at one of
two speeds, in spells of a fraction of a second to about 16 s, while each core alone kept its speed and two
busy cores ran no slower than one: NumPy's two-thread 256 GEMM took 0.18-0.20 ms or 0.26-0.30 ms, nothing
between (``bench/cross_core.py``).  Frameworks pay for a slow spell differently (NumPy about 1.45x, jax
about 1.2x, torch about 1.07x, whose OpenMP threads spin between parallel regions), so the ratio of two
multi-threaded cells depends on the spell the run was in, and a run inside one spell gives a narrow interval
that cannot hold the ratio of the other (docs/methodology.md).

:class:`HandoffProbe` measures the spell just before each size-round's turns.  A process of its own (NumPy,
which fwbench always has), stopped between probes like a cell, runs its main thread on the cycle's core and
its pool on the others, as a NumPy turn runs, and times that GEMM with two threads for
:data:`PROBE_WINDOW_S`, then with one for half as long.  Every record of the size-round carries the speedup
(``handoff_speedup``: one-thread time over two-thread time), and the run's manifest sums them up
(:func:`handoff_summary`): how many size-rounds began in a slow spell (a speedup under
:data:`SLOW_SPEEDUP`).  It costs about 35 ms a size-round.  Nothing is changed by it: the cells are timed as
before, and the report says in which spells they were.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
from typing import Any, Iterable

from fwbench.execution.extension import size_of
from fwbench.execution.placement import pause, pin_main_thread, resume

PROBE_N = 256  # the GEMM's size: about 0.2 ms with two threads, short enough for a hand-off to show
PROBE_WINDOW_S = 0.02  # seconds of two-thread calls per probe (then half as long of one-thread calls)
PROBE_TIMEOUT_S = 10.0  # a probe that does not answer in this long is given up, and the run goes on without it
# A size-round whose probe's two threads ran less than this many times as fast as one began in a slow spell:
# session 20's fast spells gave 1.65-1.8, its slow ones 1.1-1.25 (bench/cross_core.py).
SLOW_SPEEDUP = 1.4

PROBE_SCRIPT = """\
import ctypes, json, os, signal, statistics, sys, time
try:  # SIGKILL when fwbench dies, even by SIGKILL: a probe stopped between probes is never left behind
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
except (OSError, AttributeError):
    pass
if os.getppid() == 1:
    sys.exit(1)
import numpy
from threadpoolctl import threadpool_limits
threadpool_limits(2)
generator = numpy.random.default_rng(0)
left, right = (generator.standard_normal((int(sys.argv[1]),) * 2).astype("float32") for _ in range(2))
left @ right


def median_s(window):
    left @ right
    times = []
    end = time.perf_counter() + window
    while time.perf_counter() < end or len(times) < 5:
        started = time.perf_counter()
        left @ right
        times.append(time.perf_counter() - started)
    return statistics.median(times)


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    window = float(line)
    two = median_s(window)
    with threadpool_limits(1):
        one = median_s(window / 2)
    print(json.dumps({"two_thread_s": two, "one_thread_s": one}), flush=True)
"""


class HandoffProbe:
    """The probe's process: :meth:`start` it once a run, :meth:`measure` before each size-round, :meth:`close`
    at the end.  Between probes it is stopped (SIGSTOP), so its pool's threads take no core from a turn."""

    def __init__(self, process: subprocess.Popen, cores: list[int]) -> None:
        self.process, self.cores = process, cores
        self._buffer = b""

    @classmethod
    def start(cls, threads: int, cores: list[int]) -> "HandoffProbe | None":
        """The probe over ``cores`` (two threads, whatever the run's ``threads``: a hand-off between two cores,
        where a 256 GEMM still scales); None where the run's cells hand nothing off (one thread or one core)
        or the probe cannot start (no NumPy or threadpoolctl in this interpreter)."""
        if threads < 2 or len(cores) < 2:
            return None
        try:
            process = subprocess.Popen([sys.executable, "-c", PROBE_SCRIPT, str(PROBE_N)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            return None
        probe = cls(process, sorted(cores))
        if probe._read() is None:
            probe.close()
            return None
        pause(process.pid)
        return probe

    def measure(self, core: int | None) -> float | None:
        """The GEMM's speedup on two threads (its one-thread median over its two-thread median, the main thread
        on ``core`` and the pool on the other cores); None if the probe has gone or does not answer (it is
        then closed)."""
        if self.process.poll() is not None:
            return None
        pin_main_thread(self.process.pid, core if core is not None else self.cores[0], self.cores)
        resume(self.process.pid)
        try:
            self.process.stdin.write(f"{PROBE_WINDOW_S}\n".encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            return None
        reply = self._read()
        if reply is None:
            self.close()
            return None
        pause(self.process.pid)
        two, one = reply.get("two_thread_s"), reply.get("one_thread_s")
        return one / two if two and one else None

    def close(self) -> None:
        resume(self.process.pid)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def _read(self) -> dict[str, Any] | None:
        """The probe's next line, as JSON; None after :data:`PROBE_TIMEOUT_S` or at its end."""
        stream = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([stream], [], [], PROBE_TIMEOUT_S)
            if not ready:
                return None
            chunk = os.read(stream, 4096)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None


def handoff_summary(records: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The run's probes, one per size-round (each record of a size-round carries its probe's
    ``handoff_speedup``): the lowest, median and highest speedup, how many size-rounds began in a slow spell
    (a speedup under :data:`SLOW_SPEEDUP`) and which sizes had rounds in both spells; None when no record
    carries a probe."""
    by_round: dict[tuple, float] = {}
    for record in records:
        value = record.get("handoff_speedup")
        if isinstance(value, (int, float)) and value > 0:
            key = (*size_of(record), record.get("round"), record.get("attempt") or 1)
            by_round[key] = float(value)
    if not by_round:
        return None
    slow = {key for key, value in by_round.items() if value < SLOW_SPEEDUP}
    spells: dict[tuple, set[bool]] = {}
    for key in by_round:
        spells.setdefault(key[:3], set()).add(key in slow)
    values = list(by_round.values())
    return {"probe": f"a {PROBE_N}x{PROBE_N} float32 NumPy GEMM's one-thread median over its two-thread median "
                     "(the main thread on the cycle's core, the pool on the others), before each size-round",
            "lowest_speedup": min(values), "median_speedup": statistics.median(values),
            "highest_speedup": max(values), "size_rounds": len(values), "slow_size_rounds": len(slow),
            "slow_below": SLOW_SPEEDUP,
            "sizes_in_both": sorted(f"{workload}[{params}]" for (workload, params, _), seen in spells.items()
                                    if len(seen) == 2)}
