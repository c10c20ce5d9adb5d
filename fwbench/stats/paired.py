"""Ratios between series from turns paired in time (``--interleave``), with intervals clustered by round.

Under ``--interleave`` the series of one workload size take turns, so turn i of series A and the turn of B
nearest it in time ran under the same state of the machine: the log of their medians' ratio is free of the
machine's slow drift, which moves both alike.  A round (a fresh set of processes) gives one figure;
the rounds are the clusters, since what a process set draws (memory layout, allocator state, where the
threads landed) stays for all its turns.  The ratio's interval is over rounds::

    m_r = median over round r's pairs of log(A turn median / B turn median)
    log ratio = mean of m_r;  its variance = s^2 / R,  s^2 the variance of the m_r

with a t quantile of R - 1 degrees of freedom, or, given a run-wide prior of the between-round variance of
log-ratios (:func:`fwbench.stats.pooling.estimate_prior` over every pair of the run), that variance shrunk
toward the prior with its degrees of freedom added (:func:`fwbench.stats.pooling.shrink`), as cell spreads
already are.  One round gives an interval within that process set only (the mean of its pairs, t with pairs - 1
degrees of freedom), and says so in ``method``.

A round's figure is the **median** of its pairs' log-ratios, not their mean (:func:`round_location`).  A
turn stalled by an interrupt, a neighbour or a descheduled pool thread slows one series' turn and not its
partner's, tens of milliseconds away, so a round's log-ratios have a heavy one-sided tail (in a ``make
bench`` round of the 1024 GEMM, pairs whose spread was 0.35-0.5 in log).  The rounds stay the clusters and
the t interval is over their figures whatever the figure is; the median only keeps one stalled turn from
moving its round.  Re-judged both ways, session 18's kept ``fwbench ab`` runs got intervals a quarter
narrower that held plain ``timeit``'s ratio as often (docs/methodology.md, step 3).

This module is the statistics only: it reads round records with ``turn_starts_s`` and
``turn_sample_counts`` (written by the worker under ``--interleave``) and makes no verdict.
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from fwbench.stats.intervals import CONFIDENCE, t_quantile


@dataclass(frozen=True)
class Turns:
    """One series' turns in one round: when each began (one clock for the machine) and its median sample."""

    starts_s: tuple[float, ...]
    medians_s: tuple[float, ...]


@dataclass(frozen=True)
class PairedRatio:
    """A/B from turns paired in time: the ratio and its interval, what it rests on, and how it was made."""

    ratio: float
    low: float
    high: float
    rounds: int
    pairs: int
    round_ratios: tuple[float, ...]
    method: str
    degrees_of_freedom: float = math.nan  # of the interval's t quantile


def turns_of(record: dict[str, Any]) -> Turns | None:
    """The turns of one round record (None when it was not interleaved or its counts do not add up)."""
    starts, counts, samples = record.get("turn_starts_s"), record.get("turn_sample_counts"), record.get("samples_s")
    if not starts or not counts or not samples or len(starts) != len(counts) or sum(counts) != len(samples):
        return None
    medians, position = [], 0
    kept_starts = []
    for start, count in zip(starts, counts):
        if count > 0:
            medians.append(statistics.median(samples[position:position + count]))
            kept_starts.append(start)
        position += count
    return Turns(tuple(kept_starts), tuple(medians)) if medians else None


def _nearest_of(starts_s: Sequence[float]) -> Any:
    """A function giving, for a moment, the index of the start in ``starts_s`` nearest it (the earlier on a
    tie)."""
    order = sorted(range(len(starts_s)), key=lambda index: starts_s[index])
    sorted_starts = [starts_s[index] for index in order]

    def nearest(at_s: float) -> int:
        at = bisect.bisect_left(sorted_starts, at_s)
        candidates = [index for index in (at - 1, at) if 0 <= index < len(sorted_starts)]
        return order[min(candidates, key=lambda index: abs(sorted_starts[index] - at_s))]

    return nearest


def paired_log_ratios(a: Turns, b: Turns) -> list[float]:
    """log(median of a's turn / median of b's turn) over the pairs of turns begun nearest in time: each turn of
    ``a`` with the turn of ``b`` nearest it, and each turn of ``b`` with the turn of ``a`` nearest it, every pair
    once.  Swapping ``a`` and ``b`` negates every value, so B/A is the inverse of A/B.  (Until session 25 only
    ``a``'s turns chose pairs: where the two took different numbers of turns in a round, three to five in a
    ``make bench`` first pass, A/B and B/A differed by 2% (median) and 10% (90th percentile) in log.)  The pairs
    share turns, so they are not as many independent draws as values: :func:`turn_units` counts those."""
    if not a.medians_s or not b.medians_s:
        return []
    nearest_b, nearest_a = _nearest_of(b.starts_s), _nearest_of(a.starts_s)
    pairs = {(index, nearest_b(start)) for index, start in enumerate(a.starts_s)}
    pairs |= {(nearest_a(start), index) for index, start in enumerate(b.starts_s)}
    return [math.log(a.medians_s[i] / b.medians_s[j]) for i, j in sorted(pairs)]


def turn_units(a: Turns, b: Turns) -> int:
    """How many independent turn pairs a round of ``a`` and ``b`` holds: the turns of the one with fewer (each
    of its turns in one pair at least, and no pair without a turn of it)."""
    return min(len(a.medians_s), len(b.medians_s))


def _round_pairs(rounds: Sequence[tuple[Turns, Turns]]) -> list[tuple[list[float], int]]:
    """Each round's paired log-ratios and its :func:`turn_units`, rounds without a pair left out."""
    found = [(paired_log_ratios(a, b), turn_units(a, b)) for a, b in rounds]
    return [(logs, units) for logs, units in found if logs]


def _round_logs(rounds: Sequence[tuple[Turns, Turns]]) -> list[list[float]]:
    """Each round's paired log-ratios, rounds without a pair left out."""
    return [logs for logs, _ in _round_pairs(rounds)]


def round_location(logs: Sequence[float]) -> float:
    """A round's figure of A/B (log scale): the median of its pairs' log-ratios (the module's docstring says
    why not their mean)."""
    return statistics.median(logs)


def round_locations(rounds: Sequence[tuple[Turns, Turns]]) -> list[float]:
    """Each round's figure, :func:`round_location` (rounds without a pair left out): what the run-wide prior
    pools."""
    return [round_location(logs) for logs in _round_logs(rounds)]


@dataclass(frozen=True)
class VarianceParts:
    """Where the spread of a ratio's round means (of its pairs' log-ratios; the verdicts use their medians, whose
    spread has no such split) comes from (log scale): ``between`` process sets (what more
    turns in a round cannot remove, floored at 0) and ``within`` a round (its pairs' variance over its
    :func:`turn_units`, which more turns raise), with the rounds and mean turn pairs per round they rest on."""

    between: float
    within: float
    rounds: int
    pairs_per_round: float
    per_pair: float = 0.0  # one pair's variance within a round (the mean over rounds), which ``within`` averages
    fewest_pairs: int = 0  # the pairs of the round with fewest: a first-pass round, where a run's rounds differ


def variance_parts(rounds: Sequence[tuple[Turns, Turns]]) -> VarianceParts | None:
    """The variance of the round means of A/B split into its between-process-set and within-round parts (a
    one-way random-effects reading: between = var(round means) - mean(within variance / pairs)); None
    without two rounds of two pairs or more."""
    per_round = [(logs, units) for logs, units in _round_pairs(rounds) if units >= 2]
    if len(per_round) < 2:
        return None
    means = [statistics.fmean(logs) for logs, _ in per_round]
    within = statistics.fmean([statistics.variance(logs) / units for logs, units in per_round])
    return VarianceParts(max(0.0, statistics.variance(means) - within), within, len(per_round),
                         statistics.fmean([units for _, units in per_round]),
                         statistics.fmean([statistics.variance(logs) for logs, _ in per_round]),
                         min(units for _, units in per_round))


def paired_ratio(rounds: Sequence[tuple[Turns, Turns]], level: float = CONFIDENCE,
                 prior: Any = None) -> PairedRatio | None:
    """A/B over ``rounds`` (each a pair of the two series' turns in one round); None without any pair.

    ``prior``: a :class:`fwbench.stats.pooling.Prior` of the between-round variance of round figures."""
    from fwbench.stats.pooling import shrink

    found = _round_pairs(rounds)
    if not found:
        return None
    per_round = [logs for logs, _ in found]
    pairs = sum(units for _, units in found)  # independent turn pairs (turn_units), not values
    if len(per_round) >= 2:
        figures = [round_location(logs) for logs in per_round]
        centre = statistics.fmean(figures)
        variance, freedom = statistics.variance(figures), len(figures) - 1
        method = f"paired turns, clustered by round (t, {freedom} degrees of freedom)"
        if prior is not None:
            variance, freedom = shrink(variance, freedom, prior)
            method = ("paired turns, clustered by round, spread shrunk toward the run's "
                      f"({freedom:.0f} degrees of freedom)")
        half = t_quantile(0.5 + level / 2, freedom) * math.sqrt(variance / len(figures))
    else:
        logs = per_round[0]
        centre = statistics.fmean(logs)
        figures = [centre]
        if pairs < 2:  # a round has at least as many values as turn pairs
            return PairedRatio(math.exp(centre), math.nan, math.nan, 1, pairs, (math.exp(centre),),
                               "one pair: no interval")
        freedom = pairs - 1
        half = t_quantile(0.5 + level / 2, freedom) * statistics.stdev(logs) / math.sqrt(pairs)
        method = "paired turns within one process set only (t over its pairs): not a promise about new processes"
    return PairedRatio(math.exp(centre), math.exp(centre - half), math.exp(centre + half), len(figures), pairs,
                       tuple(math.exp(figure) for figure in figures), method, freedom)


def size_key(record: dict[str, Any]) -> tuple:
    """The workload size a round record belongs to: its series are paired with each other."""
    params = record.get("params") or {}
    return record.get("workload"), tuple(sorted(params.items())), record.get("device")


def series_name(record: dict[str, Any]) -> str:
    """framework/mode, with ``#N`` for the Nth copy of a series (``--replicas``) and ``#side`` for a side of
    ``fwbench ab``."""
    replica = record.get("replica") or 1
    side = record.get("side")
    return (f"{record.get('framework')}/{record.get('mode')}" + (f"#{replica}" if replica > 1 else "")
            + (f"#{side}" if isinstance(side, str) and side else ""))


def turns_by_size(records: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, dict[int, Turns]]]:
    """Interleaved round records by size, series and round (the last attempt of a round wins).

    Each round is a cluster of the interval, also when ``--rounds-per-start`` forks several rounds from one
    start of the workers: measured under ``fwbench ab`` (three starts of two forks, three invocations each way,
    2026-12-06), the forks of one start differed as much as rounds of different starts (the variance of a
    start's mean log ratio no more than its two forks' spread explains, for every framework), while NumPy's
    identical sides read 0.78-1.35x apart from round to round: what a process draws is drawn per fork
    (docs/verdicts-history.md, "`fwbench ab`").  ``worker_round`` still says which start served a round."""
    by_size: dict[tuple, dict[str, dict[int, Turns]]] = {}
    for record in records:
        if record.get("status") != "ok":
            continue
        turns = turns_of(record)
        if turns is not None:
            by_size.setdefault(size_key(record), {}).setdefault(series_name(record), {})[
                record.get("round") or 1] = turns
    return by_size


def ratios_against(turns: dict[str, dict[int, Turns]], baseline: str, level: float = CONFIDENCE,
                   prior: Any = None) -> dict[str, PairedRatio]:
    """Every series of one size against ``baseline``, over the rounds both have."""
    result = {}
    for series, by_round in turns.items():
        if series == baseline or baseline not in turns:
            continue
        shared = sorted(set(by_round) & set(turns[baseline]))
        ratio = paired_ratio([(by_round[number], turns[baseline][number]) for number in shared], level, prior)
        if ratio is not None:
            result[series] = ratio
    return result
