"""Ratios of two cells' medians with intervals that carry the process-to-process variation.

Every verdict fwbench prints ("jax/jit is 2.1x faster", "this cell got slower",
"equivalent within 5%") is a statement about the ratio of two medians, and is made
only when an interval of that ratio says so.  One process's samples cannot
give that interval: their spread misses the differences between processes
(memory layout, allocator state, the machine's drift), which on this
project's 2-core machine are larger than the within-process noise.  So the
unit of replication is the round: each cell is measured in R fresh worker
processes, and the statistics work on the logarithms of the round medians.

* **Paired** (:func:`paired_ratio`): both cells come from the same run, and
  round r of one ran next to round r of the other (the runner rotates the
  framework order every round).  The differences d_r = log a_r - log b_r
  cancel whatever drift the machine had in that round; the interval is
  mean(d) +- t_{R-1} sd(d) / sqrt(R), placed around the ratio of the cells'
  medians.
* **Independent** (:func:`independent_ratio`): the cells come from two runs
  (``fwbench compare``).  Welch's interval on the two sets of log round
  medians, df by Welch-Satterthwaite.  When one side has a single round its
  variance is taken to be the other side's (the same cell on the same
  machine); when both have one, there is no interval.

Both are confidence intervals for the ratio of the underlying medians (how
much faster a series is), not prediction intervals for one next run.  The
level is a parameter: ``fwbench compare`` widens it over the number of cells
it compares (Bonferroni), so that a comparison of hundreds of unchanged cells
raises no alarm at the stated rate.  A ratio with no interval is reported with
the reason (``method``), and no verdict is drawn from it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Mapping

from fwbench.stats.intervals import CONFIDENCE, t_quantile


@dataclass(frozen=True)
class Ratio:
    """``value`` = numerator median / denominator median; ``low``/``high`` None when no interval exists."""

    value: float
    low: float | None
    high: float | None
    level: float
    method: str
    rounds: int
    degrees_of_freedom: float | None = None  # of the t quantile the interval used (None: not known)

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def at_level(self, level: float) -> "Ratio":
        """The same ratio with its interval at ``level``: every interval here is value * exp(+-t(df) * se), so
        only the quantile changes, and the pairing and pooling behind it are not done again.  Without an
        interval or known degrees of freedom the ratio is returned as it is."""
        if not self.has_interval or self.degrees_of_freedom is None or level == self.level:
            return self
        half = math.log(self.high / self.value)
        if half > 0:
            half *= (t_quantile(0.5 + level / 2, self.degrees_of_freedom)
                     / t_quantile(0.5 + self.level / 2, self.degrees_of_freedom))
        return Ratio(self.value, self.value * math.exp(-half), self.value * math.exp(half), level, self.method,
                     self.rounds, self.degrees_of_freedom)

    def above(self, bound: float = 1.0) -> bool:
        return self.low is not None and self.low > bound

    def below(self, bound: float = 1.0) -> bool:
        return self.high is not None and self.high < bound

    def as_dict(self) -> dict[str, Any]:
        return {"ratio": self.value, "low": self.low, "high": self.high, "level": self.level, "method": self.method,
                "rounds": self.rounds}


def round_medians(row: Mapping[str, Any]) -> dict[int, float]:
    """The cell's median per round, keyed by round number (a cell of one round: its median as round 1)."""
    medians = _value(row, "round_medians_s")
    numbers = _value(row, "round_numbers")
    if isinstance(medians, (list, tuple)) and len(medians) >= 1:
        if not isinstance(numbers, (list, tuple)) or len(numbers) != len(medians):
            numbers = list(range(1, len(medians) + 1))
        return {int(number): float(median) for number, median in zip(numbers, medians) if median and median > 0}
    median = _value(row, "median_s")
    round_number = _value(row, "round") or 1
    return {int(round_number): float(median)} if median and median > 0 else {}


def _value(row: Mapping[str, Any], key: str) -> Any:
    value = row.get(key) if hasattr(row, "get") else None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _logs(values) -> list[float]:
    return [math.log(value) for value in values]


@dataclass(frozen=True)
class PairedParts:
    """A paired ratio's pieces: the variance of the per-round log differences and its degrees of freedom."""

    value: float
    variance: float
    degrees_of_freedom: int
    rounds: int


def paired_parts(numerator: Mapping[str, Any], denominator: Mapping[str, Any]) -> PairedParts | None:
    """The pieces of numerator / denominator paired round by round; None with fewer than two common rounds."""
    top, bottom = round_medians(numerator), round_medians(denominator)
    common = sorted(set(top) & set(bottom))
    if len(common) < 2:
        return None
    differences = [math.log(top[r]) - math.log(bottom[r]) for r in common]
    value = float(numerator["median_s"]) / float(denominator["median_s"])
    return PairedParts(value, statistics.variance(differences), len(common) - 1, len(common))


def paired_ratio(numerator: Mapping[str, Any], denominator: Mapping[str, Any], level: float = CONFIDENCE,
                 prior: Any = None) -> Ratio:
    """numerator / denominator for two cells of one run, paired round by round (see the module docstring).

    ``prior`` (a :class:`fwbench.stats.pooling.Prior` over the run's pairs) shrinks the pair's variance of log
    differences toward the run's pooled one; the interval is t * sqrt(k_R * variance / R) around the ratio
    of the medians, k_R the median's variance factor (:func:`fwbench.stats.intervals.median_variance_factor`)."""
    from fwbench.stats.intervals import median_variance_factor
    from fwbench.stats.pooling import shrink

    parts = paired_parts(numerator, denominator)
    if parts is None:
        value = float(numerator["median_s"]) / float(denominator["median_s"])
        top, bottom = round_medians(numerator), round_medians(denominator)
        reason = "one round" if max(len(top), len(bottom)) <= 1 else "fewer than two rounds in common"
        return Ratio(value, None, None, level, f"no interval: {reason}", len(set(top) & set(bottom)))
    variance, degrees = shrink(parts.variance, parts.degrees_of_freedom, prior)
    half = t_quantile(1 - (1 - level) / 2, degrees) * math.sqrt(
        variance * median_variance_factor(parts.rounds) / parts.rounds)
    method = f"paired over {parts.rounds} rounds" + (", spread pooled over the run's pairs" if prior else "")
    return Ratio(parts.value, parts.value * math.exp(-half), parts.value * math.exp(half), level, method,
                 parts.rounds, degrees)


EQUIVALENCE_MARGIN = 0.05  # two series whose ratio's interval lies inside 1/1.05 to 1.05 are equivalent


def equivalent(value: Ratio, margin: float = EQUIVALENCE_MARGIN) -> bool:
    """The ratio's interval lies inside [1 / (1 + margin), 1 + margin]: a difference too small to matter,
    shown (an equivalence test, two one-sided tests at the interval's level), not merely not shown."""
    return value.has_interval and value.low >= 1 / (1 + margin) and value.high <= 1 + margin


@dataclass(frozen=True)
class LogRatioParts:
    """The pieces of an independent ratio's interval: log(value), the variance of the difference of the two
    sides' mean log round medians, and its Welch-Satterthwaite degrees of freedom."""

    log_value: float
    variance: float
    degrees_of_freedom: float
    method: str
    rounds: int


def independent_parts(numerator: Mapping[str, Any], denominator: Mapping[str, Any]) -> LogRatioParts | None:
    """Welch's pieces for numerator / denominator from two runs; None when both sides have one round."""
    log_value = math.log(float(numerator["median_s"]) / float(denominator["median_s"]))
    top, bottom = _logs(round_medians(numerator).values()), _logs(round_medians(denominator).values())
    if len(top) < 2 and len(bottom) < 2:
        return None
    if len(top) < 2 or len(bottom) < 2:
        many = top if len(top) >= 2 else bottom
        return LogRatioParts(log_value, statistics.variance(many) * (1 / len(top) + 1 / len(bottom)), len(many) - 1,
                             f"{len(bottom)} against {len(top)} rounds, one side's spread for both",
                             min(len(top), len(bottom)))
    # Welch's, not Student's pooled variance: between runs, cells jump by more than their rounds suggest
    # (a 150 us cell whose rounds agreed within 1.5% moved 35%), and Welch's few degrees of freedom give the
    # heavier tails that this needs.  Pooled variance raised one false alarm in 832 cell comparisons of
    # unchanged code here; Welch's none.  Each side's variance is its run's moderated one where the run
    # pooled its spreads (``pooled_spread``, :mod:`fwbench.stats.pooling`: never below the cell's own, with
    # the prior's degrees of freedom added, but a cell noisier than its run keeps its own): on 1088
    # comparisons of kept runs of unchanged code here, no false alarm either way, and intervals a little
    # narrower (median log half-width 0.414 against 0.427).
    (top_variance, top_degrees), (bottom_variance, bottom_degrees) = _side(numerator, top), _side(denominator, bottom)
    top_part, bottom_part = top_variance / len(top), bottom_variance / len(bottom)
    if top_part + bottom_part == 0:
        degrees = float(len(top) + len(bottom) - 2)
    else:
        degrees = (top_part + bottom_part) ** 2 / (top_part ** 2 / top_degrees + bottom_part ** 2 / bottom_degrees)
    moderated = top_degrees > len(top) - 1 or bottom_degrees > len(bottom) - 1
    return LogRatioParts(log_value, top_part + bottom_part, degrees,
                         f"{len(bottom)} against {len(top)} rounds" + (", spreads pooled within each run" if moderated
                                                                       else ""),
                         min(len(top), len(bottom)))


def _side(row: Mapping[str, Any], logs: list[float]) -> tuple[float, float]:
    """One side's variance of log round medians and its degrees of freedom: the cell's own, shrunk toward
    its run's pooled spread when the run recorded one (``pooled_spread``)."""
    from fwbench.stats.pooling import Prior, shrink

    variance, degrees = statistics.variance(logs), len(logs) - 1
    pooled = _value(row, "pooled_spread")
    if isinstance(pooled, Mapping) and pooled.get("prior_sd") and pooled.get("prior_degrees_of_freedom"):
        prior = Prior(float(pooled["prior_sd"]) ** 2, float(pooled["prior_degrees_of_freedom"]),
                      int(pooled.get("cells") or 0))
        shrunk, shrunk_degrees = shrink(variance, degrees, prior)
        # A cell noisier than its run keeps its own spread, and with it only its own degrees of freedom:
        # an alarm must not rest on a t quantile the cell's own few rounds do not earn.
        return (shrunk, shrunk_degrees) if shrunk > variance else (variance, float(degrees))
    return variance, float(degrees)


def between_run_variance(parts: list[LogRatioParts], minimum_cells: int = 8) -> float:
    """The variance of a cell's log ratio between two runs that the rounds within each run do not show.

    Rounds of one run share the machine's state of that hour; two runs do not, and on this project's
    machine cells moved between runs by more than their rounds predicted (and the whole run by about 6%).
    Model each cell's log ratio, less the median over cells, as normal with variance ``variance + tau2``;
    ``tau2`` solves median(residual^2 / (variance + tau2)) = 0.455 (the median of chi-square with one degree
    of freedom), a robust moment equation that changed cells (a minority) do not move much.  Zero with
    fewer than ``minimum_cells`` cells, or when the rounds already explain the spread."""
    if len(parts) < minimum_cells:
        return 0.0
    center = statistics.median(part.log_value for part in parts)
    residuals = [(part.log_value - center) ** 2 for part in parts]

    def excess(tau2: float) -> float:
        return statistics.median(r / max(part.variance + tau2, 1e-300) for r, part in zip(residuals, parts)) - 0.455

    if excess(0.0) <= 0:
        return 0.0
    high = max(residuals) + 1e-12
    while excess(high) > 0:
        high *= 4
    low = 0.0
    for _ in range(100):  # bisection: excess falls as tau2 grows
        middle = (low + high) / 2
        low, high = (middle, high) if excess(middle) > 0 else (low, middle)
    return high


def independent_ratio(numerator: Mapping[str, Any], denominator: Mapping[str, Any], level: float = CONFIDENCE,
                      extra_variance: float = 0.0) -> Ratio:
    """numerator / denominator for cells of two different runs: Welch's interval on log round medians, with
    ``extra_variance`` (see :func:`between_run_variance`) added."""
    return interval_from_parts(independent_parts(numerator, denominator),
                               float(numerator["median_s"]) / float(denominator["median_s"]), level, extra_variance)


def interval_from_parts(parts: LogRatioParts | None, value: float, level: float = CONFIDENCE,
                        extra_variance: float = 0.0) -> Ratio:
    """The interval of ``value`` from :func:`independent_parts` (computed once, used at several levels), with
    ``extra_variance`` added and its degrees of freedom taken as many."""
    if parts is None:
        return Ratio(value, None, None, level, "no interval: one round on each side", 1)
    total = parts.variance + extra_variance
    degrees = math.inf if parts.variance == 0 else parts.degrees_of_freedom * (total / parts.variance) ** 2
    half = t_quantile(1 - (1 - level) / 2, degrees) * math.sqrt(total)
    method = parts.method + (f", plus between-run spread {math.sqrt(extra_variance):.1%}" if extra_variance else "")
    return Ratio(value, value * math.exp(-half), value * math.exp(half), level, method, parts.rounds, degrees)


def same_run(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    return bool(_value(first, "run_id")) and _value(first, "run_id") == _value(second, "run_id")


def turn_rounds(numerator: Mapping[str, Any], denominator: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """The two cells' turns in the rounds both kept (``turns``, written under ``--interleave``), round by round:
    each round is a cluster, forked from its own worker start or not (:func:`fwbench.stats.paired.turns_by_size`)."""
    from fwbench.stats.paired import Turns

    def by_round(row: Mapping[str, Any]) -> dict[int, Any]:
        entries = _value(row, "turns")
        if not isinstance(entries, list):
            return {}
        return {entry["round"]: Turns(tuple(entry["starts_s"]), tuple(entry["medians_s"])) for entry in entries}

    top, bottom = by_round(numerator), by_round(denominator)
    return [(top[number], bottom[number]) for number in sorted(set(top) & set(bottom))]


def turn_ratio(numerator: Mapping[str, Any], denominator: Mapping[str, Any], level: float = CONFIDENCE,
               prior: Any = None) -> Ratio | None:
    """numerator / denominator from their turns paired in time, clustered by round
    (:func:`fwbench.stats.paired.paired_ratio`); None unless both cells were interleaved in two rounds or more
    (one round's pairs say nothing about new processes)."""
    from fwbench.stats.paired import paired_ratio as paired_turns

    rounds = turn_rounds(numerator, denominator)
    if len(rounds) < 2:
        return None
    found = paired_turns(rounds, level, prior)
    if found is None or found.rounds < 2:
        return None
    return Ratio(found.ratio, found.low, found.high, level, found.method, found.rounds, found.degrees_of_freedom)


def ratio(numerator: Mapping[str, Any], denominator: Mapping[str, Any], level: float = CONFIDENCE,
          prior: Any = None, turn_prior: Any = None) -> Ratio:
    """From turns paired in time when both cells come from the same interleaved run (``turn_prior``: the run's
    prior of between-round variance of mean turn log-ratios); else paired over rounds (with ``prior``, see
    :func:`paired_ratio`) when both come from the same run; independent otherwise."""
    if same_run(numerator, denominator):
        by_turns = turn_ratio(numerator, denominator, level, turn_prior)
        if by_turns is not None:
            return by_turns
        return paired_ratio(numerator, denominator, level, prior)
    return independent_ratio(numerator, denominator, level)


def family_level(level: float, comparisons: int) -> float:
    """The per-comparison level that keeps ``comparisons`` intervals jointly at ``level`` (Bonferroni)."""
    return 1 - (1 - level) / max(1, comparisons)
