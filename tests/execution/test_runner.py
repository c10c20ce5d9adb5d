"""Runs through real worker processes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.records.results import RESULTS_VERSION, read_records
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
from tests.conftest import SMALL_SPEC, require_framework, run_in_process

QUICK = TimerSettings.quick()


def run_spec(path, tmp_path, **selection):
    options = RunOptions(out_dir=tmp_path / "out", selection=Selection(devices=["cpu"], **selection), timer=QUICK)
    return run(load_specs([path]), options)


def test_records_are_complete_and_verified(write_spec, tmp_path):
    outcome = run_spec(write_spec(SMALL_SPEC), tmp_path, frameworks=["numpy"])
    records = read_records(tmp_path / "out")
    assert [r["cell_id"] for r in records] == ["power_sum[n=64]/numpy/eager/cpu", "power_sum[n=128]/numpy/eager/cpu"]
    record = records[0]
    assert record["version"] == RESULTS_VERSION
    assert record["status"] == "ok"
    assert record["run_id"] == outcome.run_id
    assert record["framework_version"]
    assert record["dtype"] == "float32"
    assert record["num_threads"] >= 1
    assert record["n_samples"] == len(record["samples_s"]) >= QUICK.min_samples
    assert record["ci95_low_s"] <= record["median_s"] <= record["ci95_high_s"]
    assert record["max_rel_err"] < 1e-6
    assert record["flops"] == 5 * 64 * 64
    assert record["gbytes_per_s"] == pytest.approx(2 * 4 * 64 * 64 / record["median_s"] / 1e9)
    settings = record["settings"]
    assert settings["sync_in_timed_region"] and settings["first_call_timed_apart"]
    assert settings["inputs_on_device_before_timing"]
    assert settings["num_threads"] == record["num_threads"]
    assert (tmp_path / "out" / "results.csv").exists()
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["workers"][0]["available"] is True


def test_wrong_implementation_is_a_visible_mismatch(write_spec, tmp_path, test_kinds):
    spec = write_spec(SMALL_SPEC.replace("kind: expression", "kind: fault\n    fault: wrong_result"))
    run_spec(spec, tmp_path, frameworks=["numpy"])
    records = read_records(tmp_path / "out")
    assert {r["status"] for r in records} == {"mismatch"}
    assert records[0]["max_rel_err"] == pytest.approx(0.01, rel=1e-3)
    assert "exceeds the tolerance" in records[0]["reason"]
    assert records[0]["median_s"] > 0  # still measured and reported


def test_an_exception_fails_only_its_cell(write_spec, tmp_path, test_kinds):
    spec = write_spec(SMALL_SPEC + """
  - name: broken
    kind: fault
    fault: raise
    expr: "x * 2"
    inputs:
      x: {shape: [8]}
""")
    run_spec(spec, tmp_path, frameworks=["numpy"])
    status = {r["workload"]: r["status"] for r in read_records(tmp_path / "out")}
    assert status == {"power_sum": "ok", "broken": "error"}
    broken = next(r for r in read_records(tmp_path / "out") if r["workload"] == "broken")
    assert broken["reason"] == "RuntimeError: injected failure"


def test_a_crashing_worker_fails_one_cell_and_a_fresh_worker_continues(write_spec, tmp_path, test_kinds):
    spec = write_spec("""
version: 1
workloads:
  - name: a_crash
    kind: fault
    fault: segfault
    expr: "x * 2"
    inputs:
      x: {shape: [8]}
  - name: b_fine
    kind: expression
    expr: "x * 2"
    inputs:
      x: {shape: [8]}
""")
    run_spec(spec, tmp_path, frameworks=["numpy"])
    records = {r["workload"]: r for r in read_records(tmp_path / "out")}
    assert records["a_crash"]["status"] == "error"
    assert "killed by signal SIGSEGV" in records["a_crash"]["reason"]
    assert records["b_fine"]["status"] == "ok"


def test_every_cell_runs_in_its_own_process_forked_from_the_worker(write_spec, tmp_path):
    # glibc raises its mmap and trim thresholds for good when a large block is freed: a cell that ran after
    # another in the same process would start in an allocator state no fresh script has.
    run_spec(write_spec(SMALL_SPEC), tmp_path, frameworks=["numpy"])
    records = read_records(tmp_path / "out")
    worker_pid = json.loads((tmp_path / "out" / "run.json").read_text())["workers"][0]["pid"]
    process_ids = [record["process_id"] for record in records]
    assert len(set(process_ids)) == len(records) == 2
    assert worker_pid not in process_ids
    allocator = records[0]["settings"]["allocator"]
    assert allocator["reference_made"] == "after timing"
    assert all(isinstance(record["page_faults_per_call"], float) for record in records)


def test_page_faults_are_counted_over_the_timed_calls_only(write_spec, monkeypatch):
    """The process's fault counter read when sampling starts and when it ends, over the timed calls."""
    import fwbench.worker.cells

    counter = {"faults": 0}

    def minor_page_faults():
        counter["faults"] += 600
        return counter["faults"]

    monkeypatch.setattr(fwbench.worker.cells, "minor_page_faults", minor_page_faults)
    record = run_in_process(write_spec(SMALL_SPEC), "numpy")[0]
    assert record["page_faults_per_call"] == pytest.approx(600 / (record["n_samples"] * record["n_loops"]))


def test_jax_compiles_in_the_first_call_and_never_in_a_timed_one():
    """JAX's own compile events, counted by the call they happen in: none when the adapter wraps the
    function, all in the first call (timed apart as first_call_s), none in warm-up or the samples."""
    require_framework("jax")
    import jax.monitoring
    from jax._src import monitoring

    from fwbench.adapters import get_adapter
    from fwbench.stats.sampler import measure
    from fwbench.stats.timing import TimerSettings

    adapter = get_adapter("jax")
    adapter.load(2)
    adapter.select_device("cpu")
    calls, compiles = {"made": 0}, []

    def listener(event, _duration, **_metadata):
        if event.startswith("/jax/core/compile/"):
            compiles.append(calls["made"])

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        x = adapter.to_device(np.random.default_rng(0).standard_normal((96, 96), dtype=np.float32))
        compiled = adapter.compile(lambda a: a + a * a + a * a * a, "jit")
        assert compiles == []  # wrapping compiles nothing: the first call does

        def call():
            calls["made"] += 1
            return compiled(x)

        measurement = measure(call, adapter.sync, TimerSettings.quick())
    finally:
        monitoring.unregister_event_duration_listener(listener)
    assert compiles and set(compiles) == {1}, compiles
    assert measurement.first_call_s is not None and calls["made"] > 1 + len(measurement.samples_s)


def test_the_parent_imports_no_framework(write_spec, tmp_path):
    code = f"""
import sys
from pathlib import Path
from fwbench.cli.common import spec_paths
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
import fwbench.cli
run(load_specs([{str(write_spec(SMALL_SPEC))!r}]),
    RunOptions(out_dir=Path({str(tmp_path / 'out')!r}), selection=Selection(frameworks=['numpy', 'jax'],
               quick=True, devices=['cpu']), timer=TimerSettings.quick()))
loaded = sorted(name for name in ('jax', 'torch', 'tensorflow', 'jaxlib') if name in sys.modules)
print('LOADED', loaded)
"""
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in output
    assert {r["status"] for r in read_records(tmp_path / "out")} == {"ok"}


@pytest.mark.slow
def test_every_torch_compile_cell_really_compiles(write_spec):
    """Dynamo falls back to eager after 8 recompiles of one code object; fwbench must not let it.  Ten cells
    in one process, and each one's run must add a graph to Dynamo's own count (a silent eager fallback
    adds none)."""
    require_framework("torch")
    expressions = ["x + 1", "x * 2", "x - 3", "exp(x)", "x * x", "x + x*x", "sin(x)", "cos(x)", "tanh(x)", "x / 2"]
    workloads = "".join(f"""
  - name: w{index}
    kind: expression
    expr: "{text}"
    inputs:
      x: {{shape: [64, 64]}}
""" for index, text in enumerate(expressions))
    spec = write_spec("version: 1\nworkloads:" + workloads)
    graphs_added = []

    def counting_graphs(run_cell):
        from torch._dynamo.utils import counters

        before = counters["stats"]["unique_graphs"]
        record = run_cell()
        graphs_added.append(counters["stats"]["unique_graphs"] - before)
        return record

    records = run_in_process(spec, "torch", modes=["compile"], around_cell=counting_graphs)
    assert len(records) == len(expressions)
    assert all(record["status"] == "ok" for record in records), [r.get("reason") for r in records]
    assert all(added >= 1 for added in graphs_added), graphs_added


@pytest.mark.slow
def test_interleave_gives_the_same_cells_with_turns_taken(write_spec, tmp_path):
    require_framework("jax")
    spec = write_spec(SMALL_SPEC)
    options = RunOptions(out_dir=tmp_path / "interleaved", interleave=True, timer=QUICK,
                         selection=Selection(devices=["cpu"], frameworks=["numpy", "jax"]))
    run(load_specs([spec]), options)
    interleaved = read_records(tmp_path / "interleaved")
    run_spec(spec, tmp_path, frameworks=["numpy", "jax"])
    assert sorted(r["cell_id"] for r in interleaved) == sorted(r["cell_id"] for r in read_records(tmp_path / "out"))
    assert all(r["status"] == "ok" for r in interleaved)
    # cells of one size finish before the next size starts, across both frameworks: turns were taken
    sizes = [r["params"]["n"] for r in interleaved]
    assert sizes == sorted(sizes)
    frameworks_first_size = {r["framework"] for r in interleaved if r["params"]["n"] == 64}
    assert frameworks_first_size == {"numpy", "jax"}
    manifest = json.loads((tmp_path / "interleaved" / "run.json").read_text())
    assert manifest["interleave"] is True and len(manifest["workers"]) == 2
    # each cell took its samples in turns, and the parent waited for the process before it to go quiet
    assert all(r["interleave_turns"] >= 1 and "SIGSTOP" in r["settings"]["interleave"] for r in interleaved)
    assert not any("prepared side by side" in r["settings"]["interleave"] for r in interleaved)  # first calls alone
    for record in interleaved:  # every turn recorded, so turns can be paired in time across series
        assert len(record["turn_starts_s"]) == len(record["turn_sample_counts"]) == record["interleave_turns"]
        assert sum(record["turn_sample_counts"]) == len(record["samples_s"])
        assert record["turn_starts_s"] == sorted(record["turn_starts_s"])
    # each cycle ran every turn's main thread on one core, the workers' cores in turn
    cores = sorted(os.sched_getaffinity(0))
    for record in interleaved:
        assert len(record["turn_cores"]) == record["interleave_turns"]
        assert set(record["turn_cores"]) <= set(cores)
        if len(cores) > 1 and len(record["turn_cores"]) > 1:
            assert all(first != second for first, second in zip(record["turn_cores"], record["turn_cores"][1:]))
    # NumPy's calling thread computes beside its pool, so its pool ran on the other cores; jax's pool does the work
    pool_note = "its other threads on the other cores"
    assert {r["framework"]: pool_note in r["settings"]["interleave"] for r in interleaved} == {
        "numpy": True, "jax": False}
    # the cross-core hand-off was probed before each size-round's turns, the same figure for all its cells
    if len(cores) > 1:
        by_size = {}
        for record in interleaved:
            by_size.setdefault((record["params"]["n"], record["round"]), set()).add(record["handoff_speedup"])
        assert all(len(found) == 1 and next(iter(found)) > 0 for found in by_size.values())
        assert manifest["handoff"]["size_rounds"] == len(by_size)
    else:
        assert not any("handoff_speedup" in record for record in interleaved) and "handoff" not in manifest


def test_a_plugin_kinds_own_fields_reach_the_record_under_extra(write_spec, tmp_path, test_kinds):
    spec = write_spec(SMALL_SPEC.replace("kind: expression", "kind: fault\n    fault: plugin_field"))
    run_spec(spec, tmp_path, frameworks=["numpy"])
    records = read_records(tmp_path / "out")
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert [r["extra"] for r in records] == [{"plugin_score": 64.0, "plugin_notes": {"kind": "fault"}},
                                             {"plugin_score": 128.0, "plugin_notes": {"kind": "fault"}}]
    assert "plugin_score" not in records[0]


def test_the_run_settings_reach_the_cells_without_changing_the_callers_specs(write_spec, tmp_path):
    from fwbench.execution.runner import with_run_settings

    specs = load_specs([write_spec(SMALL_SPEC)])
    options = RunOptions(out_dir=tmp_path / "out", allocator="fresh", cache="cold")
    settled, cells = with_run_settings(specs, None, options)
    assert [w.allocator for w in specs[0].workloads] == [None] and [w.cache for w in specs[0].workloads] == [None]
    assert [(w.allocator, w.cache) for w in settled[0].workloads] == [("fresh", "cold")]
    assert cells is None
    run(specs, RunOptions(out_dir=tmp_path / "out", allocator="fresh", timer=QUICK,
                          selection=Selection(frameworks=["numpy"], devices=["cpu"], filter_text="n=64")))
    assert specs[0].workloads[0].allocator is None  # the caller's spec is as it was
    assert [r["allocator_regime"] for r in read_records(tmp_path / "out")] == ["fresh"]


def test_rounds_with_the_same_cells_share_worker_starts_up_to_the_count_asked():
    from types import SimpleNamespace

    from fwbench.execution.runner import starts

    a, b = SimpleNamespace(cell_id="a"), SimpleNamespace(cell_id="b")
    pending = {1: [a, b], 2: [a, b], 3: [a, b], 4: [a, b], 5: [a, b]}
    assert [served for served, _ in starts(pending, {"a", "b"}, 2)] == [(1, 2), (3, 4), (5,)]
    assert [served for served, _ in starts(pending, {"a", "b"}, 1)] == [(1,), (2,), (3,), (4,), (5,)]
    # a resumed run: round 2 lacks a cell (written before the stop), round 4 is done; only like rounds in a row
    resumed = {1: [a, b], 2: [b], 3: [a, b], 5: [a, b]}
    assert [served for served, _ in starts(resumed, {"a", "b"}, 3)] == [(1,), (2,), (3,), (5,)]
    assert starts({1: [a]}, {"b"}, 2) == []  # nothing runnable: no start
