"""The ``fwbench`` command line (Typer): one module per command."""

from __future__ import annotations

import typer

from fwbench.cli import (
    ab_command,
    calibrate_command,
    compare_command,
    env_command,
    history_command,
    list_command,
    merge_command,
    repair_command,
    report_command,
    reproduce_command,
    run_command,
    schema_command,
)

app = typer.Typer(
    name="fwbench",
    help=(
        "Fair, verified benchmarks of NumPy, JAX, PyTorch and TensorFlow on your machine.\n\n"
        "Each framework runs in its own worker process; every call is synchronised inside the "
        "timed region, compile time is reported apart from steady state, and every output is "
        "checked against a NumPy float64 reference.\n\n"
        "Start with 'fwbench env', then 'fwbench list', then 'fwbench run --quick'."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("run")(run_command.run)
app.command("list")(list_command.list_cells)
app.command("env")(env_command.env)
app.command("report")(report_command.report)
app.command("compare")(compare_command.compare)
app.command("ab")(ab_command.ab)
app.command("history")(history_command.history)
app.command("reproduce")(reproduce_command.reproduce)
app.command("calibrate")(calibrate_command.calibrate)
app.command("merge")(merge_command.merge)
app.command("schema")(schema_command.schema)
app.command("repair")(repair_command.repair)


def main() -> None:
    app()
