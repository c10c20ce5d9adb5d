"""What this machine allows: the narrowest honest interval its own noise leaves, at fwbench's settings.

Times one fixed two-thread workload (a 384x384 float64 GEMM in NumPy, the median of 5 calls, about
7 ms a point) back to back for ``--seconds``, then prints

* how much one point moves (the standard deviation of its logarithm) and how fast that fades with the
  time between points (autocorrelation);
* how much the median of a stretch of points moves, for the stretches fwbench times: a warm-up window
  (0.05 s) and one round of one cell (``--budget / --rounds`` of sampling, 0.167 s under ``make bench``);
* the floor this sets: a cell's round medians move at least that much between rounds, so the 95%
  prediction interval of the next run's median is at least 1.96 * sqrt(2 k_R / R) * sd wide (k_R the
  median's variance factor, perfect pooling assumed), and how many rounds a half-width of 12% would take.

With ``--results DIR`` it also prints the spread of the round medians of that run's cells, for comparison
(a machine-wide cause shows as the two agreeing).  Nothing here is a test: it prints figures.

    python bench/noise_floor.py [--seconds 60] [--budget 0.5 --rounds 3] [--results results/latest]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from fwbench.stats.intervals import Z_975, median_variance_factor

POINT_CALLS = 5
TARGET_HALF_WIDTH = 0.12


def trace(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(time since start, log of the point's median call time) for every point."""
    matrix = np.random.default_rng(0).random((384, 384))
    times, values = [], []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        calls = []
        for _ in range(POINT_CALLS):
            before = time.perf_counter()
            matrix @ matrix
            calls.append(time.perf_counter() - before)
        times.append(time.perf_counter() - start)
        values.append(math.log(statistics.median(calls)))
    return np.array(times), np.array(values)


def stretch_spread(values: np.ndarray, points: int) -> float:
    """The standard deviation of the median of ``points`` consecutive points, over every disjoint stretch."""
    points = max(1, points)
    medians = [np.median(values[index:index + points]) for index in range(0, len(values) - points + 1, points)]
    return float(np.std(medians, ddof=1)) if len(medians) >= 3 else math.nan


def half_width(spread: float, rounds: int) -> float:
    """The relative half-width of the best 95% prediction interval of the next run's median over ``rounds``."""
    return math.exp(Z_975 * math.sqrt(2 * median_variance_factor(rounds) / rounds) * spread) - 1


def rounds_for(spread: float, target: float = TARGET_HALF_WIDTH) -> int | None:
    for rounds in range(2, 200):
        if half_width(spread, rounds) <= target:
            return rounds
    return None


def results_spread(directory: Path) -> tuple[float, int]:
    """The median, over a run's cells of three rounds or more, of the standard deviation of log round medians."""
    by_cell: dict[str, list[float]] = {}
    for line in (directory / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("status") == "ok" and record.get("median_s"):
            by_cell.setdefault(record["cell_id"], []).append(math.log(record["median_s"]))
    spreads = [statistics.stdev(values) for values in by_cell.values() if len(values) >= 3]
    return (statistics.median(spreads) if spreads else math.nan), len(spreads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--budget", type=float, default=0.5, help="sampling seconds per cell over all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results", type=Path, help="a run directory to compare with")
    args = parser.parse_args()

    times, values = trace(args.seconds)
    step = float(np.median(np.diff(times)))
    centred = values - values.mean()
    print(f"{len(values)} points of {POINT_CALLS} GEMM calls over {times[-1]:.0f} s, one every {step * 1e3:.1f} ms; "
          f"median call {math.exp(np.median(values)) * 1e3:.2f} ms")
    print(f"one point moves by {values.std(ddof=1):.3f} (sd of log); autocorrelation by time apart:")
    lags = []
    for lag_s in (0.01, 0.05, 0.2, 1, 5, 20):
        lag = max(1, round(lag_s / step))
        if lag < len(centred) - 2:
            lags.append(f"{lag_s:g} s {np.corrcoef(centred[:-lag], centred[lag:])[0, 1]:.2f}")
    print("  " + ", ".join(lags))
    round_s = args.budget / args.rounds
    for label, seconds in (("a warm-up window", 0.05), ("one round of one cell", round_s), ("1 s", 1.0),
                           ("10 s", 10.0)):
        spread = stretch_spread(values, round(seconds / step))
        print(f"the median of {seconds:g} s of points ({label}) moves by {spread:.3f} (sd of log)")
    spread = stretch_spread(values, round(round_s / step))
    needed = rounds_for(spread)
    print(f"floor at --budget {args.budget:g} --rounds {args.rounds}: a cell's 95% interval of the next run's median "
          f"is at least +-{half_width(spread, args.rounds):.1%}; +-{TARGET_HALF_WIDTH:.0%} would take "
          f"{needed if needed else 'more than 200'} rounds of {round_s:.3g} s")
    if args.results:
        observed, cells = results_spread(args.results)
        print(f"{args.results}: the median cell's round medians moved by {observed:.3f} (sd of log, {cells} cells)")


if __name__ == "__main__":
    main()
