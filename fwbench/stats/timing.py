"""What a timing is and its statistics: the timer's settings (:class:`TimerSettings`), a cell's measurement
(:class:`Measurement`), the median's interval and the per-call summary (:func:`summarize`).  How the samples
are taken, first call, warm-up and sampling, is :mod:`fwbench.stats.sampler`.  It knows no framework.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from fwbench.stats.intervals import median_interval


@dataclass(frozen=True)
class TimerSettings:
    target_rel_ci: float = 0.01
    budget_s: float = 1.0
    min_samples: int = 5
    max_samples: int = 1000
    min_sample_s: float = 0.01
    warmup_s: float = 0.05  # one warm-up window; 0 turns warm-up off (min_warmup_calls still run)
    min_warmup_calls: int = 1
    max_warmup_s: float = 0.3  # windows stop being added past this much warm-up

    @classmethod
    def quick(cls) -> "TimerSettings":
        return cls(target_rel_ci=0.05, budget_s=0.2, min_samples=3, max_samples=200,
                   min_sample_s=0.002, warmup_s=0.01, max_warmup_s=0.05)

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
    device_samples_s: list[float] = field(default_factory=list)  # per call, by the device's timer

    def statistics(self) -> dict[str, float]:
        return summarize(self.samples_s)


class DeviceTimer:
    """What an adapter's ``device_timer()`` returns: ``start()`` before a sample's calls, ``stop()`` after
    the last call and before the sync, ``elapsed_s()`` after the sync."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def elapsed_s(self) -> float:
        raise NotImplementedError


def median_ci(sorted_samples: list[float]) -> tuple[float, float]:
    """Distribution-free interval of the median from order statistics at exact binomial ranks.

    At least 95% where six or more samples allow it; below that it is
    [min, max] at the lower level :func:`fwbench.stats.intervals.median_ranks` states.
    """
    if not sorted_samples:
        return math.nan, math.nan
    interval = median_interval(sorted_samples)
    return interval.low, interval.high


def relative_ci_half_width(sorted_samples: list[float]) -> float:
    low, high = median_ci(sorted_samples)
    median = statistics.median(sorted_samples)
    if not median > 0:
        return math.inf
    return (high - low) / 2 / median


MAD_OUTLIER_Z = 3.5  # modified z-score above which a sample is an outlier (Iglewicz and Hoaglin)


def mad_outliers(samples: list[float], threshold: float = MAD_OUTLIER_Z) -> list[int]:
    """Indices of samples whose modified z-score 0.6745 * |x - median| / MAD exceeds ``threshold``."""
    if len(samples) < 3:
        return []
    median = statistics.median(samples)
    mad = statistics.median(abs(x - median) for x in samples)
    if mad == 0:
        return []  # more than half the samples are identical: nothing stands out by this rule
    return [i for i, x in enumerate(samples) if 0.6745 * abs(x - median) / mad > threshold]


def summarize(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return {}
    interval = median_interval(ordered)
    low, high = interval.low, interval.high
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
        "ci_level": interval.level,
        "ci_method": interval.method,
        "n_outliers": len(mad_outliers(ordered)),
    }
