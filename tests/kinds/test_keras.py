"""The keras kind: the same Keras model on every backend, checked against the numpy backend; no downloads."""

from __future__ import annotations

import json

import pytest

from fwbench.errors import SpecError
from fwbench.execution.plan import Selection, plan_cells
from fwbench.execution.runner import RunOptions, run
from fwbench.kinds import get_kind_class
from fwbench.records.results import read_cells, read_records
from fwbench.spec.loader import load_spec, load_specs
from fwbench.stats.timing import TimerSettings
from tests.cli.test_cli import fwbench
from tests.conftest import REPO_ROOT, require_framework

TINY = """
version: 1
workloads:
  - name: tiny_fit
    kind: keras
    model: transformer_encoder
    task: fit
    width: 16
    depth: 1
    heads: 2
    input_size: 8
    batch: 4
    modes: [jax/jit, tensorflow/xla, torch/eager, numpy/eager]
  - name: tiny_predict
    kind: keras
    model: transformer_encoder
    task: predict
    width: 16
    depth: 1
    heads: 2
    input_size: 8
    batch: 4
    modes: [jax/jit, tensorflow/xla, torch/eager, numpy/eager]
"""


def test_pretrained_weights_are_refused_naming_the_field(write_spec):
    path = write_spec(TINY.replace("    task: predict\n", "    task: predict\n    weights: imagenet\n"))
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    line = raised.value.one_line()
    assert "workload 'tiny_predict', field 'weights'" in line and "never downloads weights" in line


def test_pretrained_weights_exit_2_with_one_line_from_the_command(write_spec, tmp_path):
    path = write_spec(TINY.replace("    task: fit\n", "    task: fit\n    weights: imagenet\n"))
    result = fwbench("run", str(path), "--out", str(tmp_path / "out"), "--no-calibrate")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "field 'weights'" in result.stderr
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_the_numpy_backend_predicts_only_and_says_why(write_spec):
    cells = plan_cells(load_specs([write_spec(TINY)]), Selection(devices=["cpu"]))
    numpy_fit = [cell for cell in cells if cell.framework == "numpy" and cell.workload.name == "tiny_fit"]
    assert [cell.skip_reason for cell in numpy_fit] == [
        "the Keras numpy backend cannot train (it has no gradients): it runs predict only"]
    runnable = {(cell.workload.name, cell.framework, cell.mode) for cell in cells if cell.skip_reason is None}
    assert ("tiny_predict", "numpy", "eager") in runnable and ("tiny_fit", "torch", "eager") in runnable


def test_the_shipped_spec_runs_the_keras_tables_settings_by_default_and_the_rest_with_full():
    specs = load_specs([REPO_ROOT / "workloads" / "models.yaml"])
    default = plan_cells(specs, Selection(devices=["cpu"]))
    full = plan_cells(specs, Selection(devices=["cpu"], full=True))
    assert {(c.framework, c.mode) for c in default if c.skip_reason is None} == {
        ("numpy", "eager"), ("jax", "jit"), ("tensorflow", "xla"), ("torch", "eager")}
    assert {c.workload.options["model"] for c in full} == {"transformer_encoder", "mobilenet_v3_small", "resnet50"}
    assert ("torch", "compile") in {(c.framework, c.mode) for c in full}
    assert all(c.workload.kind == "keras" for c in full)
    assert get_kind_class("keras").OWN_WORKER


@pytest.mark.slow
def test_every_backend_trains_and_predicts_the_same_model_checked_against_numpy(write_spec, tmp_path):
    for framework in ("jax", "torch", "tensorflow"):
        require_framework(framework)
    options = RunOptions(out_dir=tmp_path / "out", rounds=2, timer=TimerSettings.quick(),
                         selection=Selection(devices=["cpu"]))
    run(load_specs([write_spec(TINY)]), options)
    cells = {(c["workload"], c["framework"]): c for c in read_cells(tmp_path / "out")}
    assert {key: cell["status"] for key, cell in cells.items()} == {
        ("tiny_fit", "jax"): "ok", ("tiny_fit", "tensorflow"): "ok", ("tiny_fit", "torch"): "ok",
        ("tiny_fit", "numpy"): "skipped", ("tiny_predict", "jax"): "ok", ("tiny_predict", "tensorflow"): "ok",
        ("tiny_predict", "torch"): "ok", ("tiny_predict", "numpy"): "ok"}
    measured = [cell for cell in cells.values() if cell["status"] == "ok"]
    for cell in measured:
        assert cell["first_call_s"] > 0 and cell["median_s"] > 0 and cell["ci95_low_s"] <= cell["median_s"]
        assert cell["samples_per_s"] == pytest.approx(4 / cell["median_s"])
        assert cell["max_rel_err"] <= cell["tolerance"] == 1e-3
        assert cell["settings"]["worker_imports"]["keras_backend"] == cell["framework"]
    fits = [cell for cell in measured if cell["workload"] == "tiny_fit"]
    first_losses = {cell["framework"]: cell["loss_trajectory"][0] for cell in fits}
    assert max(first_losses.values()) - min(first_losses.values()) < 1e-3 * max(first_losses.values())
    # the same batch and the same initial weights in every worker (both workloads: one model, one seed)
    assert len({cell["inputs_sha256"] for cell in measured}) == 1
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    # a worker of its own per framework and round (numpy's too: it predicts), each saying which backend it is
    assert sorted((worker["framework"], worker["round"]) for worker in manifest["workers"]) == [
        (framework, number) for framework in ("jax", "numpy", "tensorflow", "torch") for number in (1, 2)]
    assert len(read_records(tmp_path / "out")) == 2 * 7 + 1  # seven measured cells in two rounds, one skipped


def test_keras_cells_get_a_worker_of_their_own_per_framework(write_spec):
    from fwbench.execution.groups import own_worker_kind
    from tests.conftest import SMALL_SPEC

    cells = plan_cells(load_specs([write_spec(TINY), write_spec(SMALL_SPEC, "small.yaml")]),
                       Selection(devices=["cpu"], frameworks=["jax"]))
    keras_cells = [cell for cell in cells if cell.workload.kind == "keras"]
    plain_cells = [cell for cell in cells if cell.workload.kind != "keras"]
    assert keras_cells and plain_cells
    assert own_worker_kind(keras_cells) == "keras"
    assert own_worker_kind(plain_cells) == "" and own_worker_kind(keras_cells + plain_cells) == ""


def test_tf32_matmuls_are_checked_at_the_loosened_tolerance_like_every_kind(write_spec):
    from fwbench.kinds.base import HIGH_PRECISION_TOLERANCE

    path = write_spec(TINY.replace("    task: fit\n", "    task: fit\n    matmul_precision: high\n"))
    high, highest = (get_kind_class("keras")(workload) for workload in load_spec(path).workloads)
    assert high.tolerance({}) == HIGH_PRECISION_TOLERANCE and highest.tolerance({}) == 1e-3
