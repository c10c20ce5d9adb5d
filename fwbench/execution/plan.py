"""Expanding specs into the cell matrix: workload x params x framework x mode x device.

Planning imports no framework: installation is checked with
``importlib.util.find_spec``, capabilities come from the adapters' constants,
and device kinds from the host's device files.  Every cell that cannot run
carries the reason, so ``fwbench list`` and the results can show it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Hashable, Iterable, TypeVar

from fwbench.adapters import FRAMEWORKS, find_installed, get_adapter
from fwbench.errors import SpecError, UserError
from fwbench.kinds import get_kind_class
from fwbench.machine.envinfo import host_device_kinds, memory_bytes
from fwbench.spec.loader import DEVICE_KINDS, MODE_NAMES, Spec, Workload
from fwbench.units import format_bytes

# Sizes needing more than this many times the machine's memory are a mistake, not a cell to skip.
ABSURD_MEMORY_FACTOR = 64

Served = TypeVar("Served")


def params_text(params: dict[str, int]) -> str:
    return ",".join(f"{key}={value}" for key, value in params.items()) or "-"


@dataclass
class Cell:
    workload: Workload
    params: dict[str, int]
    framework: str
    mode: str
    device: str
    skip_reason: str | None = None
    cost: dict[str, int] = field(default_factory=dict)
    # "fwbench" (compile apart, median with CI) or "timeit" (IPython %timeit best-of-N, for claims)
    method: str = "fwbench"
    timeit_loops: int | None = None
    timeit_repeats: int = 5
    replica: int = 1  # 2 and up: a copy of the series measured as if it were another (--replicas, A/A checks)
    side: str = ""  # fwbench ab: baseline or candidate, each side's workers its own interpreter and environment

    @property
    def cell_id(self) -> str:
        base = f"{self.workload.name}[{params_text(self.params)}]/{self.framework}/{self.mode}/{self.device}"
        if self.replica > 1:
            base += f"#{self.replica}"
        if self.side:
            base += f"#{self.side}"
        return base if self.method == "fwbench" else f"{base}/{self.method}"

    @property
    def size(self) -> tuple[str, str, str]:
        """The workload size the cell belongs to (workload, params as JSON, device): its series are the cells
        that share it, the ones that take turns together and are judged together."""
        return self.workload.name, json.dumps(self.params, sort_keys=True), self.device

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "workload": self.workload.name,
            "params": self.params,
            "framework": self.framework,
            "mode": self.mode,
            "device": self.device,
            "cost": self.cost,
            "method": self.method,
            "timeit_loops": self.timeit_loops,
            "timeit_repeats": self.timeit_repeats,
            "replica": self.replica,
            "side": self.side,
        }


@dataclass
class Selection:
    """What the user asked for on the command line (None: everything)."""

    frameworks: list[str] | None = None
    devices: list[str] | None = None
    modes: list[str] | None = None
    filter_text: str | None = None
    quick: bool = False
    full: bool = False  # add each workload's full_sweep
    shard: tuple[int, int] | None = None  # (K, N): only shard K of N (fwbench.execution.shard)
    replicas: int = 1  # every series this many times, each copy a series of its own (A/A self-checks)
    sides: tuple[str, ...] = ()  # fwbench ab: every cell once per side (baseline, candidate), side by side

    def validate(self) -> None:
        for name in self.frameworks or []:
            if name not in FRAMEWORKS:
                raise UserError(f"--framework: got '{name}', expected one of {', '.join(FRAMEWORKS)}")
        for name in self.devices or []:
            if name not in DEVICE_KINDS:
                raise UserError(f"--device: got '{name}', expected one of {', '.join(DEVICE_KINDS)}")
        valid_modes = [*MODE_NAMES, *(f"{f}/{m}" for f in FRAMEWORKS for m in MODE_NAMES)]
        for name in self.modes or []:
            if name not in valid_modes:
                raise UserError(f"--mode: got '{name}', expected one of {', '.join(MODE_NAMES)} "
                                "or framework/mode such as jax/jit")


def _mode_wanted(framework: str, mode: str, requested: list[str] | None) -> bool:
    if requested is None:
        return True
    return mode in requested or f"{framework}/{mode}" in requested


def _requested_modes(framework: str, requested: list[str] | None) -> list[str]:
    """Modes named for this framework (plainly or as framework/mode), in the order given."""
    if requested is None:
        return []
    names = []
    for item in requested:
        prefix, _, mode = item.rpartition("/")
        if prefix in ("", framework):
            names.append(mode)
    return names


MAX_CELLS = 10_000  # cells one run may plan: 10,000 cells at fwbench's default budget take days


def plan_cells(specs: Iterable[Spec], selection: Selection) -> list[Cell]:
    """All cells, runnable or skipped, grouped by (framework, device) in a stable order."""
    selection.validate()
    host_kinds = host_device_kinds()
    devices = selection.devices or [kind for kind in DEVICE_KINDS if kind in host_kinds]
    frameworks = selection.frameworks or list(FRAMEWORKS)
    installed = {name: find_installed(name) for name in frameworks}
    available_memory = memory_bytes()["available"]
    cells: list[Cell] = []
    for framework in frameworks:
        adapter = get_adapter(framework)
        for device in devices:
            for spec in specs:
                for workload in spec.workloads:
                    cells.extend(_workload_cells(workload, framework, adapter, device, selection,
                                                 host_kinds, installed[framework], available_memory))
                    if len(cells) > MAX_CELLS:  # refused while expanding: a huge plan costs nothing
                        raise UserError(f"the plan has more than {MAX_CELLS:,} cells ({len(cells):,} after "
                                        f"{framework} on {device} reached {workload.name}); at most "
                                        f"{MAX_CELLS:,} can run in one run",
                                        hint="narrow it with --framework, --mode, --device, --filter, --quick or "
                                             "smaller sweeps")
    if selection.replicas > 1:  # each copy beside its original, so a group's copies run together
        cells = [replace(cell, replica=number) if number > 1 else cell
                 for cell in cells for number in range(1, (selection.replicas if cell.skip_reason is None else 1) + 1)]
    if selection.sides:  # each side of a cell beside the other, so a size's sides take turns together
        cells = [replace(cell, side=side) for cell in cells for side in selection.sides]
    if selection.filter_text:
        cells = [cell for cell in cells if selection.filter_text in cell.cell_id]
    if selection.shard:
        from fwbench.execution.shard import select

        cells = select(cells, *selection.shard)
    return cells


def _workload_cells(workload: Workload, framework: str, adapter: Any, device: str, selection: Selection,
                    host_kinds: dict[str, str], installed: tuple, available_memory: int | None) -> list[Cell]:
    if workload.frameworks is not None and framework not in workload.frameworks:
        return []
    if workload.devices is not None and device not in workload.devices:
        return []
    kind = get_kind_class(workload.kind)(workload)
    modes = [m for m in adapter.MODES
             if _mode_wanted(framework, m, workload.modes) and _mode_wanted(framework, m, selection.modes)]
    unsupported = [m for m in dict.fromkeys(_requested_modes(framework, workload.modes)
                                            + _requested_modes(framework, selection.modes))
                   if m not in adapter.MODES]
    cells = []
    total_memory = memory_bytes()["total"]
    for params in workload.parameter_sets(quick=selection.quick, full=selection.full):
        cost = kind.cost(params)
        if total_memory and cost.memory_bytes > ABSURD_MEMORY_FACTOR * total_memory:
            raise SpecError(
                f"the sizes {params_text(params)} need about {format_bytes(cost.memory_bytes)} of memory; "
                f"this machine has {format_bytes(total_memory)}",
                file=workload.spec_file, workload=workload.name, field="sweep",
                hint="use sizes that fit in memory")
        cost_fields = {"flops": cost.flops, "fused_bytes": cost.fused_bytes,
                       "unfused_bytes": cost.unfused_bytes, "memory_bytes": cost.memory_bytes}
        for mode in modes:
            reason = _skip_reason(kind, params, framework, adapter, mode, device, host_kinds,
                                  installed, cost.memory_bytes, available_memory)
            cells.append(Cell(workload, params, framework, mode, device, reason, cost_fields))
        if workload.modes is not None and not modes and selection.modes is None:
            for mode in unsupported:
                reason = f"mode unsupported: {framework} has modes {', '.join(adapter.MODES)}"
                cells.append(Cell(workload, params, framework, mode, device, reason, cost_fields))
    return cells


def _skip_reason(kind, params, framework, adapter, mode, device, host_kinds, installed,
                 memory_needed: int, available_memory: int | None) -> str | None:
    is_installed, _version, why_not = installed
    if not is_installed:
        return f"unavailable: {why_not}"
    if device not in host_kinds:
        return f"device absent: this host has no {device} (found: {', '.join(host_kinds)})"
    if device not in adapter.DEVICE_KINDS:
        return f"device unsupported: {framework} runs on {', '.join(adapter.DEVICE_KINDS)}"
    if available_memory is not None and memory_needed > available_memory:
        return (f"too large: needs about {memory_needed / 2**30:.1f} GiB of host memory, "
                f"{available_memory / 2**30:.1f} GiB available")
    return kind.skip(params, framework, mode, device)


def shared_starts(rounds: Iterable[tuple[int, Hashable, Served]], longest: int | None
                  ) -> list[tuple[tuple[int, ...], Served]]:
    """Which rounds one start of the workers serves: ``rounds`` (round, key, what the start runs) in round
    order, consecutive rounds with equal keys sharing one start, at most ``longest`` rounds a start (None: no
    limit); each start keeps its first round's payload.  The first pass's starts (``--rounds-per-start``) and
    the retries' (:func:`fwbench.execution.retry.retry_starts`) are both grouped here."""
    found: list[tuple[tuple[int, ...], Hashable, Served]] = []
    for round_index, key, served_by in rounds:
        if found:
            served, previous_key, previous = found[-1]
            if (served[-1] == round_index - 1 and previous_key == key
                    and (longest is None or len(served) < longest)):
                found[-1] = (served + (round_index,), previous_key, previous)
                continue
        found.append(((round_index,), key, served_by))
    return [(served, served_by) for served, _key, served_by in found]
