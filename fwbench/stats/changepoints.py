"""Change points in a benchmark's history: where a cell's median stepped, by how much, and how sure that is.

A history is one cell's medians over runs in time order (``fwbench history``).  On the logarithms:

* **Detection**: PELT (Killick et al. 2012, via ``ruptures``, which needs only numpy and scipy and installs
  beside every framework; Apache Otava and MongoDB's ``signal-processing-algorithms`` pin old numpy) with the
  ``l2`` cost and a penalty of ``PENALTY_FACTOR * sigma^2 * log(n)``: a BIC-like penalty scaled by the
  series' own noise ``sigma``, estimated robustly from its run-to-run differences (the median absolute
  successive difference / (0.6745 * sqrt 2)), so a step of a few sigma over a few runs is found and the
  noise alone is not.  ``PENALTY_FACTOR`` is calibrated on this machine's noise by ``bench/history_check.py``
  (flat histories resampled from real rounds: at most 1 false change per 20 series).
* **Each change**: its size (the median of the segment after over that of the segment before), and a
  p-value, Welch's t on the log medians of the two segments around it.  The p-value is computed after the
  change was chosen, so it overstates the evidence; it ranks changes, it does not test them.
* **A noise threshold per series**, as rustc-perf learns one per benchmark: ``Q3 + 3 IQR`` of the absolute
  run-to-run log changes over the last 100 steps, the change one run may show by noise alone.  A change
  point below it (``below_run_threshold``) is one that no single run shows beyond noise: only the runs
  on each side of it together do, so a gate that judges each run against the last would miss it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

# times sigma^2 log(n): bench/history_check.py, 2026-12-06: 0.65-0.83 false per 20 flat series, 90% found
PENALTY_FACTOR = 10.0
MIN_SEGMENT = 2  # runs on each side of a change
THRESHOLD_WINDOW = 100  # run-to-run changes the noise threshold learns from


@dataclass(frozen=True)
class Change:
    """A step in a series: at ``index`` (the first run after it), its size (after / before) and p-value."""

    index: int
    size: float
    p_value: float
    below_run_threshold: bool


@dataclass(frozen=True)
class SeriesChanges:
    """One series' change points and the noise it was judged against."""

    changes: tuple[Change, ...]
    sigma: float  # robust sd of the log medians' run-to-run noise
    threshold: float  # rustc-perf style: a run-to-run change (as a ratio) that noise alone rarely reaches


def robust_sigma(logs: Sequence[float]) -> float:
    """The noise of a series of log medians from its successive differences (a step moves one difference)."""
    differences = [abs(b - a) for a, b in zip(logs, logs[1:])]
    if not differences:
        return 0.0
    return statistics.median(differences) / (0.6745 * math.sqrt(2))


def noise_threshold(logs: Sequence[float]) -> float:
    """``exp(Q3 + 3 IQR)`` of the absolute run-to-run log changes over the last :data:`THRESHOLD_WINDOW`."""
    changes = sorted(abs(b - a) for a, b in list(zip(logs, logs[1:]))[-THRESHOLD_WINDOW:])
    if len(changes) < 4:
        return math.inf
    first, third = _quantile(changes, 0.25), _quantile(changes, 0.75)
    return math.exp(third + 3 * (third - first))


def _quantile(ordered: Sequence[float], share: float) -> float:
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def welch_p(before: Sequence[float], after: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t on two samples (1.0 when either has fewer than two values)."""
    from scipy import stats

    if len(before) < 2 or len(after) < 2:
        return 1.0
    if statistics.pvariance(before) == 0 and statistics.pvariance(after) == 0:
        return 0.0 if statistics.fmean(before) != statistics.fmean(after) else 1.0
    return float(stats.ttest_ind(after, before, equal_var=False).pvalue)


def detect(medians: Sequence[float], penalty_factor: float = PENALTY_FACTOR,
           sigma: float | None = None) -> SeriesChanges:
    """The change points of a series of medians (seconds, time order); ``sigma`` overrides the noise estimate
    (e.g. the rounds' spread within each run)."""
    import numpy
    import ruptures

    logs = [math.log(value) for value in medians]
    noise = robust_sigma(logs) if sigma is None else sigma
    threshold = noise_threshold(logs)
    if len(logs) < 2 * MIN_SEGMENT or noise <= 0:
        return SeriesChanges((), noise, threshold)
    signal = numpy.asarray(logs).reshape(-1, 1)
    ends = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(signal).predict(
        pen=penalty_factor * noise ** 2 * math.log(len(logs)))
    bounds = [0, *ends]
    changes = []
    for left, middle, right in zip(bounds, bounds[1:], bounds[2:]):
        before, after = logs[left:middle], logs[middle:right]
        size = math.exp(statistics.median(after) - statistics.median(before))
        changes.append(Change(middle, size, welch_p(before, after), max(size, 1 / size) < threshold))
    return SeriesChanges(tuple(changes), noise, threshold)
