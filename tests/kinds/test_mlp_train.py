"""MLP training: the same start in every framework, and loss trajectories that match NumPy float64."""

import hashlib

import numpy as np
import pytest

from fwbench.adapters import FRAMEWORKS, get_adapter
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.kinds import get_kind_class
from fwbench.records.results import read_records
from fwbench.spec.loader import load_spec, load_specs
from fwbench.stats.timing import TimerSettings
from fwbench.worker.cache import inputs_digest
from tests.conftest import require_framework, run_in_process

SPEC = """
version: 1
workloads:
  - name: mlp_adam
    kind: mlp_train
    layers: [12, 16, 16, 4]
    batch: 8
    optimizer: adam
    learning_rate: 0.01
    steps: 6
  - name: mlp_sgd_regression
    kind: mlp_train
    layers: [6, 10, 3]
    activation: tanh
    task: regression
    optimizer: sgd
    learning_rate: 0.05
    batch: 5
    steps: 6
"""


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_loss_trajectory_matches_reference(write_spec, framework):
    records = run_in_process(write_spec(SPEC), framework)
    assert {(r["workload"], r["mode"]) for r in records} == {
        (w, m) for w in ("mlp_adam", "mlp_sgd_regression") for m in get_adapter(framework).MODES}
    for record in records:
        assert record["status"] == "ok", (record["cell_id"], record.get("reason"), record.get("traceback"))
        assert len(record["loss_trajectory"]) == 6
        assert record["loss_trajectory"][0] > record["loss_trajectory"][-1]  # it learns
        assert record["steps_taken"] >= 6
        assert record["samples_per_s"] == pytest.approx(record["batch_size"] / record["median_s"])


def test_a_wrong_optimizer_is_a_mismatch(write_spec):
    spec_path = write_spec(SPEC)
    kind_class = get_kind_class("mlp_train")
    workload = load_spec(spec_path).workloads[0]
    kind = kind_class(workload)
    inputs = kind.make_inputs({}, workload.seed)
    reference = kind.reference({}, inputs)
    workload.options = dict(workload.options, learning_rate=0.02)  # double the step size
    adapter = get_adapter("numpy")
    adapter.load(1)
    call = kind_class(workload).build({}, "numpy", "eager", adapter, [a.copy() for a in inputs])
    call()
    check = kind_class(workload).check({}, adapter, call, None, reference)
    assert not check.ok and check.max_rel_err > check.tolerance


@pytest.mark.slow
def test_initial_weights_and_batches_are_identical_in_every_worker(write_spec, tmp_path):
    """Each framework's worker process hashes the host arrays it received: all hashes agree."""
    for framework in FRAMEWORKS:
        require_framework(framework)
    path = write_spec(SPEC)
    options = RunOptions(out_dir=tmp_path / "out", selection=Selection(devices=["cpu"], filter_text="mlp_adam"),
                         timer=TimerSettings.quick())
    run(load_specs([path]), options)
    records = read_records(tmp_path / "out")
    assert {r["framework"] for r in records} == set(FRAMEWORKS)
    assert all(r["status"] == "ok" for r in records), [r.get("reason") for r in records]
    workload = load_spec(path).workloads[0]
    inputs = get_kind_class("mlp_train")(workload).make_inputs({}, workload.seed)
    assert all(a.dtype == np.float32 for a in inputs)
    expected = inputs_digest(inputs)
    assert {r["inputs_sha256"] for r in records} == {expected}
    # and the arrays themselves: features, targets, then W1, b1, W2, b2, W3, b3
    assert [a.shape for a in inputs] == [(4, 8, 12), (4, 8, 4), (12, 16), (16,), (16, 16), (16,), (16, 4), (4,)]
    assert hashlib.sha256(inputs[2].tobytes()).hexdigest() == hashlib.sha256(
        get_kind_class("mlp_train")(workload).make_inputs({}, workload.seed)[2].tobytes()).hexdigest()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_device_copy_of_the_weights_is_bit_identical(write_spec, framework):
    require_framework(framework)
    workload = load_spec(write_spec(SPEC)).workloads[0]
    inputs = get_kind_class("mlp_train")(workload).make_inputs({}, workload.seed)
    adapter = get_adapter(framework)
    adapter.load(2)
    adapter.select_device("cpu")
    for array in inputs:
        back = adapter.to_host(adapter.to_device(array))
        assert back.dtype == array.dtype and back.tobytes() == array.tobytes()


def test_high_matmul_precision_loosens_the_loss_tolerance_to_that_of_tf32(write_spec):
    from fwbench.kinds.base import HIGH_PRECISION_TOLERANCE
    from fwbench.kinds.mlp_train import LOSS_TOLERANCES

    path = write_spec(SPEC.replace("    steps: 6\n  - name: mlp_sgd", "    steps: 6\n    matmul_precision: high\n"
                                                                    "  - name: mlp_sgd", 1))
    high, highest = (get_kind_class("mlp_train")(workload) for workload in load_spec(path).workloads)
    assert high.tolerance({}) == max(LOSS_TOLERANCES["float32"], HIGH_PRECISION_TOLERANCE)
    assert highest.tolerance({}) == LOSS_TOLERANCES["float32"]
