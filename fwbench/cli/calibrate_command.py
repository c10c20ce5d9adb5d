"""``fwbench calibrate``: this machine's achievable bandwidth and GEMM throughput, stored and reused."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich import box
from rich.table import Table

from fwbench.cli.common import BarProgress, console, user_errors
from fwbench.execution.runner import default_threads


@user_errors
def calibrate(
    force: bool = typer.Option(False, "--force", help="Measure again even if this machine has stored values."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Threads (default: the usable cores)."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored JSON."),
) -> None:
    """Measure, per device and dtype, the memory bandwidth (STREAM scale and triad on 400 MB) and GEMM
    throughput (the best of the frameworks' matrix products) and store them for this machine.

    'fwbench run' uses them to give every cell its % of peak and roofline bound, and
    calibrates on first use. A second call reuses the stored values at once; --force re-measures.
    """
    from fwbench.execution.calibrate import calibrate as run_calibration

    progress = BarProgress()
    try:
        data = run_calibration(threads or default_threads(), progress, force=force)
    finally:
        progress.stop()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title="Machine peaks", box=box.SIMPLE_HEAD)
    for column in ("device", "copy (scale) GB/s", "triad GB/s", "GEMM GFLOP/s", "best series"):
        table.add_column(column)
    for device, values in data["devices"].items():
        gemm = ", ".join(f"{dtype} {value:.4g}" for dtype, value in values.get("gemm_gflops_per_s", {}).items())
        best = ", ".join(f"{key}: {series}" for key, series in values.get("best", {}).items())
        table.add_row(device, f"{values.get('copy_gbytes_per_s', 0):.3g}", f"{values.get('triad_gbytes_per_s', 0):.3g}",
                      gemm or "-", best)
    console.print(table, markup=False)
    origin = "reused the values stored" if data.get("reused") else "measured now and stored"
    console.print(f"{origin} in {data['file']} (measured {data['measured_at'][:19]}, "
                  f"{data['num_threads']} threads)", markup=False)
    for failure in data.get("failed_cells", []):
        console.print(f"warning: {failure}", markup=False)
