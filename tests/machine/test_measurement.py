"""Issue 6: outliers, convergence, roofline bounds, memory figures, calibration storage and reuse."""

import json
import os
import subprocess
import sys

import pytest

from fwbench.adapters import installed_versions
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.machine.calibration import load_calibration, summarise
from fwbench.machine.roofline import roofline_fields
from fwbench.records.results import read_records
from fwbench.spec.loader import load_specs
from fwbench.stats.sampler import measure
from fwbench.stats.timing import TimerSettings, mad_outliers
from tests.conftest import REPO_ROOT


def test_mad_rule_flags_only_the_outlier():
    samples = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00, 1.01, 3.0]
    assert mad_outliers(samples) == [7]
    assert mad_outliers([1.0, 1.01, 0.99, 1.0, 1.02]) == []


def test_convergence_flag():
    clock = {"now": 0.0}
    steady = measure(lambda: clock.__setitem__("now", clock["now"] + 0.01), None,
                     TimerSettings(budget_s=1.0), clock=lambda: clock["now"])
    assert steady.converged
    counter = {"i": 0}

    def noisy():
        counter["i"] += 1
        clock["now"] += 0.01 * (1 + (counter["i"] % 5))

    wobbly = measure(noisy, None, TimerSettings(budget_s=1.0), clock=lambda: clock["now"])
    assert not wobbly.converged


CALIBRATION = {"devices": {"cpu": {"copy_gbytes_per_s": 10.0, "gemm_gflops_per_s": {"float32": 100.0}}}}


@pytest.mark.parametrize("flops, fused_bytes, expected", [
    (5 * 10**6, 8 * 10**6, "memory"),         # power sum: 0.6 FLOP/byte, ridge at 10 FLOP/byte
    (2 * 1024**3, 3 * 4 * 1024**2, "compute"),  # GEMM n=1024: 170 FLOP/byte
])
def test_roofline_classification(flops, fused_bytes, expected):
    record = {"status": "ok", "device": "cpu", "dtype": "float32", "flops": flops, "fused_bytes": fused_bytes,
              "gbytes_per_s": 5.0, "gflops_per_s": 50.0}
    fields = roofline_fields(record, CALIBRATION)
    assert fields["bound"] == expected
    assert fields["pct_of_bandwidth_peak"] == pytest.approx(50.0)
    assert fields["pct_of_compute_peak"] == pytest.approx(50.0)
    assert roofline_fields(record, None) == {}


def test_calibration_summary_takes_the_best_framework():
    records = [
        {"status": "ok", "device": "cpu", "workload": "calibrate_scale", "framework": "numpy", "mode": "eager",
         "gbytes_per_s": 8.0},
        {"status": "ok", "device": "cpu", "workload": "calibrate_scale", "framework": "jax", "mode": "jit",
         "gbytes_per_s": 9.5},
        {"status": "ok", "device": "cpu", "workload": "calibrate_gemm_float32", "framework": "torch",
         "mode": "eager", "dtype": "float32", "gflops_per_s": 120.0},
    ]
    devices = summarise(records)
    assert devices["cpu"]["copy_gbytes_per_s"] == 9.5 and devices["cpu"]["best"]["copy_gbytes_per_s"] == "jax/jit"
    assert devices["cpu"]["gemm_gflops_per_s"] == {"float32": 120.0}


@pytest.mark.slow
def test_a_cell_allocating_400_mb_shows_at_least_that(write_spec, tmp_path):
    spec = write_spec("""
version: 1
workloads:
  - name: big
    kind: expression
    expr: "x * 2"
    inputs:
      x: {shape: [10000, 10000]}
""")
    run(load_specs([spec]), RunOptions(out_dir=tmp_path / "out", timer=TimerSettings.quick(),
                                       selection=Selection(frameworks=["numpy"], devices=["cpu"])))
    (record,) = read_records(tmp_path / "out")
    assert record["status"] == "ok"
    # the 400 MB input, its device copy and each 400 MB output are all resident during the cell
    assert record["peak_host_bytes"] >= 400e6 * 2
    assert record["peak_device_bytes"] is None  # NumPy has no device allocator


@pytest.mark.slow
def test_calibrate_measures_once_then_reuses(tmp_path):
    environment = dict(os.environ, FWBENCH_CACHE_DIR=str(tmp_path), PYTHONPATH=str(REPO_ROOT))
    first = subprocess.run([sys.executable, "-m", "fwbench", "calibrate", "--json"], capture_output=True, text=True,
                           env=environment, cwd=REPO_ROOT, timeout=600)
    assert first.returncode == 0, first.stderr
    measured = json.loads(first.stdout)
    assert measured["reused"] is False
    cpu = measured["devices"]["cpu"]
    assert cpu["copy_gbytes_per_s"] > 0 and cpu["gemm_gflops_per_s"]["float32"] > 0
    second = subprocess.run([sys.executable, "-m", "fwbench", "calibrate", "--json"], capture_output=True,
                            text=True, env=environment, cwd=REPO_ROOT, timeout=120)
    assert second.returncode == 0, second.stderr
    reused = json.loads(second.stdout)
    # no measurement, only a lookup: the stored values come back as they were, with the same timestamp
    assert reused["reused"] is True and reused["measured_at"] == measured["measured_at"]
    assert reused["devices"]["cpu"] == cpu
    os.environ["FWBENCH_CACHE_DIR"], saved = str(tmp_path), os.environ.get("FWBENCH_CACHE_DIR")
    try:
        assert load_calibration(measured["num_threads"], installed_versions())["devices"]["cpu"] == cpu
    finally:
        if saved is None:
            del os.environ["FWBENCH_CACHE_DIR"]
        else:
            os.environ["FWBENCH_CACHE_DIR"] = saved
