"""The A/B workload's true slowdown per framework, by plain ``timeit``, nothing of fwbench measuring.

    python bench/ab_truth.py [--sizes 256 1024] [--blocks 40] [--repeats 8] [--threads 1] [FRAMEWORK ...]

The function of ``bench/ab_check.py`` (the input added to itself ``repeats - 1`` times, divided by
``repeats``) with ``--repeats`` (8) and a quarter more (10), in one process per framework, eager: after 20
warm-up calls each, ``--blocks`` alternating blocks of ``min(timeit.repeat(f, number=N, repeat=3))`` for both
functions (N calls of about 20 ms), the log of each block pair's ratio, and the mean with a 95% interval over the
blocks.  Both
functions share one process's memory layout, so this is the ratio without the spread between processes.

Each block pair is then timed a second way, one call at a time (``time.perf_counter`` around each call and its
sync, for as long as the ``timeit`` blocks took, the two functions in turn, each first every other block): the
ratio of the two functions' median calls, the statistic fwbench estimates, with its own 95% interval over the
blocks. Where a call's time spreads widely the two differ: jax's eager additions at n=1024 on 2 EPYC cores
took 0.8-1.9 ms a call (fastest to median), and the fastest-of-repeats ratio read 1.31 where the median calls'
read about 1.22 (session 21).

``--threads`` (default 1, ``fwbench ab``'s default since session 26) sets each framework's threads; with one,
the process keeps to one core, as a single-threaded cell's turns do.  Until session 26 this script always ran
two threads, as ``fwbench ab`` did then.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
import timeit

FRAMEWORKS = ("numpy", "torch", "jax", "tensorflow")


def work(x, repeats):
    total = x
    for _ in range(repeats - 1):
        total = total + x
    return total / repeats


def limit_threads(threads: int) -> None:
    """Before any framework is imported: ``threads`` threads for each, and with one thread the process on one
    core, as ``fwbench ab``'s turns run a single-threaded cell (every thread on the turn's core)."""
    import os

    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def measure(framework: str, n: int, blocks: int, repeats: int = 8, threads: int = 1) -> str:
    limit_threads(threads)
    import numpy as np

    x = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
    sync = lambda result: None  # noqa: E731 - NumPy, torch and TensorFlow on a CPU compute before returning
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        x = torch.from_numpy(x)
    elif framework == "jax":
        import jax.numpy as jnp

        x = jnp.asarray(x)
        sync = lambda result: result.block_until_ready()  # noqa: E731
    elif framework == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        x = tf.constant(x)
    baseline = lambda: sync(work(x, repeats))  # noqa: E731
    candidate = lambda: sync(work(x, repeats * 5 // 4))  # noqa: E731
    for function in (baseline, candidate):
        for _ in range(20):
            function()
    number = max(1, int(0.02 / min(timeit.repeat(baseline, number=1, repeat=5))))
    logs, median_logs = [], []
    for block in range(blocks):
        base = min(timeit.repeat(baseline, number=number, repeat=3))
        changed = min(timeit.repeat(candidate, number=number, repeat=3))
        logs.append(math.log(changed / base))
        first, second = (candidate, baseline) if block % 2 == 0 else (baseline, candidate)  # drift cancels
        medians = {function: median_call(function, 3 * number) for function in (first, second)}
        median_logs.append(math.log(medians[candidate] / medians[baseline]))
    return (f"{framework}/eager n={n}, {threads} thread{'s' if threads > 1 else ''}, {repeats} against "
            f"{repeats * 5 // 4} operations: candidate/baseline "
            f"{interval(logs)} ({blocks} alternating blocks, "
            f"fastest of timeit's repeats); median calls {interval(median_logs)}")


def median_call(function, calls: int) -> float:
    """The median of ``calls`` calls of ``function``, each timed on its own."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interval(logs: list[float]) -> str:
    """The mean of log-ratios, as a ratio with its 95% interval over the blocks."""
    centre = statistics.fmean(logs)
    half = 1.96 * statistics.stdev(logs) / math.sqrt(len(logs))
    return f"{math.exp(centre):.3f} [{math.exp(centre - half):.3f}, {math.exp(centre + half):.3f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frameworks", nargs="*", default=list(FRAMEWORKS))
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 1024])
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=8, help="the baseline's operations (a multiple of 4)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for each framework (default 1, fwbench ab's default; 2 for its --threads 2)")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # FRAMEWORK N, in a process of its own
    arguments = parser.parse_args()
    if arguments.repeats < 4 or arguments.repeats % 4:
        parser.error(f"--repeats: got {arguments.repeats}, expected a multiple of 4 (the candidate does a quarter "
                     "more); try --repeats 8")
    if arguments.one:
        print(measure(arguments.one[0], int(arguments.one[1]), arguments.blocks, arguments.repeats,
                      arguments.threads), flush=True)
        return 0
    for framework in arguments.frameworks:
        for n in arguments.sizes:  # each in a fresh process, one framework imported
            subprocess.run([sys.executable, __file__, "--one", framework, str(n), "--blocks", str(arguments.blocks),
                            "--repeats", str(arguments.repeats), "--threads", str(arguments.threads)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
