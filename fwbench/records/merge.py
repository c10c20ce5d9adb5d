"""``fwbench merge``: shard runs (``--shard K/N``, :mod:`fwbench.execution.shard`) joined into one run
directory.  Refused: a cell (and round) in two shards, a spec that differs between them, and, unless asked,
shards from different machines or framework versions (:mod:`fwbench.machine.host` says what "the same
machine" means).  Every record keeps the ``host`` of the run that measured it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fwbench.errors import UserError
from fwbench.files import write_json_atomic
from fwbench.machine.host import labelled_facts
from fwbench.records.combine import combine_rounds
from fwbench.records.journal import ResultsWriter
from fwbench.records.manifest import RunManifest
from fwbench.records.results import (
    CSV_FILE,
    MANIFEST_FILE,
    check_out_dir,
    prepare_out_dir,
    read_manifest,
    read_records,
    write_csv,
)


def machine_fingerprint(manifest: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, str]:
    """What must agree between shards for their numbers to belong in one table: the machine
    (:mod:`fwbench.machine.host`) and each framework's version (the hostname may differ: CI runners do)."""
    host = manifest.get("host") or (records[0].get("host") if records else None) or {}
    facts = labelled_facts(host)
    for record in records:
        if record.get("framework_version"):
            facts[f"{record['framework']} version"] = str(record["framework_version"])
    return facts


def _mixed_hosts(fingerprints: list[tuple[Path, dict[str, str]]]) -> list[str]:
    first_directory, first = fingerprints[0]
    differences = []
    for directory, facts in fingerprints[1:]:
        for name in sorted(set(first) & set(facts)):
            if first[name] != facts[name]:
                differences.append(f"{name} {first[name]!r} in {first_directory} but {facts[name]!r} in {directory}")
    return differences


def merge(directories: list[Path], out_dir: Path, overwrite: bool = False,
          allow_mixed_hosts: bool = False) -> dict[str, Any]:
    """Combine shard runs into one run directory; refuse duplicate cells, differing specs, and (unless
    ``allow_mixed_hosts``) shards from different machines or framework versions.  Every record keeps the
    ``host`` of the run that measured it."""
    if len(directories) < 1:
        raise UserError("merge needs at least one run directory")
    check_out_dir(out_dir, overwrite)  # before reading anything: a refusal costs nothing
    seen: dict[tuple[str, int], Path] = {}
    spec_hashes: dict[str, tuple[str, Path]] = {}
    all_records: list[dict[str, Any]] = []
    manifests = []
    fingerprints = []
    for directory in directories:
        manifests.append(read_manifest(directory) or {})
        records = read_records(directory)
        fingerprints.append((Path(directory), machine_fingerprint(manifests[-1], records)))
        for record in records:
            key = (record["cell_id"], record.get("round") or 1)
            if key in seen:
                raise UserError(f"{directory}: the cell {key[0]} (round {key[1]}) is also in {seen[key]}",
                                hint="merge each shard once; shards of one --shard K/N set never overlap")
            seen[key] = Path(directory)
            known = spec_hashes.get(record["spec_file"])
            if known and known[0] != record["spec_hash"]:
                raise UserError(f"{directory}: {record['spec_file']} differs from the one in {known[1]} "
                                f"(spec hash {record['spec_hash'][:12]} against {known[0][:12]})",
                                hint="run every shard from the same commit")
            spec_hashes[record["spec_file"]] = (record["spec_hash"], Path(directory))
            all_records.append(record)
    differences = _mixed_hosts(fingerprints)
    if differences and not allow_mixed_hosts:
        raise UserError(f"the runs come from different machines or versions: {differences[0]}"
                        + (f" (and {len(differences) - 1} more differences)" if len(differences) > 1 else ""),
                        hint="merge shards measured on one kind of machine, or pass --allow-mixed-hosts to keep "
                             "them together (each row keeps its own host)")
    prepare_out_dir(out_dir, overwrite)
    with ResultsWriter(out_dir) as writer:
        for record in all_records:
            writer.write(record)
    write_json_atomic(RunManifest.merged(manifests, directories, differences).to_dict(), out_dir / MANIFEST_FILE)
    cells = combine_rounds(all_records)
    write_csv(cells, out_dir / CSV_FILE)
    return {"cells": len(cells), "directories": len(directories), "out_dir": str(out_dir)}
