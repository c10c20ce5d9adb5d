"""Confidence intervals for a cell's median: within one process, and over rounds of processes.

Within one process (one round), the distribution-free interval of the median
uses order statistics at exact binomial ranks: with n samples, the largest k
such that P(B <= k - 1) <= alpha / 2 for B ~ Binomial(n, 1/2) gives the
interval [x_(k), x_(n+1-k)] at level 1 - 2 P(B <= k - 1) >= 95%.  Below six
samples no k reaches 95%; the interval is then [min, max] and its level,
1 - 2^(1-n) (75% at n = 3, 94% at n = 5), is stated, not called 95%.

Over rounds, a run's samples come from several fresh worker processes whose
medians differ by more than one process's samples can show (memory layout,
allocator state, the machine's drift).  The interval of the cell's median is
then a t interval on the logarithms of the per-round medians:
exp(mean +- t_{0.975, R-1} * sd / sqrt(R)).  It carries the round-to-round
variation, and within-round noise through the round medians themselves.
tests/test_intervals.py checks its coverage by simulation against an interval
from one round, which fails it.

Standard library only: the worker uses it too.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

CONFIDENCE = 0.95

# t_{0.975, df} for df = 1..30; beyond, the normal quantile is within 4%.
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
          2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
          2.045, 2.042)
Z_975 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float  # the coverage the method gives (exact for order statistics, nominal for t)
    method: str  # "order statistics" or "t over rounds"


def binomial_cdf(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2)."""
    if k < 0:
        return 0.0
    return sum(math.comb(n, i) for i in range(min(k, n) + 1)) / 2**n


def median_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int, float]:
    """1-based ranks (low, high) of the median's order-statistic interval for ``n`` samples, and its level."""
    if n < 1:
        raise ValueError("no samples")
    alpha_half = (1 - confidence) / 2
    best = 1
    k = 1
    # The interval [x_(k), x_(n+1-k)] covers the median with probability 1 - 2 P(B <= k-1).
    while k <= (n + 1) // 2 and binomial_cdf(k - 1, n) <= alpha_half:
        best = k
        k += 1
    level = 1 - 2 * binomial_cdf(best - 1, n)
    return best, n + 1 - best, level


def median_interval(sorted_samples: list[float], confidence: float = CONFIDENCE) -> Interval:
    """The order-statistic interval of the median of ``sorted_samples`` (ascending) at exact ranks."""
    low_rank, high_rank, level = median_ranks(len(sorted_samples), confidence)
    return Interval(sorted_samples[low_rank - 1], sorted_samples[high_rank - 1], level, "order statistics")


def t_quantile_975(degrees_of_freedom: int) -> float:
    if degrees_of_freedom < 1:
        return math.inf
    if degrees_of_freedom <= len(_T_975):
        return _T_975[degrees_of_freedom - 1]
    return Z_975


def rounds_interval(round_medians: list[float]) -> Interval:
    """The 95% interval of the cell's median from the medians of R >= 2 rounds (t on logarithms)."""
    if len(round_medians) < 2:
        raise ValueError("an interval over rounds needs two rounds or more")
    logs = [math.log(value) for value in round_medians]
    centre = statistics.fmean(logs)
    half = t_quantile_975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return Interval(math.exp(centre - half), math.exp(centre + half), CONFIDENCE, "t over rounds")
