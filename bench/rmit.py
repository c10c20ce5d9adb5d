"""Randomized multiple interleaved trials, by hand: the independent reference for ratios between series.

    python bench/rmit.py [--workload power_sum|matmul|matrix_power] [--n 1000]
                         [--series numpy/eager jax/jit torch/eager] [--seconds 3] [--turn-ms 20] [--sets 3]
                         [--fresh]

Nothing of fwbench measures here.  For each of ``--sets`` process sets, one persistent Python process per
series runs the natural script of bench/natural.py (its imports, input, function and compile; the steady
allocator regime unless ``--fresh``), pinned and threaded as a fwbench worker is.  The parent then gives
the processes turns in a random order each cycle (Abedi and Brecht's randomized multiple interleaved trials):
a turn is one untimed call (the first after a switch) and then calls timed one by one with
``time.perf_counter`` for ``--turn-ms``; between its turns a process is stopped (SIGSTOP, then SIGCONT before
its next turn), so threads it leaves spinning (NumPy's OpenBLAS spins about 130 ms after a GEMM, OpenMP pools a
while) take no core from the others; ``--quiet-wait`` waits instead until the process that just ran has gone
quiet.  Cycles go on until every series has ``--seconds`` of timed calls.

Each cycle gives each series a turn median; the log of series/baseline (the first series) in the same cycle
pairs them in time, so the machine's slow drift cancels.  A set's ratio is the exponential of the mean of its
cycles' log-ratios, with a 95% interval from their spread (t, cycles - 1 degrees of freedom); the sets'
ratios, each from fresh processes, give the overall ratio and its 95% interval over process sets (t, sets - 1
degrees of freedom).  The last lines print, per series, ``RATIO series/baseline R [LOW, HIGH]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import natural  # noqa: E402  (the natural scripts; imports no framework)
from scipy import stats  # noqa: E402

QUIET_SHARE = 0.1  # a process using less than this share of a core over 2 ms is quiet
QUIET_CAP_S = 0.5


def driver(framework: str, mode: str, n: int, workload: str, steady: bool) -> str:
    """The persistent process: the natural script's set-up, then turns on request (JSON lines in and out)."""
    set_up, statement = natural.function_script(framework, mode, n, workload)
    return (
        (natural.STEADY_PROLOGUE if steady else "")
        + "import json, sys, time\n"
        + set_up
        + f"def call():\n    {statement}\n"
        + "call()\n"
        + "print(json.dumps({'ready': True}), flush=True)\n"
        + "for line in sys.stdin:\n"
        + "    command = json.loads(line)\n"
        + "    if command.get('cmd') != 'turn':\n"
        + "        break\n"
        + "    call()\n"  # the first call after a switch is untimed
        + "    times, end = [], time.perf_counter() + command['seconds']\n"
        + "    while True:\n"
        + "        start = time.perf_counter()\n"
        + "        call()\n"
        + "        stop = time.perf_counter()\n"
        + "        times.append(stop - start)\n"
        + "        if stop >= end:\n"
        + "            break\n"
        + "    print(json.dumps({'times': times}), flush=True)\n"
    )


def cpu_seconds(pid: int) -> float | None:
    """The CPU time of ``pid`` and its threads (user + system), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def wait_quiet(pid: int) -> None:
    """Until ``pid`` uses less than a tenth of a core over 2 ms windows (at most half a second)."""
    start = time.perf_counter()
    last, last_at = cpu_seconds(pid), start
    while last is not None and time.perf_counter() - start < QUIET_CAP_S:
        time.sleep(0.002)
        now, now_at = cpu_seconds(pid), time.perf_counter()
        if now is None or now - last < QUIET_SHARE * (now_at - last_at):
            return
        last, last_at = now, now_at


def start(series: str, arguments: argparse.Namespace, num_threads: int) -> subprocess.Popen:
    from fwbench.adapters import get_adapter  # only for the same thread variables a worker gets

    framework, mode = series.split("/")
    environment = dict(os.environ)
    environment.update(get_adapter(framework).thread_environment(num_threads, "cpu"))
    cores = sorted(os.sched_getaffinity(0))[:num_threads]
    process = subprocess.Popen(
        [sys.executable, "-c", driver(framework, mode, arguments.n, arguments.workload, not arguments.fresh)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment,
        preexec_fn=lambda: os.sched_setaffinity(0, cores))
    ready = process.stdout.readline()
    if not ready:
        raise RuntimeError(f"{series}: the process ended before it was ready")
    return process


def one_set(arguments: argparse.Namespace, num_threads: int, generator: random.Random) -> dict[str, list[float]]:
    """One process set: each series' turn medians, cycle by cycle (the same cycles for every series)."""
    processes = {series: start(series, arguments, num_threads) for series in arguments.series}
    medians: dict[str, list[float]] = {series: [] for series in arguments.series}
    timed = {series: 0.0 for series in arguments.series}
    try:
        while min(timed.values()) < arguments.seconds:
            order = list(arguments.series)
            generator.shuffle(order)
            for series in order:
                process = processes[series]
                if not arguments.quiet_wait:
                    os.kill(process.pid, signal.SIGCONT)
                process.stdin.write(json.dumps({"cmd": "turn", "seconds": arguments.turn_ms / 1000}) + "\n")
                process.stdin.flush()
                times = json.loads(process.stdout.readline())["times"]
                medians[series].append(statistics.median(times))
                timed[series] += sum(times)
                if arguments.quiet_wait:
                    wait_quiet(process.pid)
                else:
                    os.kill(process.pid, signal.SIGSTOP)
    finally:
        for process in processes.values():
            try:
                os.kill(process.pid, signal.SIGCONT)
                process.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            process.wait(timeout=60)
    return medians


def interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` with a t interval (they are logs: returned as exp)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return math.exp(mean), math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="power_sum", choices=sorted(natural.BODIES))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--series", nargs="+", default=["numpy/eager", "jax/jit", "torch/eager"])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per series and set")
    parser.add_argument("--turn-ms", type=float, default=20.0)
    parser.add_argument("--sets", type=int, default=3, help="process sets (fresh processes each)")
    parser.add_argument("--fresh", action="store_true", help="the fresh allocator regime (default: steady)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet-wait", action="store_true",
                        help="wait for the process that ran to go quiet instead of stopping it between turns")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    arguments = parser.parse_args()
    generator = random.Random(arguments.seed)
    baseline, others = arguments.series[0], arguments.series[1:]
    print(f"{arguments.workload} n={arguments.n}, {arguments.threads} threads, "
          f"{'fresh' if arguments.fresh else 'steady'} regime, turns of {arguments.turn_ms:g} ms in random order, "
          f"{arguments.seconds:g} s per series and set, {arguments.sets} process sets; baseline {baseline}")
    by_set: dict[str, list[float]] = {series: [] for series in others}
    for number in range(1, arguments.sets + 1):
        medians = one_set(arguments, arguments.threads, generator)
        cycles = len(medians[baseline])
        for series in others:
            logs = [math.log(medians[series][index] / medians[baseline][index]) for index in range(cycles)]
            ratio, low, high = interval(logs)
            by_set[series].append(math.log(ratio))
            print(f"set {number}: {series}/{baseline} {ratio:.3f} [{low:.3f}, {high:.3f}] over {cycles} cycles; "
                  f"medians {statistics.median(medians[series]) * 1e3:.4f} ms and "
                  f"{statistics.median(medians[baseline]) * 1e3:.4f} ms", flush=True)
    for series in others:
        ratio, low, high = interval(by_set[series])
        print(f"RATIO {series}/{baseline} {ratio:.3f} [{low:.3f}, {high:.3f}] over {arguments.sets} process sets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
