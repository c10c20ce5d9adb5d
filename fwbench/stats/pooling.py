"""Borrowing strength across the cells of one run: variances of log round medians shrunk toward a pooled value.

A cell measured in R rounds has R - 1 degrees of freedom for the spread of its
round medians: with three rounds, its 95% interval multiplies a standard
deviation estimated from three points by t(0.975, 2) * sqrt(2/3) = 3.51, and a
single odd round decides the width.  But the cells of one framework, mode and
device in one run share their worker's import state, the machine and the hour;
their round-to-round spreads are alike.  So each cell's variance is shrunk
toward the group's pooled variance with the empirical-Bayes estimator that
limma uses for gene-wise variances (Smyth 2004, "Linear models and empirical
Bayes methods for assessing differential expression in microarray
experiments"):

    s_post^2 = max(s^2, (d0 * s0^2 + d * s^2) / (d0 + d)),    degrees of freedom d0 + d,

where s0^2 and d0 (the prior's variance and degrees of freedom) are estimated
from the spread of the cells' log variances: cells whose spreads differ no
more than sampling explains give a large d0 (strong pooling); cells that are
really different give a small d0, and each keeps most of its own spread.  d0
is never more than the group's own total degrees of freedom.

A round during whose sampling other processes took CPU (measured in the
cell's process, :mod:`fwbench.machine.contention`) is set apart by
:func:`contended_rounds`, and a round that ran far slower than the cell's
other rounds (a disturbance the measurement cannot see) by
:func:`disturbed_rounds`, before anything is pooled; a cell whose rounds found the host allocator in
different states (:func:`allocator_states`) is reported as two states and
never trimmed.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass

MIN_CELLS = 4  # fewer cells in a group than this: no prior, each cell keeps its own spread

# A round is disturbed when its median exceeds the median of the cell's rounds by both this factor and
# DISTURBED_SCALES pooled standard deviations (in logs).  Only slower rounds: other work only adds time.
DISTURBED_FACTOR = 1.5
DISTURBED_SCALES = 5.0

# Rounds whose fresh-page counts differ by this much a call, enough to cost this share of the time at
# this much a page, found the host allocator in different states (README: the allocator).
ALLOCATOR_FAULTS = 256
PAGE_FAULT_COST_S = 0.25e-6
ALLOCATOR_SHARE = 0.1


# Half a core on average over a round's sampling: well above what /proc/stat's 10 ms ticks can misread
# over a 0.1 s round, and what another process holding a core for at least half of it reads.
CONTENDED_CORES = 0.5
THRESHOLD_VARIABLE = "FWBENCH_CONTENDED_CORES"  # another threshold, or "off" (the test suite's two processes)


def contended_threshold() -> float | None:
    """The cores of other work that make a round contended: :data:`CONTENDED_CORES`, or the environment's
    ``FWBENCH_CONTENDED_CORES`` (a number, or ``off`` for never: then no round is repeated or set apart)."""
    value = os.environ.get(THRESHOLD_VARIABLE, "").strip().lower()
    if not value:
        return CONTENDED_CORES
    if value == "off":
        return None
    try:
        threshold = float(value)
    except ValueError:
        threshold = math.nan
    if not (math.isfinite(threshold) and threshold > 0):
        from fwbench.errors import UserError

        raise UserError(f"environment variable {THRESHOLD_VARIABLE}: received {value!r}, expected a positive number "
                        "of cores or 'off'", hint=f"unset it, or set e.g. {THRESHOLD_VARIABLE}=0.5")
    return threshold

@dataclass(frozen=True)
class Prior:
    """The pooled variance of log round medians (``variance``) and how many degrees of freedom it is worth."""

    variance: float
    degrees_of_freedom: float
    cells: int


def _digamma(x: float) -> float:
    from scipy.special import digamma

    return float(digamma(x))


def _trigamma(x: float) -> float:
    from scipy.special import polygamma

    return float(polygamma(1, x))


def _inverse_trigamma(y: float) -> float:
    """x with trigamma(x) = y (Smyth's Newton iteration, as in limma's trigammaInverse)."""
    from scipy.special import polygamma

    if y > 1e7:
        return 1 / math.sqrt(y)
    if y < 1e-6:
        return 1 / y
    x = 0.5 + 1 / y
    for _ in range(50):
        trigamma = _trigamma(x)
        step = trigamma * (1 - trigamma / y) / float(polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def estimate_prior(variances: list[float], degrees: list[int]) -> Prior | None:
    """The prior (s0^2, d0) from cells' variances of log round medians and their degrees of freedom; None
    when fewer than :data:`MIN_CELLS` cells have a positive variance."""
    pairs = [(variance, degree) for variance, degree in zip(variances, degrees)
             if degree >= 1 and variance > 0 and math.isfinite(variance)]
    if len(pairs) < MIN_CELLS:
        return None
    adjusted = [math.log(variance) - _digamma(degree / 2) + math.log(degree / 2) for variance, degree in pairs]
    mean = statistics.fmean(adjusted)
    excess = statistics.variance(adjusted) - statistics.fmean(_trigamma(degree / 2) for _, degree in pairs)
    total = float(sum(degree for _, degree in pairs))
    prior_degrees = total if excess <= 0 else min(total, 2 * _inverse_trigamma(excess))
    variance = math.exp(mean + _digamma(prior_degrees / 2) - math.log(prior_degrees / 2))
    return Prior(variance, prior_degrees, len(pairs))


def shrink(variance: float, degrees: int, prior: Prior | None) -> tuple[float, float]:
    """The cell's posterior variance, never below its own, and its degrees of freedom (the cell's own
    without a prior).

    Shrinking only upward: pooling lifts a spread that a few rounds happened to understate, and leaves a
    cell whose rounds disagree its disagreement.  On the kept runs of bench/reproducibility.py here, the
    two-sided estimate held the next run's median 0.910 of the time (0.844 with one core busy for 20 s in
    one run), this one 0.944 (0.875), at median half-widths of 37.5% and 39.4%."""
    if prior is None:
        return variance, float(degrees)
    total = prior.degrees_of_freedom + degrees
    return max(variance, (prior.degrees_of_freedom * prior.variance + degrees * variance) / total), total


def log_variance(values: list[float]) -> float:
    """The sample variance of the logarithms of ``values`` (two or more)."""
    return statistics.variance([math.log(value) for value in values])


def disturbed_rounds(round_medians: list[float], pooled_variance: float | None) -> list[int]:
    """Indices of the rounds that ran far slower than the cell's others (see :data:`DISTURBED_FACTOR`).

    The centre is the median of the round medians; at most a minority of the rounds can be set apart, so
    that at least two (and more than half) remain."""
    if len(round_medians) < 3 or not pooled_variance:
        return []
    centre = statistics.median(math.log(value) for value in round_medians)
    bound = max(math.log(DISTURBED_FACTOR), DISTURBED_SCALES * math.sqrt(pooled_variance))
    far = sorted((index for index, value in enumerate(round_medians) if math.log(value) - centre > bound),
                 key=lambda index: -round_medians[index])
    allowed = min(len(round_medians) - 2, (len(round_medians) - 1) // 2)
    return sorted(far[:allowed])


def contended_rounds(cores_by_round: list[float | None], rounds: int, threshold: float | None) -> list[int]:
    """Indices of the rounds during whose timing other processes took at least ``threshold`` cores on
    average (``other_cpu_cores``, :mod:`fwbench.machine.contention`; the threshold the run used, recorded
    in its rows), the most contended first, as many as can go while two of the ``rounds`` remain; none
    when the threshold is None (off, or a run that predates the measure)."""
    if threshold is None:
        return []
    contended = sorted((index for index, value in enumerate(cores_by_round)
                        if value is not None and value >= threshold),
                       key=lambda index: -cores_by_round[index])
    return contended[:max(0, rounds - 2)]


def faults_matter(low_faults: float, high_faults: float, fastest_s: float) -> bool:
    """Whether two fresh-page counts a call differ by enough to put two timings in different allocator states:
    by :data:`ALLOCATOR_FAULTS` pages at least, costing :data:`ALLOCATOR_SHARE` of ``fastest_s`` or more at
    :data:`PAGE_FAULT_COST_S` a page (used for a cell's rounds and for the series of one workload size)."""
    difference = abs(high_faults - low_faults)
    return difference >= ALLOCATOR_FAULTS and difference * PAGE_FAULT_COST_S >= ALLOCATOR_SHARE * fastest_s


def allocator_states(round_medians: list[float], faults_by_round: list[float | None]) -> list[dict] | None:
    """Two states of the host allocator when the rounds' fresh pages a call differ by enough to matter:
    each with its rounds (0-based indices), its fresh pages a call and the median of its round medians."""
    pairs = [(index, faults) for index, faults in enumerate(faults_by_round)
             if faults is not None and index < len(round_medians)]
    if len(pairs) < 2:
        return None
    low, high = min(faults for _, faults in pairs), max(faults for _, faults in pairs)
    if not faults_matter(low, high, min(round_medians)):
        return None
    middle = (low + high) / 2
    states = []
    for members in ([i for i, f in pairs if f <= middle], [i for i, f in pairs if f > middle]):
        states.append({"rounds": members,
                       "page_faults_per_call": statistics.median(faults_by_round[i] for i in members),
                       "median_s": statistics.median(round_medians[i] for i in members)})
    return states
