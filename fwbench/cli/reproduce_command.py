"""``fwbench reproduce``: re-run published claims and say plainly what holds here and why."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from fwbench.claims.claim import available_claims, find_claim, load_claim
from fwbench.cli.common import BarProgress, console, user_errors
from fwbench.errors import UserError
from fwbench.files import write_text_atomic
from fwbench.report import claim_section
from fwbench.stats.timing import TimerSettings


@user_errors
def reproduce(
    claims: Optional[list[str]] = typer.Argument(None, help="Claim ids (see --list) or claim spec files; "
                                                            "default: every claim in workloads/claims/."),
    out: Path = typer.Option(Path("results") / "claims", "--out", "-o", help="Each claim writes DIR/<claim id>/."),
    list_claims: bool = typer.Option(False, "--list", help="List the known claims and exit."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Threads for every framework."),
    budget: float = typer.Option(0.5, "--budget", min=0.0, help="Seconds of sampling per cell (at least 3 samples)."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Fresh worker processes per cell, as for 'fwbench run'."),
) -> None:
    """Re-run a published claim on every device here and give a verdict with its reasons.

    For "JAX is 86x faster than NumPy" (jax-86x): NumPy on the CPU against JAX
    jit on each device, by the source's own method (IPython %timeit best of 5,
    compile hidden) and by fwbench's (compile apart, median with CI); the
    same-device ratio (fusion alone) and the cross-device ratio where an
    accelerator exists; and each time as a share of the memory-bandwidth bound
    measured in the same run. Verdicts, decided on the 95% interval of the
    measured ratio over rounds and quoting it: reproduced (the interval reaches
    the claimed ratio's tolerance band), holds in direction (above 1, short of
    the band), not reproduced, undecided (no interval: one round; or it
    straddles 1), not testable here.
    """
    known = available_claims()
    if list_claims:
        table = Table(title="Claims", box=box.SIMPLE_HEAD)
        for column in ("id", "statement", "source"):
            table.add_column(column, overflow="fold")
        for name, path in known.items():
            claim = load_claim(path)
            table.add_row(claim.id, claim.statement, f"{claim.source['title']} ({claim.source['url']})")
        console.print(table, markup=False)
        return
    paths = [find_claim(name) for name in (claims or list(known))]
    if not paths:
        raise UserError("no claims found in workloads/claims/", hint="run from the fwbench checkout")
    loaded = [load_claim(path) for path in paths]
    for claim in loaded:
        console.print(f"Reproducing {claim.id}: {claim.statement}", markup=False)
        progress = BarProgress()
        from fwbench.claims.reproduce import reproduce_claim

        directory = out / claim.id
        try:
            # Single calls here take up to a second: three samples, not five, keep a claim near a minute.
            timer = TimerSettings(budget_s=budget, min_samples=3)
            verdict, summary = reproduce_claim(claim, directory, timer, threads, progress, rounds=rounds)
        finally:
            progress.stop()
        table = Table(title=f"{claim.id}", box=box.SIMPLE_HEAD)
        for column in claim_section.claim_header(summary):
            table.add_column(column, overflow="fold")
        for row in claim_section.claim_rows(summary):
            table.add_row(*row)
        console.print(table, markup=False)
        console.print(f"Verdict: {verdict.verdict}", style="bold", markup=False)
        console.print(textwrap.fill(verdict.explanation, width=100), markup=False)
        write_text_atomic(directory / "claim.md", claim_section.to_markdown(summary))
        console.print(f"Results: {directory}/ (claim.json, claim.md; 'fwbench report {directory}' for HTML)",
                      markup=False)
