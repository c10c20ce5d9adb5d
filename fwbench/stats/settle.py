"""How many more rounds would settle an open ratio: the one projection behind every "about N more rounds".

An interval of fwbench's is ``value * exp(+-t(df) * se)`` (:class:`fwbench.stats.ratios.Ratio`), its ``se``
the root of the variance of the mean of its rounds' figures over its ``rounds`` rounds.  After ``more``
rounds more, with the figures' spread as it is, two things shrink the half-width:

* the standard error, as the root of ``rounds (rounds + more v) / (rounds + more)^2`` times what it is
  (``v``: how much each new round's figure varies against the rounds so far, 1 for rounds like them and
  less for longer ones, :func:`fwbench.execution.extension.relative_variance`);
* the t quantile, whose degrees of freedom grow by one a round.

The second matters where rounds are few: after a first pass of three rounds the quantile of a 97% interval
is about 3.7 (df 3.3: the rounds' two and a prior's one or so) against 2.4 after ten rounds more, so an
estimate that shrinks only the standard error (what fwbench did before) asks for about twice the rounds
a question needs, and the extension turned away sizes its pool could settle.

Left out: rounds paired by number rather than by turns (``--sequential`` runs,
:func:`fwbench.stats.ratios.paired_ratio`) read a median of rounds, whose variance factor grows from 1.34 at
three rounds to pi/2; the projection keeps the factor of the rounds so far, so it asks for about 8% too few
rounds there.

:func:`more_rounds_to` finds the least ``more`` that brings the half-width at a given level down to a given
``room`` (the distance from the ratio to the bound it must clear); callers say what the room is: the
verdicts' exclusion of 1 or fit of the equivalence band (:func:`fwbench.stats.verdicts.rounds_to_settle`),
``fwbench ab``'s threshold band (:func:`fwbench.report.ab.rounds_to_settle`).  It is a plug-in estimate: the
ratio and the spread move as rounds come, so a question given the rounds it needs may still stay open
(docs/methodology.md says how often, replayed over kept runs).
"""

from __future__ import annotations

import math
from typing import Any

from fwbench.stats.intervals import t_quantile

LIMIT = 100_000  # more rounds than this are reported as this many: no run gives them


def log_half_width(value: Any) -> float:
    """The log half-width of ``value``'s interval (a :class:`fwbench.stats.ratios.Ratio` with one)."""
    return (math.log(value.high) - math.log(value.low)) / 2


def projected_half_width(value: Any, more: int, level: float | None = None, relative_variance: float = 1.0) -> float:
    """The log half-width ``value``'s interval would have at ``level`` (default its own) after ``more`` rounds
    more, each varying ``relative_variance`` times as much as its rounds so far, their spread unchanged.
    Without known degrees of freedom both quantiles are normal ones (only the standard error shrinks)."""
    rounds = max(1, value.rounds)
    degrees = value.degrees_of_freedom if value.degrees_of_freedom is not None else math.inf
    level = value.level if level is None else level
    standard_error = log_half_width(value) / t_quantile(0.5 + value.level / 2, degrees)
    shrink = math.sqrt(rounds * (rounds + more * relative_variance)) / (rounds + more)
    return t_quantile(0.5 + level / 2, degrees + more) * standard_error * shrink


def more_rounds_to(value: Any, room: float, level: float | None = None, relative_variance: float = 1.0,
                   limit: int = LIMIT) -> int | None:
    """The least number of rounds more (one at least) after which ``value``'s interval at ``level`` (default its
    own) would be no wider than ``room`` on each side (a log distance), by :func:`projected_half_width`;
    ``limit`` when even that many would not do; None without an interval or with no room (a ratio on the
    bound it must clear)."""
    if not value.has_interval or value.low <= 0 or room <= 0:
        return None

    def enough(more: int) -> bool:
        return projected_half_width(value, more, level, relative_variance) <= room

    if enough(1):
        return 1
    low, high = 1, 2  # enough(low) is false; double high until it is true
    while not enough(high):
        if high >= limit:
            return limit
        low, high = high, min(2 * high, limit)
    # Past one round the half-width falls as rounds come; with a relative variance above 2 it first rises (one
    # peak, then it falls), and enough(1) being false the least count lies past the peak, where it falls.
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high
