"""Re-running published claims: plan their cells (both timing methods), run them, judge, record.

For a claim, every workload of its spec runs on every device this host has,
with fwbench's method (first call apart, median with CI).  For a ``speedup``
claim, the baseline and subject series also run with the source's own method
(IPython ``%timeit`` best-of-N, compile hidden), so the two methods sit side
by side.  The verdict and its explanation go to ``DIR/<claim>/claim.json``,
which ``fwbench report`` turns into a section.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fwbench.claims.claim import Claim
from fwbench.claims.measured import collect
from fwbench.claims.verdict import CLAIM_FILE, Verdict, claim_summary, judge
from fwbench.execution.plan import Cell, Selection, plan_cells
from fwbench.execution.runner import Progress, RunOptions, run
from fwbench.files import write_json_atomic
from fwbench.machine.envinfo import host_device_kinds
from fwbench.records.results import read_cells
from fwbench.stats.timing import TimerSettings


def claim_cells(claim: Claim, selection: Selection) -> list[Cell]:
    cells = plan_cells([claim.spec], selection)
    if claim.evaluation != "speedup":
        return cells
    wanted = {claim.baseline["series"], claim.subject["series"]}
    ordered = []
    for cell in cells:
        ordered.append(cell)
        series = f"{cell.framework}/{cell.mode}"
        if cell.workload.name == claim.workload and series in wanted:
            # Right after its twin: the worker reuses the inputs and the reference it already holds.
            loops = (claim.timeit.get("loops") or {}).get(series)
            ordered.append(dataclasses.replace(cell, method="timeit", timeit_loops=loops,
                                               timeit_repeats=int(claim.timeit.get("repeats", 5))))
    return ordered


def reproduce_claim(claim: Claim, out_dir: Path, timer: TimerSettings, num_threads: int | None,
                    progress: Progress | None = None, overwrite: bool = True,
                    rounds: int = 1) -> tuple[Verdict, dict[str, Any]]:
    selection = Selection()
    options = RunOptions(out_dir=out_dir, selection=selection, num_threads=num_threads, timer=timer,
                         rounds=rounds, overwrite=overwrite, command=["fwbench", "reproduce", claim.id])
    outcome = run([claim.spec], options, progress, cells=claim_cells(claim, selection))
    records = read_cells(out_dir)
    measured = collect(claim, records, list(host_device_kinds()))
    verdict = judge(claim, measured)
    summary = claim_summary(claim, verdict, outcome.run_id)
    write_json_atomic(summary, out_dir / CLAIM_FILE)
    return verdict, summary
