"""Verdicts on workload sizes: which series is fastest, by how much, and what would settle an open question.

A workload size's fastest series is the one with the least median unless a runner-up's ratio to it, paired in
time, is below 1: then the runner-up whose ratio is least (:func:`ranked`). Each runner-up's time over the
fastest's gets an interval (:func:`fwbench.stats.ratios.ratio`: turns paired in time when the run interleaved, rounds
paired otherwise, spreads shrunk toward the run's), and a standing:

* ``equivalent``: two one-sided tests, each at the level the interval leaves out, find the ratio inside
  1/1.05-1.05: its interval at :func:`equivalence_level` (90% where the interval is 95%, as Schuirmann's test
  has it) lies inside the band; a difference too small to matter, shown, not merely not shown;
* ``slower``: the interval lies above 1;
* ``undecided``: neither.

The size's verdict is ``fastest`` when every runner-up is slower, ``equivalent`` when none is undecided and
one is equivalent, ``undecided`` otherwise, ``only`` with one series.

**Repeated looks.** A run that spends its budget where questions are open (``fwbench run``'s default, see
:mod:`fwbench.execution.runner`) looks at each size after its first pass and again after every extension, and
stops giving time to a size once it is decided, and to a series once its comparison is. Looking until an
interval excludes 1 inflates the error rate unless each look pays for itself, so the k-th look's intervals are
at level ``1 - alpha_k`` with ``alpha_k = 6 alpha / (pi^2 k^2)`` (an alpha-spending sequence whose sum over
any number of looks is alpha): 95% overall is 96.96% at the first look, 99.24% at the second, 99.66% at the
third. A series' rows say how many looks judged its rounds (``looks``), and a comparison of two series paired
in time is at the level of the fewer (the rounds both have; a series decided at an earlier look took no later
rounds); one not paired in time is at its size's latest look's, since its centre reads every round. Rows of a
run that never looked (``--sequential``, ``--no-extend``, older runs) have none and keep the plain level.

**What would settle it.**  An undecided comparison with log half-width ``h`` and log ratio ``c`` settles
once ``h`` falls below ``max(|c|, log 1.05 - |c|)`` (the easier of excluding 1 and fitting the band); since
``h`` shrinks as one over the square root of the rounds and the t quantile with their degrees of freedom,
the least number of rounds more that gets there (:func:`rounds_to_settle`, :mod:`fwbench.stats.settle`) is
what :class:`Comparison` states as more rounds and more seconds of sampling per series.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from fwbench.stats.intervals import CONFIDENCE
from fwbench.stats.settle import LIMIT as SETTLE_LIMIT
from fwbench.stats.settle import more_rounds_to

EQUIVALENCE_BAND = 1.05  # the ratio band inside which two series are equivalent


def spending_level(look: int, level: float = CONFIDENCE) -> float:
    """The level of the intervals at the ``look``-th look (1-based): alpha spent as 6 alpha / (pi^2 k^2)."""
    if look < 1:
        raise ValueError(f"looks are counted from 1, got {look}")
    return 1 - (1 - level) * 6 / (math.pi ** 2 * look ** 2)


def equivalence_level(level: float) -> float:
    """The level of the interval that two one-sided tests read for equivalence: each test at the ``1 - level``
    that a two-sided interval at ``level`` leaves out, which is the interval at ``1 - 2 (1 - level)`` (90% for
    95%; 93.9% at the first look's 96.96%)."""
    return 1 - 2 * (1 - level)


def standing(value: Any, equivalence: Any = None) -> str:
    """A runner-up against the fastest: ``equivalent`` (``equivalence``, its interval at
    :func:`equivalence_level`, or ``value`` itself when not given, inside the ±5% band: a difference too small
    to matter, even where it is real), ``slower`` (``value``'s interval above 1), or ``undecided``."""
    from fwbench.stats.ratios import equivalent

    if equivalent(equivalence if equivalence is not None else value, EQUIVALENCE_BAND - 1):
        return "equivalent"
    return "slower" if value.above(1) else "undecided"


def rounds_to_settle(value: Any, equivalence: Any = None, level: float | None = None,
                     relative_variance: float = 1.0) -> int | None:
    """About how many more rounds an undecided ratio needs to settle: the fewer of those that bring ``value``'s
    interval clear of 1 and those that bring ``equivalence``'s (``value``'s when not given) inside the band
    (:func:`fwbench.stats.settle.more_rounds_to`, the t quantile's degrees of freedom growing with the rounds).
    ``level``: judge at this level instead of the intervals' own (the next look's), the equivalence interval at
    :func:`equivalence_level` of it; ``relative_variance``: how much each new round varies against those so far.
    None without an interval, or on the bound."""
    if not value.has_interval or value.low <= 0:
        return None
    centre = abs(math.log(value.value))
    narrow = equivalence if equivalence is not None and equivalence.has_interval else value
    narrow_level = None if level is None else (equivalence_level(level) if narrow is equivalence else level)
    needs = [more_rounds_to(value, centre, level, relative_variance),
             more_rounds_to(narrow, math.log(EQUIVALENCE_BAND) - centre, narrow_level, relative_variance)]
    found = [count for count in needs if count is not None]
    return min(found) if found else None


@dataclass(frozen=True)
class Comparison:
    """One runner-up against the fastest series of its size."""

    series: str
    ratio: Any  # a fwbench.stats.ratios.Ratio
    standing: str
    more_rounds: int | None = None  # undecided: about how many more rounds would settle it
    more_seconds: float | None = None  # undecided: about how many more seconds of sampling per series
    equivalence: Any = None  # the ratio at equivalence_level, which the equivalence test read

    def as_dict(self) -> dict[str, Any]:
        found = {"series": self.series, "standing": self.standing, **self.ratio.as_dict()}
        if self.equivalence is not None and self.equivalence.has_interval:
            found["equivalence"] = {"level": self.equivalence.level, "low": self.equivalence.low,
                                    "high": self.equivalence.high}
        if self.standing == "undecided":
            found.update(more_rounds=self.more_rounds, more_seconds=self.more_seconds)
        return found


@dataclass(frozen=True)
class SizeVerdict:
    """One workload size: its verdict, its fastest row, and each runner-up's comparison with it."""

    verdict: str
    fastest: str
    best: Any  # the fastest series' row
    comparisons: tuple[Comparison, ...]
    looks: int  # 0: a run that did not look
    level: float
    fastest_by_median: str = ""  # the series with the least median, where the pairs named another fastest

    @property
    def winners(self) -> list[str]:
        keep = ("equivalent",) if self.verdict == "equivalent" else ("equivalent", "undecided")
        return [self.fastest, *(item.series for item in self.comparisons if item.standing in keep)]


def looks_of(rows: Sequence[Mapping[str, Any]]) -> int:
    """How many looks judged these rows (the largest ``looks`` among them; 0 when none says)."""
    found = [row.get("looks") for row in rows]
    numbers = [int(value) for value in found if isinstance(value, (int, float)) and not math.isnan(value)]
    return max(numbers, default=0)


def _sampled_seconds(row: Mapping[str, Any]) -> float | None:
    """Seconds of sampling a series had per round: its samples' sum times their loops, over its rounds."""
    samples, loops, rounds = row.get("samples_s"), row.get("n_loops"), row.get("n_rounds") or 1
    if not isinstance(samples, (list, tuple)) or not samples or not isinstance(loops, (int, float)):
        return None
    return float(sum(samples)) * float(loops) / max(1, int(rounds))


def round_pair_priors(pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> dict[Any, Any]:
    """Per run, the pooled spread (:func:`fwbench.stats.pooling.estimate_prior`) of the paired log differences of
    round medians of ``pairs`` (numerator and denominator rows) measured in the same run."""
    from fwbench.stats.pooling import estimate_prior
    from fwbench.stats.ratios import paired_parts, same_run

    by_run: dict[Any, list] = {}
    for numerator, denominator in pairs:
        parts = paired_parts(numerator, denominator) if same_run(numerator, denominator) else None
        if parts is not None:
            by_run.setdefault(numerator.get("run_id"), []).append(parts)
    return {run: estimate_prior([part.variance for part in parts], [part.degrees_of_freedom for part in parts])
            for run, parts in by_run.items()}


def turn_pair_priors(pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> dict[Any, Any]:
    """Per run, the pooled between-round variance of the round figures (each round's median log-ratio) of turns
    paired in time (:mod:`fwbench.stats.paired`) of ``pairs`` measured in the same interleaved run."""
    from fwbench.stats.paired import round_locations
    from fwbench.stats.pooling import estimate_prior
    from fwbench.stats.ratios import same_run, turn_rounds

    by_run: dict[Any, list[tuple[float, int]]] = {}
    for numerator, denominator in pairs:
        figures = round_locations(turn_rounds(numerator, denominator)) if same_run(numerator, denominator) else []
        if len(figures) >= 2:
            by_run.setdefault(numerator.get("run_id"), []).append((statistics.variance(figures), len(figures) - 1))
    return {run: estimate_prior([variance for variance, _ in found], [degrees for _, degrees in found])
            for run, found in by_run.items()}


def ranked(members: Sequence[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, Mapping[str, Any]]]:
    """A size's (series, row) pairs, the fastest first, then by median.

    The fastest is the series with the least median, unless a runner-up's ratio to it (the verdicts' own
    statistic: turns paired in time, or rounds paired, so drift between series cancels) is below 1; then the
    runner-up whose ratio is least, and again from there (pairs need not be transitive) until no runner-up's
    ratio is below 1 or the choice would return to a series already chosen.  Medians of series measured side by
    side can order two near-tied series one way and their pairs the other, and a runner-up faster than the
    series it is compared with can be neither slower nor, if the difference exceeds the band, equivalent: the
    size would stay undecided however many rounds it took (in sessions 22-25's kept runs, 109 of 3,564
    runner-up ratios were below 1, one interval wholly)."""
    from fwbench.stats.ratios import ratio

    order = sorted(members, key=lambda item: float(item[1]["median_s"]))
    chosen_before = set()
    while len(order) > 1:
        chosen_before.add(order[0][0])
        values = [(ratio(row, order[0][1]).value, position) for position, (_, row) in enumerate(order) if position]
        lowest, chosen = min(((value, position) for value, position in values if math.isfinite(value)),
                             default=(math.inf, 0))
        if lowest >= 1 or order[chosen][0] in chosen_before:
            break
        rest = sorted((item for position, item in enumerate(order) if position != chosen),
                      key=lambda item: float(item[1]["median_s"]))
        order = [order[chosen], *rest]
    return order


def size_verdicts(groups: Sequence[Sequence[tuple[str, Mapping[str, Any]]]],
                  level: float = CONFIDENCE) -> list[SizeVerdict]:
    """A verdict per group, each a size's (series name, combined row) pairs; priors pooled over all groups.

    A group's intervals are at :func:`spending_level` of its looks when its rows say they were looked at: each
    comparison at the looks of the rounds both series have (the fewer of the two rows' ``looks``), since a series
    that a look found decided gets no more rounds (:mod:`fwbench.execution.extension`), and its comparison stays
    judged at the look that decided it; the size's own ``level`` is its latest look's."""
    from fwbench.stats.ratios import ratio

    ordered = [ranked(group) for group in groups if group]
    pairs = [(row, members[0][1]) for members in ordered for _, row in members[1:]]
    priors, turn_priors = round_pair_priors(pairs), turn_pair_priors(pairs)
    verdicts = []
    for members in ordered:
        best_name, best = members[0]
        looks = looks_of([row for _, row in members])
        group_level = spending_level(looks, level) if looks else level
        comparisons = []
        for name, row in members[1:]:
            both_turns = bool(row.get("turns")) and bool(best.get("turns"))
            pair_looks = min(looks, looks_of([row]) or looks, looks_of([best]) or looks) if both_turns else looks
            pair_level = spending_level(pair_looks, level) if pair_looks else level
            value = ratio(row, best, pair_level, prior=priors.get(best.get("run_id")),
                          turn_prior=turn_priors.get(best.get("run_id")))
            equivalence = value.at_level(equivalence_level(pair_level))
            position = standing(value, equivalence)
            more_rounds = more_seconds = None
            if position == "undecided":
                more_rounds = rounds_to_settle(value, equivalence)
            if more_rounds is not None and more_rounds >= SETTLE_LIMIT:
                more_rounds = None  # no run gives that many: no number, as on the bound itself
            if more_rounds is not None:
                per_round = [seconds for seconds in (_sampled_seconds(row), _sampled_seconds(best)) if seconds]
                more_seconds = more_rounds * max(per_round) if per_round else None
            comparisons.append(Comparison(name, value, position, more_rounds, more_seconds, equivalence))
        standings = [item.standing for item in comparisons]
        if not comparisons:
            verdict = "only"
        elif all(item == "slower" for item in standings):
            verdict = "fastest"
        elif "undecided" not in standings:
            verdict = "equivalent"
        else:
            verdict = "undecided"
        by_median = min(members, key=lambda item: float(item[1]["median_s"]))[0]
        verdicts.append(SizeVerdict(verdict, best_name, best, tuple(comparisons), looks, group_level, by_median))
    return verdicts
