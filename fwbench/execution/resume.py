"""``fwbench run --resume DIR``: finish an interrupted run without measuring any cell twice.

A cell's round is done when DIR's results.jsonl has a record with its id
(workload, params, framework, mode, device, method), that round, and the
same spec hash; resuming runs only the missing (cell, round) pairs, round by
round, with the run's own number of rounds.  Resuming
is refused, with the reason, when the merge would be unfair: another host or
CPU, another thread count or timer, another framework version, or a spec file
that changed since the run began.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fwbench.adapters import find_installed
from fwbench.errors import UserError
from fwbench.execution.plan import Cell
from fwbench.machine.envinfo import host_info
from fwbench.machine.host import machine_changes
from fwbench.records.results import MANIFEST_FILE, RESULTS_FILE, read_records


def load_manifest(out_dir: Path) -> dict[str, Any]:
    if not (out_dir / RESULTS_FILE).is_file() or not (out_dir / MANIFEST_FILE).is_file():
        raise UserError(f"{out_dir}: there is no run to resume here (no results.jsonl and run.json)",
                        hint="pass the --out directory of the interrupted run")
    return json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))


def unfair_changes(manifest: dict[str, Any], records: list[dict[str, Any]], cells: list[Cell], num_threads: int,
                   timer: dict[str, Any]) -> list[str]:
    """Why merging new measurements into this run would compare unlike with unlike (empty: fair)."""
    reasons = machine_changes(manifest.get("host") or {}, host_info())
    if manifest.get("num_threads") != num_threads:
        reasons.append(f"the thread count changed ({manifest.get('num_threads')} then, {num_threads} now)")
    if manifest.get("timer") != timer:
        reasons.append("the timer settings changed (budget, CI target or sample counts)")
    versions: dict[str, set] = {}
    for record in records:
        if record.get("framework_version"):
            versions.setdefault(record["framework"], set()).add(record["framework_version"])
    for framework, seen in sorted(versions.items()):
        installed = find_installed(framework)[1]
        if installed and installed not in seen:
            reasons.append(f"{framework} changed ({', '.join(sorted(seen))} then, {installed} now)")
    hashes = {record["spec_file"]: record["spec_hash"] for record in records if record.get("spec_file")}
    for cell in cells:
        old = hashes.get(cell.workload.spec_file)
        if old and old != cell.workload.spec_hash:
            reasons.append(f"{cell.workload.spec_file} changed since the run began")
            break
    return reasons


def remaining_rounds(out_dir: Path, cells: list[Cell], num_threads: int,
                     timer: dict[str, Any]) -> tuple[dict[str, Any], dict[int, list[Cell]]]:
    """The manifest to continue and, per round, the cells that round still lacks."""
    manifest = load_manifest(out_dir)
    records = read_records(out_dir)
    reasons = unfair_changes(manifest, records, cells, num_threads, timer)
    if reasons:
        raise UserError(f"{out_dir}: cannot resume fairly: {'; '.join(reasons)}",
                        hint="start a new run with another --out")
    done = {(record["cell_id"], record.get("spec_hash"), record.get("round") or 1) for record in records}
    rounds = manifest.get("rounds_planned", 1)
    pending = {round_index: [cell for cell in cells
                             if (cell.cell_id, cell.workload.spec_hash, round_index) not in done]
               for round_index in range(1, rounds + 1)}
    return manifest, pending
