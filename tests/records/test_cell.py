"""The result record's fields are defined in one place (fwbench.records.cell), and a run writes only those."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import fwbench
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.records.cell import CELL_FIELDS, COMBINED_FIELDS, IDENTITY_FIELDS, ROUND_FIELDS, check_fields
from fwbench.records.journal import ResultsWriter
from fwbench.records.results import RESULTS_FILE, base_record, read_cells
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings

SPEC = """
version: 1
workloads:
  - name: power_sum
    kind: expression
    expr: "x + x*x"
    inputs:
      x: {shape: [n, n]}
    sweep: {n: [32, 64]}
  - name: mlp
    kind: mlp_train
    layers: [8, 16, 4]
    batch: 8
    steps: 3
    num_batches: 2
"""


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fields")
    spec = directory / "spec.yaml"
    spec.write_text(SPEC)
    out = directory / "out"
    run(load_specs([spec]), RunOptions(out_dir=out, rounds=2, timer=TimerSettings.quick(),
                                       selection=Selection(devices=["cpu"], frameworks=["numpy"])))
    return out


def test_every_field_of_a_runs_jsonl_is_defined_in_fwbench_records_cell(numpy_run):
    lines = [json.loads(line) for line in (numpy_run / RESULTS_FILE).read_text().splitlines()]
    assert len(lines) == 6  # three cells, two rounds
    seen = set().union(*lines)
    assert seen <= set(ROUND_FIELDS), sorted(seen - set(ROUND_FIELDS))
    # the fields that only training cells and measured cells have are there too: not a trivially small run
    assert {"loss_trajectory", "median_s", "samples_s", "max_rel_err", "inputs_sha256"} <= seen
    for line in lines:
        assert set(base_record({"cell_id": "c", "params": {}, "framework": "numpy", "mode": "eager", "device": "cpu"},
                               {"spec_file": "s", "spec_hash": "h", "name": "w", "kind": "k", "seed": 0},
                               {"run_id": "r", "num_threads": 1})) <= set(line)


def test_every_field_of_a_combined_cell_is_defined_there(numpy_run):
    cells = read_cells(numpy_run)
    assert len(cells) == 3
    for cell in cells:
        check_fields(cell, CELL_FIELDS)
    assert all(cell["n_rounds"] == 2 for cell in cells)


def test_the_writer_refuses_a_field_defined_nowhere(tmp_path):
    with ResultsWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="not defined in fwbench.records.cell: made_up_s"):
            writer.write({"run_id": "r", "made_up_s": 1.0})
    assert (tmp_path / RESULTS_FILE).read_text() == ""


def test_every_field_the_source_writes_into_a_record_is_defined():
    """Paths no CPU run takes (accelerators, Ray, errors) write fields too: read them from the source."""
    package = Path(fwbench.__file__).parent
    assignment = re.compile(r'(?:record|combined|cell)\["([a-z_0-9]+)"\]\s*=(?!=)')
    update = re.compile(r'(?:(?:record|combined|cell)\.update\(|with_fields\(\w+,)([^)]*)\)', re.DOTALL)
    written = set()
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= {(name, path.name) for name in assignment.findall(text)}
        written |= {(name, path.name) for arguments in update.findall(text)
                    for name in re.findall(r"(\w+)=", arguments)}
    assert {("status", "cells.py"), ("node", "ray_executor.py"), ("round", "groups.py")} <= written  # writers found
    assert sorted((name, where) for name, where in written if name not in CELL_FIELDS) == []


def test_a_real_runs_values_are_of_their_fields_types(numpy_run):
    """The typed definitions, read against a real run: every value of every round record and combined cell is
    of the kind its Field states (a number where a number is defined, never a string for a count)."""
    lines = [json.loads(line) for line in (numpy_run / RESULTS_FILE).read_text().splitlines()]
    kinds_seen = set()
    for line in lines:
        for name, value in line.items():
            assert ROUND_FIELDS[name].accepts(value), (name, value, ROUND_FIELDS[name].kind)
            if value is not None:
                kinds_seen.add(ROUND_FIELDS[name].kind)
    for cell in read_cells(numpy_run):
        for name, value in cell.items():
            assert CELL_FIELDS[name].accepts(value), (name, value, CELL_FIELDS[name].kind)
    assert kinds_seen == {"text", "integer", "number", "flag", "listing", "mapping"}


def test_a_field_accepts_only_its_kind_and_shows_values_in_its_unit():
    assert ROUND_FIELDS["median_s"].accepts(1.5e-3) and ROUND_FIELDS["median_s"].accepts(None)
    assert not ROUND_FIELDS["median_s"].accepts("1.5 ms") and not ROUND_FIELDS["median_s"].accepts(True)
    assert ROUND_FIELDS["n_samples"].accepts(12) and not ROUND_FIELDS["n_samples"].accepts(12.5)
    assert ROUND_FIELDS["converged"].accepts(False) and not ROUND_FIELDS["converged"].accepts(0)
    assert not ROUND_FIELDS["params"].accepts([1]) and not ROUND_FIELDS["samples_s"].accepts({"a": 1})
    assert ROUND_FIELDS["median_s"].format(1.5e-3) == "1.5 ms"
    assert ROUND_FIELDS["peak_host_bytes"].format(3 * 2**20) == "3 MiB"
    assert ROUND_FIELDS["gflops_per_s"].format(12.345) == "12.3 GFLOP/s"
    assert ROUND_FIELDS["rel_ci95"].format(0.05) == "0.05"


def test_the_parent_stamps_a_new_record_and_leaves_the_workers_as_it_was():
    from fwbench.records.results import with_fields, with_settings

    worker = {"cell_id": "c", "status": "ok", "settings": {"sync_method": "none"}}
    stamped = with_settings(with_fields(worker, round=2, look=1), contended_cores=0.5)
    assert stamped["round"] == 2 and stamped["settings"] == {"sync_method": "none", "contended_cores": 0.5}
    assert worker == {"cell_id": "c", "status": "ok", "settings": {"sync_method": "none"}}
    with pytest.raises(ValueError, match="made_up"):
        with_fields(worker, made_up=1)


def test_the_writer_refuses_a_value_of_the_wrong_type(tmp_path):
    with ResultsWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="n_samples \\(str, not integer\\)"):
            writer.write({"run_id": "r", "n_samples": "12"})
    assert (tmp_path / RESULTS_FILE).read_text() == ""


def test_each_field_says_what_it_means_in_which_unit():
    assert all(isinstance(field.meaning, str) and field.meaning for field in CELL_FIELDS.values())
    assert all(field.unit == "s" for name, field in CELL_FIELDS.items()
               if name.endswith("_s") and not name.endswith("_per_s") and field.kind == "number")
    assert all(field.unit == "bytes" for name, field in CELL_FIELDS.items() if name.endswith("_bytes"))
    assert set(IDENTITY_FIELDS) <= set(ROUND_FIELDS)
    # a combined row's own fields are new ones, never a round field redefined with another meaning
    assert not set(ROUND_FIELDS) & set(COMBINED_FIELDS), set(ROUND_FIELDS) & set(COMBINED_FIELDS)
