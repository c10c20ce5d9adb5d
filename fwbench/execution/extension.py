"""Spend the budget where questions are open: after a first pass, more rounds for the sizes still undecided.

``--budget`` is seconds of sampling per cell, so a run may sample ``budget x cells`` seconds in all.  With
extension on (``fwbench run``'s default when the series are paired in time), the first pass gives every
cell :data:`FIRST_PASS_SHARE` of its budget over ``--rounds`` rounds; the rest is a pool.  Then the runner
looks: it reads what the run has written, makes the verdict of every size still open
(:func:`fwbench.stats.verdicts.size_verdicts`), and gives the sizes still undecided one more round of the
same length (all their series, interleaved, in fresh processes, so the rounds stay clusters of one kind),
then looks again; it stops when no size is open or the pool is spent.  A size decided at a look gets no
more time.

The pool is charged with each extension round's **wall time**, imports, first calls and warm-up included:
a round of a few sizes pays for starting every framework as a round of many does (about 6 s for torch with
its compiler here, against 0.17 s of sampling a cell), so charging only its sampling would let a run of
the default budget take twice as long as without extension.  Charged by the clock, a run takes about as
long as the same run's first pass plus half its cells' budget in seconds (at most one round more).

Each look spends part of the error rate (:func:`fwbench.stats.verdicts.spending_level`), so every round
record says which look judges it (``look``) and every combined row how many looks judged its size
(``looks``); the report's intervals use that level, and so does each look, which judges a size at the level of
the rounds it has.  ``run.json`` keeps the looks: which sizes were open at each, whether they got a round,
its wall time and the pool left.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from fwbench.stats.timing import TimerSettings

FIRST_PASS_SHARE = 0.5  # of each cell's --budget, spent in the first pass; the rest is the pool


def first_pass_timer(timer: TimerSettings) -> TimerSettings:
    """The timer of the first pass: :data:`FIRST_PASS_SHARE` of the budget (its rounds then split it)."""
    return dataclasses.replace(timer, budget_s=timer.budget_s * FIRST_PASS_SHARE)


def pool_s(timer: TimerSettings, cells: int) -> float:
    """Seconds of the run's wall clock left for the open sizes after the first pass, over ``cells`` runnable
    cells: the half of their budget the first pass did not sample."""
    return timer.budget_s * (1 - FIRST_PASS_SHARE) * cells


def open_sizes(out_dir: Path, among: set[tuple[str, str, str]] | None = None) -> dict[tuple[str, str, str], str]:
    """The sizes whose verdict is undecided, each judged at the level of its own looks (the largest ``look``
    of its rounds), with the undecided ratios' texts for the manifest.  ``among``: only these sizes (the ones
    still open at the previous look: a size once decided gets no more time, even if the run-wide pooled
    spread moves as other sizes get rounds).  Sizes with fewer than two measured series are never open."""
    from fwbench.records.results import read_cells
    from fwbench.stats.paired import series_name
    from fwbench.stats.verdicts import size_verdicts

    groups: dict[tuple, list[tuple[str, dict[str, Any]]]] = {}
    for row in read_cells(out_dir):
        if row.get("status") != "ok" or not row.get("median_s") or row.get("method") == "timeit":
            continue
        key = (row["workload"], json.dumps(row.get("params") or {}, sort_keys=True), row["device"], row.get("dtype"))
        if among is None or key[:3] in among:
            groups.setdefault(key, []).append((series_name(row), row))
    keys = list(groups)
    found = {}
    for key, verdict in zip(keys, size_verdicts([groups[key] for key in keys])):
        if verdict.verdict == "undecided":
            found[key[:3]] = ", ".join(f"{item.series} {item.ratio.value:.3f} [{item.ratio.low or math.nan:.3f}, "
                                       f"{item.ratio.high or math.nan:.3f}]" for item in verdict.comparisons
                                       if item.standing == "undecided")
    return found
