"""Pieces shared by the commands: error handling, spec selection, formatting."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fwbench.errors import UserError
from fwbench.execution.plan import Cell, params_text
from fwbench.execution.runner import Progress as RunProgress
from fwbench.units import format_number, format_seconds  # noqa: F401 - re-exported for the commands

DEFAULT_SPEC_DIR = Path("workloads")
# Logs and CI pages are wider than the 80 columns rich assumes off a terminal.
console = Console(width=None if sys.stdout.isatty() else 170)  # CI logs: the summary tables keep a line per row
error_console = Console(stderr=True, highlight=False, soft_wrap=True)


def user_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a UserError into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UserError as error:
            print(f"fwbench: error: {error.one_line()}", file=sys.stderr)
            raise typer.Exit(error.exit_code) from None

    return wrapper


def spec_paths(specs: Optional[list[Path]]) -> list[Path]:
    if specs:
        return list(specs)
    if not DEFAULT_SPEC_DIR.is_dir():
        raise UserError("no spec given and there is no ./workloads directory",
                        hint="pass spec files or directories, e.g. 'fwbench run workloads/'")
    return [DEFAULT_SPEC_DIR]


def print_imported_modules(specs: list[Any]) -> None:
    """Say which user modules a run will import (their code runs in the workers)."""
    modules = [(workload, workload.options.get("module_file")) for spec in specs for workload in spec.workloads
               if workload.kind == "python"]
    if modules:
        listed = ", ".join(f"{workload.options['module']} ({path})" for workload, path in modules)
        console.print(f"These specs import Python code, which runs in the workers: {listed}", markup=False,
                      soft_wrap=True)


FRAMEWORK_OPTION = typer.Option(None, "--framework", "-f",
                                help="Only this framework (repeatable): numpy, jax, torch, tensorflow.")
DEVICE_OPTION = typer.Option(None, "--device", "-d",
                             help="Only this device kind (repeatable): cpu, gpu, tpu. Default: every kind "
                                  "this host has.")
MODE_OPTION = typer.Option(None, "--mode", "-m",
                           help="Only this mode (repeatable): eager, jit, compile, function, xla, or "
                                "framework/mode such as jax/jit.")
FILTER_OPTION = typer.Option(None, "--filter", "-k",
                             help="Only cells whose id contains this text, e.g. 'power_sum[n=1000]'.")
QUICK_OPTION = typer.Option(False, "--quick",
                            help="Smallest size of every sweep and a short time budget: a smoke run.")
FULL_OPTION = typer.Option(False, "--full",
                           help="Also each workload's full_sweep: the widest sizes (and the variants that have "
                                "only those), which make the default suite take several times longer.")
SPECS_ARGUMENT = typer.Argument(None, help="Spec files or directories (default: ./workloads).",
                                show_default=False)


class BarProgress(RunProgress):
    """A rich progress bar: cell n of N and what is running now."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=error_console, transient=False,
        )
        self.task = None
        self.failures = 0
        self.started = False

    def begin(self, total: int) -> None:
        self.started = True
        self.bar.start()
        self.task = self.bar.add_task("starting", total=total)

    def warn(self, message: str) -> None:
        error_console.print(f"Warning: {message}", markup=False)

    def worker(self, framework: str, device: str, message: str) -> None:
        if message == "starting":
            self.bar.update(self.task, description=f"{framework} on {device}: importing")

    def cell_started(self, cell: Cell) -> None:
        self.bar.update(self.task, description=escape(f"{cell.framework}/{cell.mode} {cell.device} "
                                                      f"{cell.workload.name}[{params_text(cell.params)}]"))

    def add(self, cells: int) -> None:
        if self.task is not None:
            task = next(task for task in self.bar.tasks if task.id == self.task)
            self.bar.update(self.task, total=(task.total or 0) + cells)

    def cell_finished(self, cell: Cell, record: dict[str, Any]) -> None:
        if record.get("status") in ("error", "mismatch"):
            self.failures += 1
            self.bar.console.print(f"{record['status']}: {cell.cell_id}: {record.get('reason')}", markup=False)
        self.bar.advance(self.task)

    def stop(self) -> None:
        if self.started:
            self.bar.stop()
            self.started = False


def parse_threshold(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise UserError(f"--threshold: got '{text}', expected a fraction like 0.05 or a percentage like 5%") from None
    if not 0 <= value < 10:
        raise UserError(f"--threshold: got '{text}', expected a value between 0% and 1000%")
    return value
