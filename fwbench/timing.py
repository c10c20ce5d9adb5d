"""The timer and its statistics.  It knows no framework: it is handed ``sync``.

For one cell, :func:`measure`

1. times the first call on its own (``first_call_s``: trace, compile and run);
2. warms up, timing each warm-up call, and picks the number of inner loops so
   one sample lasts at least ``min_sample_s`` (microsecond ops stay measurable
   above the clock's resolution and the loop's own overhead);
3. takes samples of ``n_loops`` calls, each call followed by ``sync`` inside
   the timed region, until the 95% confidence interval of the median is within
   ``target_rel_ci`` of it (relative half-width) or the time budget is spent,
   but never fewer than ``min_samples``;
4. summarises the per-call times (sample time / n_loops).

The garbage collector is off while sampling, as in ``timeit``.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class TimerSettings:
    target_rel_ci: float = 0.01
    budget_s: float = 2.0
    min_samples: int = 5
    max_samples: int = 1000
    min_sample_s: float = 0.01
    warmup_s: float = 0.05
    min_warmup_calls: int = 1

    @classmethod
    def quick(cls) -> "TimerSettings":
        return cls(target_rel_ci=0.05, budget_s=0.2, min_samples=3, max_samples=200,
                   min_sample_s=0.002, warmup_s=0.01)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Measurement:
    first_call_s: float
    samples_s: list[float]  # per-call seconds, one per sample
    n_loops: int
    warmup_calls: int
    converged: bool
    timed_s: float  # seconds spent inside timed regions, first call and warm-up included
    output: Any = field(repr=False, default=None)

    def statistics(self) -> dict[str, float]:
        return summarize(self.samples_s)


def median_ci(sorted_samples: list[float], z: float = Z_95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics.

    The ranks n/2 -/+ z*sqrt(n)/2 (normal approximation to the binomial) are
    rounded outwards, so the interval is conservative for small n.
    """
    n = len(sorted_samples)
    if n == 0:
        return math.nan, math.nan
    half_width = z * math.sqrt(n) / 2
    low_rank = max(1, math.floor(n / 2 - half_width))
    high_rank = min(n, math.ceil(n / 2 + 1 + half_width))
    return sorted_samples[low_rank - 1], sorted_samples[high_rank - 1]


def relative_ci_half_width(sorted_samples: list[float]) -> float:
    low, high = median_ci(sorted_samples)
    median = statistics.median(sorted_samples)
    if not median > 0:
        return math.inf
    return (high - low) / 2 / median


def summarize(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return {}
    low, high = median_ci(ordered)
    if n >= 2:
        quartiles = statistics.quantiles(ordered, n=4, method="inclusive")
        iqr = quartiles[2] - quartiles[0]
        stdev = statistics.stdev(ordered)
    else:
        iqr = stdev = 0.0
    median = statistics.median(ordered)
    return {
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "median_s": median,
        "mean_s": statistics.fmean(ordered),
        "stdev_s": stdev,
        "iqr_s": iqr,
        "ci95_low_s": low,
        "ci95_high_s": high,
        "rel_ci95": (high - low) / 2 / median if median > 0 else math.inf,
    }


def _run(call: Callable[[], Any], sync: Callable[[Any], None], loops: int,
         clock: Callable[[], float]) -> tuple[float, Any]:
    output = None
    start = clock()
    for _ in range(loops):
        output = call()
        sync(output)
    return clock() - start, output


def choose_loops(per_call_s: float, min_sample_s: float) -> int:
    """Smallest of 1, 2, 5, 10, 20, 50, ... calls that lasts at least ``min_sample_s``."""
    if per_call_s <= 0:
        per_call_s = 1e-9
    loops = 1
    steps = (2, 2.5, 2)
    index = 0
    while loops * per_call_s < min_sample_s and loops < 10**7:
        loops = int(loops * steps[index % 3])
        index += 1
    return loops


def measure(
    call: Callable[[], Any],
    sync: Callable[[Any], None],
    settings: TimerSettings = TimerSettings(),
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Time ``call`` (which takes no arguments); see the module docstring."""
    first_call_s, output = _run(call, sync, 1, clock)
    timed = first_call_s

    warmup_times = []
    warmup_start = clock()
    while len(warmup_times) < settings.min_warmup_calls or clock() - warmup_start < settings.warmup_s:
        elapsed, output = _run(call, sync, 1, clock)
        warmup_times.append(elapsed)
        timed += elapsed
        if len(warmup_times) >= 1000:
            break
    loops = choose_loops(min(warmup_times), settings.min_sample_s)

    samples: list[float] = []
    converged = False
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        sampling_start = clock()
        while True:
            elapsed, output = _run(call, sync, loops, clock)
            timed += elapsed
            samples.append(elapsed / loops)
            if len(samples) >= settings.min_samples:
                if relative_ci_half_width(sorted(samples)) <= settings.target_rel_ci:
                    converged = True
                    break
                if clock() - sampling_start >= settings.budget_s or len(samples) >= settings.max_samples:
                    break
    finally:
        if gc_was_enabled:
            gc.enable()
    return Measurement(
        first_call_s=first_call_s,
        samples_s=samples,
        n_loops=loops,
        warmup_calls=len(warmup_times),
        converged=converged,
        timed_s=timed,
        output=output,
    )
