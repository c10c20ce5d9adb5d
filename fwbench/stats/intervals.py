"""Confidence intervals for a cell's median: within one process, and over rounds of processes.

Within one process (one round), the distribution-free interval of the median
uses order statistics at exact binomial ranks: with n samples, the largest k
such that P(B <= k - 1) <= alpha / 2 for B ~ Binomial(n, 1/2) gives the
interval [x_(k), x_(n+1-k)] at level 1 - 2 P(B <= k - 1) >= 95%.  Below six
samples no k reaches 95%; the interval is then [min, max] and its level,
1 - 2^(1-n) (75% at n = 3, 94% at n = 5), is stated, not called 95%.

Over rounds, a run's samples come from several fresh worker processes whose
medians differ by more than one process's samples can show (memory layout,
allocator state, the machine's drift).  The cell's interval is then a 95%
prediction interval for the next run's median (of as many rounds): around the
median m of all samples, m * exp(+- t_{0.975, df} * sd * sqrt(2 k_R / R)), where
sd is the standard deviation of the logarithms of the per-round medians (pooled
over the run's cells by :mod:`fwbench.stats.pooling`, which sets df) and k_R the
variance of a median of R values over that of their mean (1.34 at R = 3).  A
confidence interval (sqrt(1 / R)) would describe this run's estimate only; the
next run's lands inside it with probability
P(|t_{R-1}| < t_{0.975, R-1} / sqrt 2), 0.91 at three rounds and falling to
0.83 with more, which is not the promise a reader takes from it.  Both carry
the round-to-round variation, and within-round noise through the round
medians.  tests/stats/test_intervals.py checks the coverage by simulation against
an interval from one round, which fails it.

Standard library only: the worker uses it too.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

from fwbench.stats.pooling import log_variance

CONFIDENCE = 0.95

def normal_quantile(probability: float) -> float:
    """The standard normal distribution's quantile (t with infinitely many degrees of freedom).

    The standard library's (Wichura's AS 241, as scipy's to 1e-15), not scipy's: this module is imported by
    every worker, and ``scipy.stats`` costs each worker start about 0.85 s of CPU (``python -X importtime``),
    eight of them at once under ``fwbench ab``."""
    return NormalDist().inv_cdf(probability)


Z_975 = normal_quantile(0.975)  # 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float  # the coverage the method gives (exact for order statistics, nominal for t)
    method: str  # "order statistics" or "t prediction over rounds"


def binomial_cdf(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2)."""
    if k < 0:
        return 0.0
    return sum(math.comb(n, i) for i in range(min(k, n) + 1)) / 2**n


@functools.lru_cache(maxsize=4096)
def median_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int, float]:
    """1-based ranks (low, high) of the median's order-statistic interval for ``n`` samples, and its level.

    The binomial tail is summed one term at a time, each term from the last, and each ``n`` is computed once:
    the sampler asks after every sample, and summing every tail afresh took 1.8 ms at 170 samples and 0.94 s at
    900, time spent between one sample and the next (session 17)."""
    if n < 1:
        raise ValueError("no samples")
    alpha_half = (1 - confidence) / 2
    total = 2**n
    term = cumulative = 1  # C(n, k - 1), and the sum of C(n, i) for i <= k - 1: 2^n P(B <= k - 1)
    best, best_cumulative, k = 1, 1, 1
    # The interval [x_(k), x_(n+1-k)] covers the median with probability 1 - 2 P(B <= k-1).
    while k <= (n + 1) // 2 and cumulative / total <= alpha_half:
        best, best_cumulative = k, cumulative
        term = term * (n - k + 1) // k
        cumulative += term
        k += 1
    level = 1 - 2 * (best_cumulative / total)
    return best, n + 1 - best, level


def median_interval(sorted_samples: list[float], confidence: float = CONFIDENCE) -> Interval:
    """The order-statistic interval of the median of ``sorted_samples`` (ascending) at exact ranks."""
    low_rank, high_rank, level = median_ranks(len(sorted_samples), confidence)
    return Interval(sorted_samples[low_rank - 1], sorted_samples[high_rank - 1], level, "order statistics")


def t_quantile(probability: float, degrees_of_freedom: float) -> float:
    """Student's t quantile (fractional degrees of freedom allowed); infinite ones give the normal quantile.
    The one quantile function of fwbench's statistics."""
    if degrees_of_freedom <= 0:
        return math.inf
    from scipy.stats import t

    return float(t.ppf(probability, degrees_of_freedom))


def t_quantile_975(degrees_of_freedom: float) -> float:
    """t(0.975, df): the two-sided 95% quantile."""
    return t_quantile(1 - (1 - CONFIDENCE) / 2, degrees_of_freedom) if degrees_of_freedom >= 1 else math.inf


# The variance of the median of R normal values over that of their mean (Monte Carlo, 2,000,000 draws each):
# a run's median sits near the middle round's level, which moves more than the rounds' mean does.
_MEDIAN_VARIANCE_FACTOR = (1.0, 1.343, 1.195, 1.432, 1.288, 1.473, 1.349, 1.494, 1.381, 1.509, 1.409)


def median_variance_factor(rounds: int) -> float:
    """Var(median of ``rounds`` normal values) * rounds / sigma^2; pi/2 in the limit."""
    if rounds < 2:
        return 1.0
    return _MEDIAN_VARIANCE_FACTOR[rounds - 2] if rounds - 2 < len(_MEDIAN_VARIANCE_FACTOR) else math.pi / 2


WIDE_INTERVAL = 0.10  # a relative half-width above this: the cell's rounds disagree


def widest_intervals(records: list[dict]) -> list[dict]:
    """The ``ok`` cells whose 95% interval is wider than ±10%, widest first (the noise reports list these)."""
    wide = [record for record in records if record.get("status") == "ok"
            and isinstance(record.get("rel_ci95"), (int, float)) and record["rel_ci95"] > WIDE_INTERVAL]
    return sorted(wide, key=lambda record: -record["rel_ci95"])


def rounds_interval(round_medians: list[float], median: float,
                    pooled: tuple[float, float] | None = None) -> Interval:
    """The 95% prediction interval, from R >= 2 rounds, of the next run's median, around this run's ``median``.

    ``pooled`` is the cell's variance of log round medians and its degrees of freedom after shrinking toward
    the run's pooled value (:mod:`fwbench.stats.pooling`); without it, the cell's own (R - 1 degrees of freedom).

    On three runs of bench/reproducibility.yaml here, centring on the median of all samples held the next
    run's median 0.931 of the time against 0.903 for the geometric mean of the round medians, whose spread
    between runs was larger (one odd process moves it more)."""
    if len(round_medians) < 2:
        raise ValueError("an interval over rounds needs two rounds or more")
    if pooled is None:
        variance, degrees = log_variance(round_medians), len(round_medians) - 1
        method = "t prediction over rounds"
    else:
        (variance, degrees), method = pooled, "t prediction over rounds, spread pooled over the run's cells"
    rounds = len(round_medians)
    half = t_quantile_975(degrees) * math.sqrt(variance * 2 * median_variance_factor(rounds) / rounds)
    return Interval(median * math.exp(-half), median * math.exp(half), CONFIDENCE, method)


def geometric_mean_interval(values: Sequence[float], lows: Sequence[float | None] | None = None,
                            highs: Sequence[float | None] | None = None) -> tuple[float, float | None, float | None]:
    """The geometric mean of positive ratios and, when every one has a 95% interval, the mean's 95% interval:
    each ratio's interval read as normal on the log scale (half-width / Z_975 its sd), the ratios independent.
    The one home of the suite's geometric means (the leaderboard's and the summary table's)."""
    logs = [math.log(value) for value in values]
    centre = sum(logs) / len(logs)
    if lows is None or highs is None or any(value is None for value in (*lows, *highs)):
        return math.exp(centre), None, None
    variances = [((math.log(high) - math.log(low)) / (2 * Z_975)) ** 2 for low, high in zip(lows, highs)]
    half = Z_975 * math.sqrt(sum(variances)) / len(logs)
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)
