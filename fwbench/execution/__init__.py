"""Running cells in worker processes: the parent side (no framework is ever imported here).

* :class:`~fwbench.execution.worker_process.WorkerProcess`: spawn, protocol, read with timeout, kill, stderr tail;
* :class:`~fwbench.execution.groups.WorkerGroup`: one (framework, device) group's cells and its workers;
* executors (this module): how a round's groups run: one after another (``sequential``), taking turns
  a block of samples at a time (``interleave``), or as Ray tasks (``ray``);
* :class:`~fwbench.execution.lock.RunDirectoryLock`: one writer per run directory.
"""

from __future__ import annotations

from typing import Any, Protocol

from fwbench.execution.groups import WorkerGroup


class Executor(Protocol):
    """Runs one round: every group's cells, each group in a fresh worker process."""

    name: str

    def run_round(self, groups: list[WorkerGroup]) -> list[dict[str, Any]]: ...


class SequentialExecutor:
    """Groups one after another, never side by side: no two timings share the CPU."""

    name = "sequential"

    def run_round(self, groups: list[WorkerGroup]) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for group in groups:
            records.extend(group.run())
        return records


class InterleavedExecutor:
    """Every group's worker alive at once, cells of one workload size taking turns a block of samples at a time."""

    name = "interleave"

    def __init__(self, cell_timeout_s: float) -> None:
        self.cell_timeout_s = cell_timeout_s

    def run_round(self, groups: list[WorkerGroup]) -> list[dict[str, Any]]:
        from fwbench.execution.interleave import run_interleaved

        return run_interleaved(groups, self.cell_timeout_s)


class RayExecutor:
    """Each group as a Ray task on the node Ray picks (whole-node CPU, whole-GPU or TPU requests)."""

    name = "ray"

    def __init__(self, address: str | None) -> None:
        self.address = address

    def run_round(self, groups: list[WorkerGroup]) -> list[dict[str, Any]]:
        from fwbench.execution.ray_executor import run_on_ray

        return run_on_ray(groups, self.address)


def make_executor(name: str, interleave: bool, cell_timeout_s: float, ray_address: str | None) -> Executor:
    if name == "ray":
        return RayExecutor(ray_address)
    if interleave:
        return InterleavedExecutor(cell_timeout_s)
    return SequentialExecutor()


def rotated(items: list[Any], round_index: int) -> list[Any]:
    """``items`` rotated by one place per round (round 1 keeps the order): every group takes every turn."""
    if not items:
        return []
    shift = (round_index - 1) % len(items)
    return items[shift:] + items[:shift]
