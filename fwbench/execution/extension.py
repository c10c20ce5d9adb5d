"""Spend the budget where questions are open: after a first pass, more rounds for the sizes still undecided.

``--budget`` is seconds of sampling per cell, so a run may sample ``budget x cells`` seconds in all.  With
extension on (``fwbench run``'s default when the series are paired in time), the first pass gives every
cell :data:`FIRST_PASS_SHARE` of its budget over ``--rounds`` rounds; the rest is a pool.  Then the runner
looks: it reads what the run has written, makes the verdict of every size still open
(:func:`fwbench.stats.verdicts.size_verdicts`), and gives the open sizes it can settle the rounds they need
(:func:`allot`), then looks again; it stops when no size is open or the pool is spent.  A size decided at a
look gets no more time.

**The contested series only, from one start.**  An open size's later rounds fork only the series its verdict
still needs: its fastest and its undecided runners-up (:attr:`OpenSize.contested`), each round of the same
length, interleaved, in fresh processes.  A series already decided, slower or equivalent, takes no more rounds,
and its comparison stays judged at the look that decided it (each comparison's level is that of the looks
both its series had, :func:`fwbench.stats.verdicts.size_verdicts`).  All the rounds a look gives are served by
one start of the workers, each size's in a row (``--rounds-per-start 1``: one round per start), so the
frameworks' imports are paid once per look, not once per round: in ``make bench`` a round per look had cost
5-10 s of imports for 2-5 s of forks and turns (2026-12-07's kept runs).

The pool is charged with each look's **wall time**, imports, first calls and warm-up included: a look of a few
sizes pays for starting every framework it needs as a round of many does (about 6 s for torch with its
compiler here, against 0.17 s of sampling a cell), so charging only its sampling would let a run of the
default budget take twice as long as without extension.  No size-round but a start's first begins once the
pool's time is up (``deadline``), so a run takes about as long as its first pass plus half its cells' budget
in seconds, and at most a start's imports and one size-round more.  A look's sizes are served cheapest
first, so the deadline cuts the dearest.  One start serves all of a look's rounds, as ``fwbench ab``'s one
start serves its ten: the forks of one start differed as much as separate starts where that was measured
(docs/verdicts-history.md, "`fwbench ab`").

Each look spends part of the error rate (:func:`fwbench.stats.verdicts.spending_level`), so every round
record says which look judges it (``look``) and every combined row how many looks judged its series
(``looks``); the report's intervals use that level (for each comparison, that of the looks both its series
had), and so does each look.  ``run.json`` keeps the looks: which sizes were open at each, their contested series, the
rounds each was given, the look's wall time and the pool left.

**How long each round is.**  A round's figure varies partly between process sets and partly with the noise of
its few turn pairs, which only a longer round shrinks.  Each look picks, per open size, a round length of
:data:`ROUND_LENGTHS` (multiples of a first-pass round's sampling, sent with each prepare as the cell's budget)
that settles it at the least wall time (:func:`cheapest_length`): a round's forks, first calls and warm-up cost
the same at any length, its turns in proportion.

**Only questions the pool can close.**  At each look every open size states about how many more rounds would
settle it at the *next* look's stricter level (:func:`rounds_to_settle`) and what a round of its contested
series costs (its latest round's span, scaled by their share of that round's series).  The sizes cheapest to
settle get the rounds they need first, while their summed cost fits in the pool left; a size whose need does
not fit gets none, and when none fits the extension stops rather than spend wall time that cannot change a
verdict.  Each look in ``run.json`` keeps the figures per open size (``rounds_needed``, ``round_s``,
``contested_round_s``, ``rounds_given``) and whether it was within reach.  The estimate is the
:mod:`fwbench.stats.verdicts` one (half-widths shrink as one over the root of the rounds), so it is rough: a
size given its rounds may still stay open.
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
    sampling_s: float = 0.0  # the turns of a first-pass round of its contested series: what a longer round adds to

    def needs(self, series: str) -> bool:
        """Whether its next rounds fork ``series`` (naming no contested series, it needs them all)."""
        return not self.contested or series in self.contested

    def contested_round_s(self) -> float | None:
        """What a round of its contested series alone costs: its latest round's wall seconds scaled by their
        number over the series that round had (a size-round's cost is mostly each process's fork, first call
        and warm-up, one per series; more than 1 when a series decided earlier is contested again), and the
        turns a round ``length`` times as long adds (``sampling_s`` for each length beyond the first)."""
        if self.round_s is None:
            return None
        base = (self.round_s if not self.contested or not self.latest_series
                else self.round_s * len(self.contested) / self.latest_series)
        return base + (self.length - 1) * self.sampling_s

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


def more_rounds(rounds: int, reduction: float, relative_variance: float = 1.0) -> float:
    """How many more rounds bring the variance of the mean of every round's figure down ``reduction``-fold
    from what ``rounds`` rounds give, when each new round's figure varies ``relative_variance`` times as much as
    the rounds so far did: the least x with (rounds + x v) / (rounds + x)^2 <= 1 / (rounds reduction), the
    positive root of x^2 + rounds (2 - reduction v) x + rounds^2 (1 - reduction) = 0 (rounds (reduction - 1)
    when v is 1: the rounds grow ``reduction``-fold)."""
    product = reduction * relative_variance
    return rounds * ((product - 2) + math.sqrt((2 - product) ** 2 + 4 * (reduction - 1))) / 2


def rounds_to_settle(verdict: Any, relative_variance: dict[str, float] | None = None) -> int | None:
    """About how many more rounds the hardest undecided comparison of ``verdict`` (a
    :class:`fwbench.stats.verdicts.SizeVerdict`) needs to settle at the next look's level: its
    :func:`fwbench.stats.verdicts.settle_factor`, widened by the square of the ratio of the next level's
    normal quantile to the one its interval is at (a comparison of a series decided at an earlier look is at
    that look's looser level), over :func:`more_rounds` with each series' ``relative_variance`` (rounds longer
    than those so far vary less; default 1).  None when a comparison has no interval to go by."""
    from fwbench.stats.intervals import normal_quantile
    from fwbench.stats.verdicts import settle_factor, spending_level

    next_level = spending_level(verdict.looks + 1) if verdict.looks else spending_level(1)
    needed = 0
    for item in verdict.comparisons:
        if item.standing != "undecided":
            continue
        stricter = (normal_quantile(0.5 + next_level / 2) / normal_quantile(0.5 + item.ratio.level / 2)) ** 2
        factor = settle_factor(item.ratio, item.equivalence)
        if factor is None:
            return None
        variance = (relative_variance or {}).get(item.series, 1.0)
        needed = max(needed, max(1, math.ceil(more_rounds(max(1, item.ratio.rounds), factor * stricter, variance)
                                              - 1e-9)))
    return needed or None


def within_share(row: dict[str, Any], best: dict[str, Any]) -> float:
    """The share of the variance of row/best's round figures that comes from within its rounds (the noise of
    their turn pairs, which a longer round shrinks), at most 1 - :data:`MIN_BETWEEN_SHARE`; 0 where the rows'
    turns cannot tell (:func:`fwbench.stats.paired.variance_parts`)."""
    from fwbench.stats.paired import variance_parts
    from fwbench.stats.ratios import turn_rounds

    parts = variance_parts(turn_rounds(row, best))
    if parts is None or parts.between + parts.within <= 0:
        return 0.0
    return min(1 - MIN_BETWEEN_SHARE, parts.within / (parts.between + parts.within))


def cheapest_length(verdict: Any, rows: dict[str, dict[str, Any]], base_round_s: float | None, sampling_s: float,
                    lengths: tuple[int, ...] = ROUND_LENGTHS) -> tuple[int, int | None]:
    """The round length of ``lengths`` (multiples of a first-pass round) that settles ``verdict`` at the least
    cost, rounds needed times a round's wall seconds (``base_round_s``, the contested series' first-pass-length
    round, plus ``sampling_s`` for each length beyond the first), and the rounds it needs.  A round ``k`` times
    as long varies (1 - w) + w / k times as much, w the undecided comparison's :func:`within_share`.  Length 1
    where the costs are unknown."""
    shares = {item.series: within_share(rows[item.series], rows[verdict.fastest]) for item in verdict.comparisons
              if item.standing == "undecided" and item.series in rows and verdict.fastest in rows}
    best = (1, rounds_to_settle(verdict))
    if base_round_s is None or best[1] is None:
        return best
    best_cost = best[1] * base_round_s
    for length in lengths:
        needed = rounds_to_settle(verdict, {series: 1 - share + share / length for series, share in shares.items()})
        cost = needed * (base_round_s + (length - 1) * sampling_s) if needed is not None else math.inf
        if cost < best_cost:
            best, best_cost = (length, needed), cost
    return best


def size_of(record: dict[str, Any]) -> tuple[str, str, str]:
    """The workload size a round record or combined row belongs to, spelled as
    :attr:`fwbench.execution.plan.Cell.size` is (workload, params as JSON, device)."""
    return record.get("workload"), json.dumps(record.get("params") or {}, sort_keys=True), record.get("device")


def size_round_seconds(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """Per size, the wall seconds its latest round took: from the first of its cells' starts to the last
    one's end (``timestamp`` less ``cell_wall_s``, and ``timestamp``)."""
    spans: dict[tuple, dict[int, list[float]]] = {}
    for record in records:
        stamp, wall = record.get("timestamp"), record.get("cell_wall_s")
        if not isinstance(stamp, str) or not isinstance(wall, (int, float)):
            continue
        try:
            end = datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            continue
        span = spans.setdefault(size_of(record), {}).setdefault(int(record.get("round") or 1), [math.inf, -math.inf])
        span[0], span[1] = min(span[0], end - wall), max(span[1], end)
    return {key: by_round[max(by_round)][1] - by_round[max(by_round)][0] for key, by_round in spans.items()}


def latest_round_series(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], int]:
    """Per size, how many series (cells) its latest round measured."""
    cells: dict[tuple, dict[int, set[str]]] = {}
    for record in records:
        number = int(record.get("round") or 1)
        cells.setdefault(size_of(record), {}).setdefault(number, set()).add(str(record.get("cell_id")))
    return {key: len(by_round[max(by_round)]) for key, by_round in cells.items()}


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
    costs, latest = size_round_seconds(records), latest_round_series(records)
    for key, verdict in zip(keys, size_verdicts([groups[key] for key in keys])):
        if verdict.verdict == "undecided":
            text = ", ".join(f"{item.series} {item.ratio.value:.3f} [{item.ratio.low or math.nan:.3f}, "
                             f"{item.ratio.high or math.nan:.3f}]" for item in verdict.comparisons
                             if item.standing == "undecided")
            contested = (verdict.fastest, *(item.series for item in verdict.comparisons
                                             if item.standing == "undecided"))
            size = OpenSize(text, None, costs.get(key[:3]), contested, latest.get(key[:3], 0),
                            sampling_s=len(contested) * round_budget_s * TURN_SECONDS_PER_SAMPLING_SECOND)
            length, needed = cheapest_length(verdict, dict(groups[key]), size.contested_round_s(), size.sampling_s,
                                             lengths)
            found[key[:3]] = dataclasses.replace(size, rounds_needed=needed, length=length)
    return found
