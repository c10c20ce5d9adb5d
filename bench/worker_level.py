"""Is a process's speed drawn when the worker starts, or again in every fork of it?

    python bench/worker_level.py [--workers 4] [--forks 6] [--n 256] [--position] [--framework numpy|torch|jax]

Starts ``--workers`` worker processes (each imports NumPy and ``--framework``, and does nothing else, as
fwbench's workers do); each forks ``--forks`` children in turn, round-robin over the workers.  Every child puts
its allocator in fwbench's steady regime, makes the input from seed 0 (on the framework's CPU device) and
reports the median time of ``bench/ab_check.py``'s 8-repeat function over 0.3 s.  ``--position`` makes every
child start its heap at a random place in a page first (``fwbench.worker.process.position_heap``; fwbench
draws one place per round, shared by every series of the round).  Prints each worker's children's medians
(µs) and splits the variance of their logs into a part between workers and a part between the forks of one
worker (one-way random effects).

Measured (``--workers 5``, four runs each way, two of them by this script as shipped): without
``--position`` the sd of log time between workers is 0.107-0.177 (each worker's forks sit at about 96-105 or
129-131 µs, as its input lies 16/48 or 0/32 bytes past a cache line), between forks 0.009-0.135; with it,
0.000-0.013 between workers and 0.134-0.175 between forks: the draw moves from the worker start into every fork.
With ``--position``, ``--framework torch`` and ``jax`` (one run each): 0.000 between workers, 0.160 and 0.129
between forks (forks measured one after another, so this part holds the machine's drift too).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def child_median(n: int, position: bool, framework: str) -> float:
    import random

    from fwbench.worker.process import position_heap, settle_allocator

    settle_allocator("steady")
    if position:
        position_heap(random.SystemRandom().randrange(0, 4096, 16))
    import numpy as np

    x = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
    if framework == "torch":
        import torch

        x = torch.from_numpy(x)
        sync = None
    elif framework == "jax":
        import jax

        x = jax.device_put(x)
        sync = jax.block_until_ready
    else:
        sync = None

    def work():
        total = x
        for _ in range(7):
            total = total + x
        result = total / 8
        return sync(result) if sync else result

    for _ in range(20):
        work()
    times = []
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def serve(n: int, position: bool, framework: str) -> None:
    import importlib

    import numpy  # noqa: F401 - the worker imports its framework and nothing else

    importlib.import_module(framework)

    for _ in sys.stdin:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            os.write(write, repr(child_median(n, position, framework)).encode())
            os._exit(0)
        os.close(write)
        value = os.read(read, 100)
        os.waitpid(pid, 0)
        print(value.decode(), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--forks", type=int, default=6)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--position", action="store_true")
    parser.add_argument("--framework", choices=["numpy", "torch", "jax"], default="numpy")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.n, arguments.position, arguments.framework)
        return 0
    command = [sys.executable, __file__, "--serve", "--n", str(arguments.n), "--framework", arguments.framework]
    command += ["--position"] if arguments.position else []
    workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(arguments.workers)]
    medians: list[list[float]] = [[] for _ in workers]
    for _ in range(arguments.forks):
        for index, worker in enumerate(workers):
            worker.stdin.write("fork\n")
            worker.stdin.flush()
            medians[index].append(float(worker.stdout.readline()))
    for worker in workers:
        worker.stdin.close()
        worker.wait()
    logs = [[math.log(value) for value in values] for values in medians]
    within = statistics.fmean([statistics.variance(values) for values in logs])
    between = max(0.0, statistics.variance([statistics.fmean(values) for values in logs]) - within / arguments.forks)
    placing = "a random heap position in every fork" if arguments.position else "no placing"
    print(f"{arguments.framework} n={arguments.n}, {placing}:")
    for values in medians:
        print("  worker:", " ".join(f"{value * 1e6:.0f}" for value in values), "µs")
    print(f"sd of log time between workers {math.sqrt(between):.3f}, between forks of one worker "
          f"{math.sqrt(within):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
