"""Cell-rounds whose process died, run once more: which, with whom, at which look and length, in which starts.

A cell-round fails with ``failure`` "worker died" or "cell process died" (:data:`RETRIED_FAILURES`) when its
process ended under it: killed, as the OOM killer does, or crashed.  The runner runs such cell-rounds once more
in a fresh worker, after the first pass and again after the extension's rounds (and, on ``--resume``, those an
earlier session left, :func:`crashed_before`); a retry that dies too is not retried.  A retry runs again
the cells paired with the dead one in that round, its size's other series (:func:`with_partners`), at the look
that judges the round and, in an extension round, at the length its look chose (:func:`retried_round_settings`),
and consecutive rounds retried alike share a start (:func:`retry_starts`).  Every retry's record
supersedes the round's first, unless it is a process's failure and the first measured
(:func:`fwbench.records.combine.combine_rounds`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from fwbench.execution.plan import Cell, shared_starts
from fwbench.records.combine import RETRIED_FAILURES
from fwbench.records.results import read_records


def process_died(record: dict[str, Any]) -> bool:
    """Whether a first attempt's record failed because its process died (retried once, after the first pass and
    again after the extension's rounds)."""
    return (record.get("status") == "error" and record.get("failure") in RETRIED_FAILURES
            and (record.get("attempt") or 1) == 1)


def crashed_before(out_dir: Path, cells: list[Cell]) -> dict[int, dict[str, Cell]]:
    """On ``--resume``: the cell-rounds an earlier session saw die and has not retried yet, by round."""
    by_id = {cell.cell_id: cell for cell in cells}
    records = read_records(out_dir)
    retried = {(record["cell_id"], record.get("round")) for record in records if (record.get("attempt") or 1) > 1}
    found: dict[int, dict[str, Cell]] = {}
    for record in records:
        if (process_died(record) and record["cell_id"] in by_id
                and (record["cell_id"], record.get("round")) not in retried):
            found.setdefault(record.get("round") or 1, {})[record["cell_id"]] = by_id[record["cell_id"]]
    return found


def with_partners(records: list[dict[str, Any]], retry: dict[int, dict[str, Cell]],
                  runnable: dict[str, Cell]) -> dict[int, dict[str, Cell]]:
    """``retry`` (round -> cells whose process died) with, in each round, the ``runnable`` cells that are paired
    with a dead one and measured in that round: a round's figure pairs each series' turns with the turns of the
    others that began nearest in time (:func:`fwbench.stats.paired.paired_log_ratios`), so a dead cell retried
    alone, minutes later, would be paired with turns taken before the drift between.  Its partners are the
    other series of its size, or, for a cell of a side (``fwbench ab``), which is compared with its other side
    alone, that side (:func:`fwbench.execution.interleave.partner_key`).  Their retries' records supersede their
    round's first unless they die too (:func:`fwbench.records.combine.combine_rounds`)."""
    from fwbench.execution.interleave import partner_key

    def pairs_with(cell: Cell, dead: Cell) -> bool:
        if getattr(dead, "side", None):
            return partner_key(cell) == partner_key(dead)
        return cell.size == dead.size

    found = {round_index: dict(todo) for round_index, todo in retry.items()}
    for record in records:
        todo = found.get(record.get("round") or 1)
        cell = runnable.get(record.get("cell_id"))
        if (todo is not None and cell is not None and record.get("status") == "ok" and cell.cell_id not in todo
                and any(pairs_with(cell, dead) for dead in retry[record.get("round") or 1].values())):
            todo[cell.cell_id] = cell
    return found


def retry_starts(records: list[dict[str, Any]], looks: Iterable[dict[str, Any]], retry: dict[int, dict[str, Cell]],
                 round_budget_s: float, per_start: int
                 ) -> list[tuple[tuple[int, ...], list[Cell], int | None, dict[tuple[str, str, str], float]]]:
    """The worker starts that retry ``retry`` (round -> cells whose process died and their partners,
    :func:`with_partners`), each with the rounds it serves, its cells (in the order of their ids), look and
    per-size budgets (:func:`retried_round_settings`).  Consecutive rounds with the same cells, look and budgets
    share one start where a start may serve several rounds (``per_start`` above 1: not ``--sequential`` or
    Ray): a worker that died in a start serving many rounds (three of a plain run's first pass, ten of
    ``fwbench ab``'s, an extension's) fails all its later ones, and each start costs the frameworks' imports.
    A retry start judges nothing on its own: the runner gives it no looks (``fwbench ab``'s stop after three and
    five rounds count a size's rounds within one start)."""
    planned = []
    for round_index, todo in sorted(retry.items()):
        cells = sorted(todo.values(), key=lambda cell: cell.cell_id)
        look, budgets = retried_round_settings(records, looks, round_index, cells, round_budget_s)
        key = (tuple(cell.cell_id for cell in cells), look, tuple(sorted(budgets.items())))
        planned.append((round_index, key, (cells, look, budgets)))
    return [(served, cells, look, budgets)
            for served, (cells, look, budgets) in shared_starts(planned, None if per_start > 1 else 1)]


def retried_round_settings(records: list[dict[str, Any]], looks: Iterable[dict[str, Any]], round_index: int,
                           cells: Iterable[Cell], round_budget_s: float
                           ) -> tuple[int | None, dict[tuple[str, str, str], float]]:
    """How a retry of ``cells``' round ``round_index`` runs as the round it replaces did: the look that judges
    it (its failed records'; None where they name none) and, for an extension round, each size's budget where
    the look that gave the round chose a length other than the first pass's (``run.json``'s ``looks``: the
    look before the one that judges it, :data:`fwbench.execution.extension.ROUND_LENGTHS`)."""
    ids = {cell.cell_id for cell in cells}
    sizes = {cell.size for cell in cells}
    judged = [record["look"] for record in records if record.get("round") == round_index
              and record.get("cell_id") in ids and record.get("look")]
    look = max(judged) if judged else None
    budgets: dict[tuple[str, str, str], float] = {}
    for entry in looks:
        if look is None or entry.get("look") != look - 1:
            continue
        for found in entry.get("open") or ():
            size, length = tuple(found.get("size") or ()), found.get("round_length") or 1
            if size in sizes and found.get("rounds_given") and length != 1:
                budgets[size] = round_budget_s * length
    return look, budgets


def merged(earlier: Any, found: dict[int, set[str]]) -> dict[str, list[str]] | None:
    """A manifest's round -> cell ids mapping (``retried``, ``rerun_beside``) with ``found`` added to it, each
    round's ids the union of both; None while empty."""
    result = {number: list(ids) for number, ids in (earlier or {}).items()}
    for number, ids in found.items():
        if ids:
            result[str(number)] = sorted({*result.get(str(number), ()), *ids})
    return result or None
