"""Sharding a run for CI matrices (``--shard K/N``); ``fwbench merge`` joins the shards
(:mod:`fwbench.records.merge`).

Each cell's cost is estimated from its FLOPs and bytes (plus the sampling
budget every cell spends); cells are dealt, most expensive first, to the
shard with the least estimated work so far (the LPT rule), ties going by cell
id.  The result depends only on the cells, so every job of a matrix computes
the same partition, and the N shards together hold every cell exactly once.
"""

from __future__ import annotations

import re
from typing import Protocol, TypeVar

from fwbench.errors import UserError


class Cell(Protocol):
    """What sharding reads of a cell (:class:`fwbench.execution.plan.Cell`, which imports this module: a
    protocol here keeps the import one way, type checks included)."""

    cell_id: str
    skip_reason: str | None
    cost: dict[str, int]


CellType = TypeVar("CellType", bound=Cell)

ASSUMED_FLOPS_PER_S = 5e10
ASSUMED_BYTES_PER_S = 5e9
PER_CELL_S = 1.5  # first call, warm-up and the sampling budget


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UserError(f"--shard: got '{text}', expected K/N with 1 <= K <= N, e.g. 2/3")
    return int(match.group(1)), int(match.group(2))


def estimated_seconds(cell: Cell) -> float:
    if cell.skip_reason is not None:
        return 0.0
    flops, moved = cell.cost.get("flops") or 0, cell.cost.get("fused_bytes") or 0
    per_call = max(flops / ASSUMED_FLOPS_PER_S, moved / ASSUMED_BYTES_PER_S)
    return PER_CELL_S + 8 * per_call  # the first call, warm-up and at least five samples


def assign(cells: list[Cell], count: int) -> list[int]:
    """The shard (0-based) of every cell, in the order given."""
    loads = [0.0] * count
    shard_of: dict[str, int] = {}
    ranked = sorted(cells, key=lambda cell: (-estimated_seconds(cell), cell.cell_id))
    for cell in ranked:
        target = min(range(count), key=lambda index: (loads[index], index))
        shard_of[cell.cell_id] = target
        loads[target] += estimated_seconds(cell) or 1e-3  # skipped cells still spread out
    return [shard_of[cell.cell_id] for cell in cells]


def select(cells: list[CellType], index: int, count: int) -> list[CellType]:
    """The cells of shard ``index`` (1-based) of ``count``, keeping their order."""
    return [cell for cell, shard in zip(cells, assign(cells, count)) if shard == index - 1]
