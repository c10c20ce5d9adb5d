"""``fwbench list``: the cells a run would execute, and those it would skip and why."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich import box
from rich.markup import escape
from rich.table import Table

from fwbench.cli.common import (
    DEVICE_OPTION,
    FILTER_OPTION,
    FRAMEWORK_OPTION,
    FULL_OPTION,
    MODE_OPTION,
    QUICK_OPTION,
    SPECS_ARGUMENT,
    console,
    print_imported_modules,
    spec_paths,
    user_errors,
)
from fwbench.execution.plan import Selection, params_text, plan_cells
from fwbench.spec.loader import load_specs


@user_errors
def list_cells(
    specs: Optional[list[Path]] = SPECS_ARGUMENT,
    framework: Optional[list[str]] = FRAMEWORK_OPTION,
    device: Optional[list[str]] = DEVICE_OPTION,
    mode: Optional[list[str]] = MODE_OPTION,
    filter_text: Optional[str] = FILTER_OPTION,
    quick: bool = QUICK_OPTION,
    full: bool = FULL_OPTION,
) -> None:
    """List the cells (workload x size x framework x mode x device) a run would execute.

    Cells that would be skipped are shown with the reason: framework not
    installed, device absent, mode unsupported, or too large for memory.
    Nothing is imported or measured.
    """
    loaded = load_specs(spec_paths(specs))
    print_imported_modules(loaded)
    selection = Selection(frameworks=framework or None, devices=device or None, modes=mode or None,
                          filter_text=filter_text, quick=quick, full=full)
    cells = plan_cells(loaded, selection)
    table = Table(title="Cells", box=box.SIMPLE_HEAD)
    table.add_column(escape("workload[params]"), no_wrap=True)
    table.add_column("framework/mode", no_wrap=True)
    table.add_column("device", no_wrap=True)
    table.add_column("GFLOP", justify="right", no_wrap=True)
    table.add_column("plan", overflow="fold")
    for cell in cells:
        plan = "run" if cell.skip_reason is None else f"skip: {cell.skip_reason}"
        table.add_row(escape(f"{cell.workload.name}[{params_text(cell.params)}]"),
                      f"{cell.framework}/{cell.mode}", cell.device, f"{cell.cost.get('flops', 0) / 1e9:.3g}",
                      escape(plan),
                      style=None if cell.skip_reason is None else "dim")
    console.print(table)
    runnable = sum(cell.skip_reason is None for cell in cells)
    console.print(f"{runnable} cells to run, {len(cells) - runnable} to skip.")
