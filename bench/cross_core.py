"""Does a multi-threaded kernel have two speeds here while every core keeps its own?

    python bench/cross_core.py [--seconds 60] [--n 256]

One process, nothing of fwbench measuring.  Every window (about 0.3 s) it times

- NumPy's n x n float32 GEMM with two OpenBLAS threads, the main thread on core 0 and the pool on core 1
  (as a fwbench turn places a framework whose caller computes: ``pin_main_thread``), median of 0.2 s of calls;
- the same GEMM with one thread, on core 0 alone;
- the one-threaded GEMM on cores 0 and 1 at once (two Python threads; NumPy lets go of the GIL), the slower
  of the two medians over the one alone: the co-run slowdown, about 1.0 when the two virtual cores do not
  share a physical one and up to 2 when they do.

It prints each window, then a summary: a window is ``slow`` when its two-thread GEMM took 1.2 times the
fastest window's or more, and the last lines give the share of slow windows, how long each spell of either
lasted, and the co-run slowdown and one-thread time in each.  Session 20 (2026-12-07, 2 cores of an AMD
EPYC VM): the two-thread GEMM at n=256 took 0.181 ms or 0.262 ms, nothing between, in spells of seconds to
tens of seconds, while the one-thread GEMM took 0.323-0.324 ms and the co-run slowdown was 1.00-1.01 in
both: the cores stayed as fast as each other and did not share a physical core; what changed was how long
one core took to answer the other (docs/methodology.md, "Two speeds of a multi-threaded kernel").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SLOW = 1.2  # a window this many times the fastest window's two-thread time, or more, is slow


def median_call_s(left, right, seconds: float = 0.0, calls: int = 0) -> float:
    """The median time of ``left @ right`` over ``seconds`` of calls, or over ``calls`` calls."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while (calls and len(times) < calls) or (not calls and time.perf_counter() < end):
        started = time.perf_counter()
        left @ right
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def pinned_calls(left, right, core: int, calls: int, found: list[float]) -> None:
    os.sched_setaffinity(0, {core})
    found.append(median_call_s(left, right, calls=calls))


def spells(flags: list[bool], starts: list[float]) -> dict[bool, list[float]]:
    """How long each run of equal flags lasted, in seconds, by flag."""
    found: dict[bool, list[float]] = {True: [], False: []}
    begin = 0
    for index in range(1, len(flags) + 1):
        if index == len(flags) or flags[index] != flags[begin]:
            end = starts[index] if index < len(flags) else starts[-1] + (starts[-1] - starts[-2] if len(starts) > 1
                                                                          else 0)
            found[flags[begin]].append(end - starts[begin])
            begin = index
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--n", type=int, default=256)
    arguments = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print("cross-core: this process may use one core only; nothing to compare")
        return 0
    import numpy as np
    from threadpoolctl import threadpool_limits

    from fwbench.execution.placement import pin_main_thread

    generator = np.random.default_rng(0)
    left, right = (generator.standard_normal((arguments.n, arguments.n)).astype("float32") for _ in range(2))
    other_left, other_right = left.copy(), right.copy()
    with threadpool_limits(2):
        left @ right  # the pool's threads exist from here
    rows = []
    began = time.perf_counter()
    while time.perf_counter() - began < arguments.seconds:
        at = time.perf_counter() - began
        with threadpool_limits(2):
            pin_main_thread(os.getpid(), cores[0], cores[:2])  # the pool on core 1, as a NumPy turn places it
            two = median_call_s(left, right, seconds=0.2)
        os.sched_setaffinity(0, set(cores))
        with threadpool_limits(1):
            alone: list[float] = []
            pinned_calls(left, right, cores[0], 100, alone)
            both: list[float] = []
            workers = [threading.Thread(target=pinned_calls, args=(left, right, cores[0], 100, both)),
                       threading.Thread(target=pinned_calls, args=(other_left, other_right, cores[1], 100, both))]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        os.sched_setaffinity(0, set(cores))
        rows.append((at, two, alone[0], max(both) / alone[0]))
        print(f"{at:6.1f} s  two threads {two * 1e3:.3f} ms  one thread {alone[0] * 1e3:.3f} ms  co-run "
              f"x{max(both) / alone[0]:.2f}", flush=True)
    fastest = min(two for _, two, _, _ in rows)
    flags = [two >= SLOW * fastest for _, two, _, _ in rows]
    lasted = spells(flags, [at for at, _, _, _ in rows])
    for slow in (False, True):
        chosen = [row for row, flag in zip(rows, flags) if flag == slow]
        if not chosen:
            continue
        print(f"{'slow' if slow else 'fast'}: {len(chosen)} windows, two threads "
              f"{statistics.median(row[1] for row in chosen) * 1e3:.3f} ms, one thread "
              f"{statistics.median(row[2] for row in chosen) * 1e3:.3f} ms, co-run "
              f"x{statistics.median(row[3] for row in chosen):.2f}; spells of "
              f"{min(lasted[slow]):.1f}-{max(lasted[slow]):.1f} s")
    slow_rows = [row for row, flag in zip(rows, flags) if flag]
    factor = (statistics.median(row[1] for row in slow_rows) / fastest) if slow_rows else 1.0
    print(f"cross-core: {len(rows)} windows, {len(slow_rows)} slow (x{factor:.2f} the fastest two-thread GEMM); "
          f"one-thread GEMM {min(row[2] for row in rows) * 1e3:.3f}-{max(row[2] for row in rows) * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
