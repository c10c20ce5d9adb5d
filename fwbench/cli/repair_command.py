"""``fwbench repair DIR``: make a run whose results.jsonl has broken lines readable again, losing no record."""

from __future__ import annotations

from pathlib import Path

import typer

from fwbench.cli.common import console, user_errors
from fwbench.errors import UserError
from fwbench.execution.lock import RunDirectoryLock
from fwbench.records.journal import SET_ASIDE_FILE
from fwbench.records.journal import repair as repair_file
from fwbench.records.results import RESULTS_FILE


@user_errors
def repair(
    directory: Path = typer.Argument(..., help="The run directory (holding results.jsonl) to repair."),
) -> None:
    """Move every line of DIR/results.jsonl that is not a whole record (a crash or a full disk can leave one)
    into DIR/results.setaside.jsonl, and keep every whole record.

    Nothing is thrown away: the broken lines stay in the side file with their line numbers.  Afterwards
    'fwbench report DIR' reads the run, and 'fwbench run --resume DIR' measures again the cell-rounds the
    broken lines held.  Refused while a run writes to DIR.
    """
    path = directory / RESULTS_FILE
    if not path.is_file():
        raise UserError(f"{directory}: no {RESULTS_FILE} here", hint="pass a run directory written by 'fwbench run'")
    with RunDirectoryLock(directory, ["fwbench", "repair", str(directory)]):
        kept, set_aside = repair_file(path)
    if set_aside:
        console.print(f"{path}: {set_aside} broken line(s) moved to {directory / SET_ASIDE_FILE}; {kept} whole "
                      f"records kept. Measure what they held with: fwbench run --resume {directory}", markup=False)
    else:
        console.print(f"{path}: every line is a whole record ({kept}); nothing to repair.", markup=False)
