"""``fwbench merge``: combine the shards of a CI matrix into one run."""

from __future__ import annotations

from pathlib import Path

import typer

from fwbench.cli.common import console, user_errors


@user_errors
def merge(
    runs: list[Path] = typer.Argument(..., help="The shard run directories."),
    out: Path = typer.Option(..., "--out", "-o", help="The merged run directory to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results already in --out."),
    allow_mixed_hosts: bool = typer.Option(False, "--allow-mixed-hosts",
                                           help="Merge runs from machines that differ (CPU model, core count, "
                                                "devices, framework versions); each row keeps its own host."),
) -> None:
    """Combine runs made with --shard K/N into one run that 'fwbench report' and 'compare' read.

    Refuses a cell present in two runs, a spec file whose content differs
    between runs, and runs from different machines (CPU model, core count,
    devices or framework versions; hostnames may differ) unless
    --allow-mixed-hosts.

    Example: fwbench merge shard-1 shard-2 shard-3 --out results/merged
    """
    from fwbench.records.merge import merge as merge_runs

    summary = merge_runs(list(runs), out, overwrite, allow_mixed_hosts)
    console.print(f"Merged {summary['cells']} cells from {summary['directories']} runs into {summary['out_dir']}",
                  markup=False)
