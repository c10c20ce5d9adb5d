"""Spend the budget where questions are open: after a first pass, more rounds for the sizes still undecided.

``--budget`` is seconds of sampling per cell, so a run may sample ``budget x cells`` seconds in all.  With
extension on (``fwbench run``'s default when the series are paired in time), the first pass gives every
cell :data:`FIRST_PASS_SHARE` of its budget over ``--rounds`` rounds; the rest is a pool.  Then the runner
looks: it reads what the run has written, makes the verdict of every size still open
(:func:`fwbench.stats.verdicts.size_verdicts`), and gives the open sizes it can settle the rounds they need
(:func:`allot`), then looks again; it stops when no size is open or the pool is spent.  A size decided at a
look gets no more time.

**The contested series only, from one start.** An open size's later rounds fork only the series its verdict
still needs: its fastest and its undecided runners-up (:attr:`OpenSize.contested`), interleaved, in fresh
processes, each of its rounds as long as its look chose (below). A series already decided, slower or equivalent,
takes no more rounds, and its comparison stays judged at the look that decided it (each comparison's level is
that of the looks both its series had, :func:`fwbench.stats.verdicts.size_verdicts`). All the rounds a look
gives are served by one start of the workers, each size's in a row (``--rounds-per-start 1``: one round per
start), so the frameworks' imports are paid once per look, not once per round: in ``make bench`` a round per
look had cost 5-10 s of imports for 2-5 s of forks and turns (2026-12-07's kept runs).

The pool is charged with each look's **wall time**, imports, first calls and warm-up included: a look of a few
sizes pays for starting every framework it needs as a round of many does (about 6 s for torch with its compiler
here, against 0.17 s of sampling a cell), so charging only its sampling would let a run of the default budget
take twice as long as without extension. No size-round but a start's first begins once the pool's time is up
(``deadline``), so a run takes about as long as its first pass plus half its cells' budget in seconds, and at
most a start's imports and one size-round (up to eight first-pass rounds of sampling) more. A look's sizes are
served cheapest first, so the deadline cuts the dearest. One start serves all of a look's rounds, as ``fwbench
ab``'s one start serves its ten: the forks of one start differed as much as separate starts where that was
measured (docs/verdicts-history.md, "`fwbench ab`").

Each look spends part of the error rate (:func:`fwbench.stats.verdicts.spending_level`), so every round
record says which look judges it (``look``) and every combined row how many looks judged its series
(``looks``); the report's intervals use that level (for each comparison, that of the looks both its series
had), and so does each look.  ``run.json`` keeps the looks: which sizes were open at each, their contested
series, the rounds each was given and their length, the look's wall time and the pool left.

**How long each round is.**  A round's figure varies partly between process sets and partly with the noise of
its few turn pairs, which only a longer round shrinks.  Each look picks, per open size, a round length of
:data:`ROUND_LENGTHS` (multiples of a first-pass round's sampling, sent with each prepare as the cell's budget)
that settles it at the least wall time (:func:`cheapest_length`): a round's forks, first calls and warm-up cost
the same at any length, its turns in proportion.  How much a longer round varies comes from the split of the
size's rounds so far into their process-set and turn-pair parts (:func:`relative_variance`).

**Only questions the pool can close.**  At each look every open size states about how many more rounds would
settle it at the *next* look's stricter level (:func:`rounds_to_settle`) and what a round of its contested
series costs at the length chosen (its latest round's span, scaled by their share of that round's series, its
own turns taken out and the new length's put in: :meth:`OpenSize.contested_round_s`).  The sizes cheapest to
settle get the rounds they need first, while their summed cost fits in the pool left; a size whose need does
not fit gets none, and when none fits the extension stops rather than spend wall time that cannot change a
verdict.  Each look in ``run.json`` keeps the figures per open size (``rounds_needed``, ``round_s``,
``round_length``, ``contested_round_s``, ``rounds_given``) and whether it was within reach.  The estimate is
:mod:`fwbench.stats.settle`'s (the standard error shrinking as one over the root of the rounds, the t quantile
with their degrees of freedom), so it is rough: a size given its rounds may still stay open.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from fwbench.stats.timing import TimerSettings

FIRST_PASS_SHARE = 0.5  # of each cell's --budget, spent in the first pass; the rest is the pool
# An extension round may sample these many times as long as a first-pass round (each of its cells that multiple of
# the first pass's per-round budget): the look picks, per open size, the one that settles it cheapest.
ROUND_LENGTHS = (1, 2, 4, 8)
# The least share of a round figure's variance taken to come from the process set, whatever a few rounds say: a
# longer round shrinks only the rest (the within-round part, its turn pairs' noise).
MIN_BETWEEN_SHARE = 0.2
TURN_SECONDS_PER_SAMPLING_SECOND = 1.2  # a turn's untimed call and switch besides its sampling (0.85 s for 0.7 s)


def first_pass_timer(timer: TimerSettings) -> TimerSettings:
    """The timer of the first pass: :data:`FIRST_PASS_SHARE` of the budget (its rounds then split it)."""
    return dataclasses.replace(timer, budget_s=timer.budget_s * FIRST_PASS_SHARE)


def pool_s(timer: TimerSettings, cells: int) -> float:
    """Seconds of the run's wall clock left for the open sizes after the first pass, over ``cells`` runnable
    cells: the half of their budget the first pass did not sample."""
    return timer.budget_s * (1 - FIRST_PASS_SHARE) * cells


@dataclass(frozen=True)
class OpenSize:
    """A size undecided at a look: its undecided ratios as text, about how many more rounds would settle it,
    the wall seconds its latest round took (None where unknown), the series its next rounds need (the fastest
    and the undecided runners-up; empty: every series) and how many series its latest round had."""

    undecided: str
    rounds_needed: int | None
    round_s: float | None
    contested: tuple[str, ...] = ()
    latest_series: int = 0
    length: int = 1  # its next rounds sample this many times as long as a first-pass round (ROUND_LENGTHS)
    sampling_s: float = 0.0  # the turns of a first-pass round of its contested series: what each length adds
    latest_length: float = 1.0  # how many first-pass rounds' sampling its latest round took

    def needs(self, series: str) -> bool:
        """Whether its next rounds fork ``series`` (naming no contested series, it needs them all)."""
        return not self.contested or series in self.contested

    def contested_round_s(self, length: int | None = None) -> float | None:
        """What a round of its contested series alone, ``length`` (default :attr:`length`) first-pass rounds
        long, costs: its latest round's wall seconds scaled by their number over the series that round had (a
        size-round's cost is mostly each process's fork, first call and warm-up, one per series; more than 1
        when a series decided earlier is contested again), less the turns of that round's own length
        (``latest_length`` times ``sampling_s``, leaving at least a tenth), plus the turns of ``length``."""
        if self.round_s is None:
            return None
        base = (self.round_s if not self.contested or not self.latest_series
                else self.round_s * len(self.contested) / self.latest_series)
        overhead = max(base - self.latest_length * self.sampling_s, 0.1 * base)
        return overhead + (self.length if length is None else length) * self.sampling_s

    def cost_s(self) -> float:
        """What settling it costs: the rounds it needs times a round of its contested series (0 where either
        is unknown: such a size is given one round)."""
        round_s = self.contested_round_s()
        return self.rounds_needed * round_s if round_s is not None and self.rounds_needed is not None else 0.0

    def within(self, pool_s: float) -> bool:
        """Whether the rounds it needs fit in ``pool_s`` seconds (an unknown need or cost is given a chance)."""
        return self.cost_s() <= pool_s

    def as_dict(self, size: tuple[str, str, str], pool_s: float, rounds_given: int = 0) -> dict[str, Any]:
        return {"size": list(size), "undecided": self.undecided, "rounds_needed": self.rounds_needed,
                "round_s": self.round_s, "series": list(self.contested), "round_length": self.length,
                "contested_round_s": self.contested_round_s(), "within_pool": self.within(pool_s),
                "rounds_given": rounds_given}


def allot(still_open: dict[tuple[str, str, str], OpenSize], pool_s: float) -> dict[tuple[str, str, str], int]:
    """The rounds each open size gets in the next extension start: the sizes cheapest to settle first (rounds
    needed times a round of their contested series, :meth:`OpenSize.cost_s`), each the rounds it needs (one
    where unknown), while their summed cost fits in ``pool_s``.  A size whose need does not fit gets none: a
    round short of settling leaves it undecided, at a stricter level the next time."""
    given: dict[tuple[str, str, str], int] = {}
    left = pool_s
    for size, found in sorted(still_open.items(), key=lambda item: item[1].cost_s()):
        if found.cost_s() <= left:
            known = found.rounds_needed is not None and found.contested_round_s() is not None
            given[size] = found.rounds_needed if known else 1
            left -= found.cost_s()
    return given


def rounds_to_settle(verdict: Any, relative_variance: dict[str, float] | None = None) -> int | None:
    """About how many more rounds the hardest undecided comparison of ``verdict`` (a
    :class:`fwbench.stats.verdicts.SizeVerdict`) needs to settle at the next look's level
    (:func:`fwbench.stats.verdicts.rounds_to_settle` at that level: the half-width's standard error shrinking
    with the rounds, each series' rounds varying by its ``relative_variance``, default 1, and the t quantile's
    degrees of freedom growing; a comparison of a series decided at an earlier look is at that look's looser
    level, so the next look's is stricter).  None when a comparison has no interval to go by."""
    from fwbench.stats.verdicts import rounds_to_settle as comparison_rounds
    from fwbench.stats.verdicts import spending_level

    next_level = spending_level(verdict.looks + 1) if verdict.looks else spending_level(1)
    needed = 0
    for item in verdict.comparisons:
        if item.standing != "undecided":
            continue
        count = comparison_rounds(item.ratio, item.equivalence, next_level,
                                  (relative_variance or {}).get(item.series, 1.0))
        if count is None:
            return None
        needed = max(needed, count)
    return needed or None


def relative_variance(parts: Any, length: int) -> float:
    """How much a round ``length`` first-pass rounds long varies against the rounds so far, from their
    :class:`fwbench.stats.paired.VarianceParts` (None: 1): (B + p / (length n)) / (B + w), where w is the rounds'
    within-round part, p one pair's variance and n a first-pass round's pairs (the fewest any round had), and
    B the between-process-set part, at least :data:`MIN_BETWEEN_SHARE` of B + w (three rounds cannot show
    it to be nil).  Rounds so far that were longer already have a smaller w, so another long round gains less."""
    if parts is None or parts.fewest_pairs < 1 or parts.between + parts.within <= 0:
        return 1.0
    between = max(parts.between, MIN_BETWEEN_SHARE * (parts.between + parts.within))
    return (between + parts.per_pair / (length * parts.fewest_pairs)) / (between + parts.within)


def cheapest_length(verdict: Any, rows: dict[str, dict[str, Any]], size: OpenSize,
                    lengths: tuple[int, ...] = ROUND_LENGTHS) -> tuple[int, int | None]:
    """The round length of ``lengths`` (multiples of a first-pass round) that settles ``verdict`` at the least
    cost, rounds needed (:func:`rounds_to_settle`, each undecided comparison's rounds varying by its
    :func:`relative_variance`) times a round's wall seconds (:meth:`OpenSize.contested_round_s`), and the
    rounds it needs; ties go to the shorter.  Length 1 where the cost or the need is unknown."""
    from fwbench.stats.paired import variance_parts
    from fwbench.stats.ratios import turn_rounds

    parts = {item.series: variance_parts(turn_rounds(rows[item.series], rows[verdict.fastest]))
             for item in verdict.comparisons
             if item.standing == "undecided" and item.series in rows and verdict.fastest in rows}
    plain = (1, rounds_to_settle(verdict, {series: relative_variance(found, 1) for series, found in parts.items()}))
    if size.contested_round_s(1) is None or plain[1] is None:
        return plain
    best, best_cost = plain, math.inf
    for length in lengths:
        needed = rounds_to_settle(verdict, {series: relative_variance(found, length)
                                            for series, found in parts.items()})
        cost = needed * size.contested_round_s(length) if needed is not None else math.inf
        if cost < best_cost:
            best, best_cost = (length, needed), cost
    return best


def size_of(record: dict[str, Any]) -> tuple[str, str, str]:
    """The workload size a round record or combined row belongs to, spelled as
    :attr:`fwbench.execution.plan.Cell.size` is (workload, params as JSON, device)."""
    return record.get("workload"), json.dumps(record.get("params") or {}, sort_keys=True), record.get("device")


@dataclass(frozen=True)
class LatestRound:
    """A size's latest round: the wall seconds it took from the first of its cells' starts to the last one's
    end (``timestamp`` less ``cell_wall_s``, and ``timestamp``; None where no record says), how many series
    (cells) it measured, and the most seconds of sampling a cell of it had (``settings.timer.budget_s``)."""

    span_s: float | None
    series: int
    budget_s: float | None


def latest_rounds(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], LatestRound]:
    """Per size, its :class:`LatestRound` (the round of the largest number among its records)."""
    by_size: dict[tuple, dict[int, list[dict[str, Any]]]] = {}
    for record in records:
        by_size.setdefault(size_of(record), {}).setdefault(int(record.get("round") or 1), []).append(record)
    found = {}
    for key, by_round in by_size.items():
        latest = by_round[max(by_round)]
        starts, ends = [], []
        for record in latest:
            stamp, wall = record.get("timestamp"), record.get("cell_wall_s")
            if isinstance(stamp, str) and isinstance(wall, (int, float)):
                try:
                    ends.append(datetime.fromisoformat(stamp).timestamp())
                except ValueError:
                    continue
                starts.append(ends[-1] - wall)
        budgets = [float(budget) for record in latest
                   if isinstance(budget := ((record.get("settings") or {}).get("timer") or {}).get("budget_s"),
                                 (int, float))]
        found[key] = LatestRound(max(ends) - min(starts) if ends else None,
                                 len({str(record.get("cell_id")) for record in latest}),
                                 max(budgets) if budgets else None)
    return found


def open_sizes(out_dir: Path, among: set[tuple[str, str, str]] | None = None, round_budget_s: float = 0.0,
               lengths: tuple[int, ...] = (1,)) -> dict[tuple[str, str, str], OpenSize]:
    """The sizes whose verdict is undecided, each judged at the level of its own looks (the largest ``look``
    of its rounds), with the undecided ratios' texts for the manifest, the rounds each needs and what its
    latest round cost.  ``among``: only these sizes (the ones still open at the previous look: a size once
    decided gets no more time, even if the run-wide pooled spread moves as other sizes get rounds).  Sizes
    with fewer than two measured series are never open."""
    from fwbench.records.combine import combine_rounds
    from fwbench.records.results import read_records
    from fwbench.stats.paired import series_name
    from fwbench.stats.verdicts import size_verdicts

    records = read_records(out_dir)
    groups: dict[tuple, list[tuple[str, dict[str, Any]]]] = {}
    for row in combine_rounds(records):
        if row.get("status") != "ok" or not row.get("median_s") or row.get("method") == "timeit":
            continue
        key = (*size_of(row), row.get("dtype"))
        if among is None or key[:3] in among:
            groups.setdefault(key, []).append((series_name(row), row))
    keys = list(groups)
    found = {}
    latest = latest_rounds(records)
    for key, verdict in zip(keys, size_verdicts([groups[key] for key in keys])):
        if verdict.verdict == "undecided":
            text = ", ".join(f"{item.series} {item.ratio.value:.3f} [{item.ratio.low or math.nan:.3f}, "
                             f"{item.ratio.high or math.nan:.3f}]" for item in verdict.comparisons
                             if item.standing == "undecided")
            contested = (verdict.fastest, *(item.series for item in verdict.comparisons
                                             if item.standing == "undecided"))
            last = latest.get(key[:3], LatestRound(None, 0, None))
            size = OpenSize(text, None, last.span_s, contested, last.series,
                            sampling_s=len(contested) * round_budget_s * TURN_SECONDS_PER_SAMPLING_SECOND,
                            latest_length=(last.budget_s / round_budget_s if last.budget_s and round_budget_s
                                           else 1.0))
            length, needed = cheapest_length(verdict, dict(groups[key]), size, lengths)
            found[key[:3]] = dataclasses.replace(size, rounds_needed=needed, length=length)
    return found
