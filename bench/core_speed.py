"""Do this machine's cores run the same code at the same speed, moment to moment?

    python bench/core_speed.py [--pairs 40] [--n 256] [--window-ms 10]

One process, one thread: it moves itself from core to core (``sched_setaffinity``) and times the same
NumPy work (seven additions of an n x n float32 array and a division, the ``fwbench ab`` check's workload)
for ``--window-ms`` on each, the order of the cores alternating pair to pair.  It prints, for each pair of
windows, log(time on the first core / time on the second), then their mean and spread.  On a machine
whose cores are alike, the logs scatter around 0 with no runs of one sign; on a VM whose virtual cores share
physical ones with other tenants, they wander in runs (this machine: runs of +0.3 to +0.44 and -0.3 to -0.44,
up to 1.5x, lasting several pairs, that is a few hundred milliseconds).

Why it matters: a process whose main thread stays on one core while its partner's stays on the other
measures the cores as much as the code, which is why ``--interleave`` and ``fwbench ab`` run each
cycle's turns on one core (:mod:`fwbench.execution.interleave`).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--window-ms", type=float, default=10.0)
    arguments = parser.parse_args()
    if not hasattr(os, "sched_setaffinity"):
        print("this platform cannot move a thread between cores", file=sys.stderr)
        return 2
    import numpy

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print(f"one usable core ({cores}): nothing to compare", file=sys.stderr)
        return 2
    first_core, second_core = cores[0], cores[1]
    array = numpy.random.default_rng(0).standard_normal((arguments.n, arguments.n)).astype("float32")

    def work() -> None:
        total = array
        for _ in range(7):
            total = total + array
        _ = total / 8

    def window(core: int) -> float:
        os.sched_setaffinity(0, {core})
        work()
        work()  # the caches of the new core, warmed
        samples = []
        started = time.perf_counter()
        while time.perf_counter() - started < arguments.window_ms / 1000:
            begin = time.perf_counter()
            for _ in range(10):
                work()
            samples.append((time.perf_counter() - begin) / 10)
        return statistics.median(samples)

    logs = []
    for number in range(arguments.pairs):
        order = (first_core, second_core) if number % 2 == 0 else (second_core, first_core)
        times = {core: window(core) for core in order}
        logs.append(math.log(times[first_core] / times[second_core]))
    print(" ".join(f"{value:+.2f}" for value in logs))
    print(f"log(core {first_core} / core {second_core}) over {len(logs)} pairs of {arguments.window_ms:g} ms windows: "
          f"mean {statistics.fmean(logs):+.3f}, spread {statistics.stdev(logs):.3f}, "
          f"largest {max(logs, key=abs):+.2f} ({math.exp(abs(max(logs, key=abs))):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
