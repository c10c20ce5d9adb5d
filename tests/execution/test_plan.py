from fwbench.adapters import base as adapter_base
from fwbench.execution.plan import Selection, plan_cells
from fwbench.spec.loader import load_spec
from tests.conftest import SMALL_SPEC


def test_all_eight_framework_mode_pairs(write_spec):
    cells = plan_cells([load_spec(write_spec(SMALL_SPEC))], Selection(devices=["cpu"]))
    pairs = {(c.framework, c.mode) for c in cells}
    assert pairs == {("numpy", "eager"), ("jax", "eager"), ("jax", "jit"), ("torch", "eager"),
                     ("torch", "compile"), ("tensorflow", "eager"), ("tensorflow", "function"),
                     ("tensorflow", "xla")}
    assert len(cells) == 8 * 2
    # grouped by framework so each worker starts once
    frameworks = [c.framework for c in cells]
    assert frameworks == sorted(frameworks, key=["numpy", "jax", "torch", "tensorflow"].index)


def test_selection_and_quick(write_spec):
    spec = load_spec(write_spec(SMALL_SPEC))
    cells = plan_cells([spec], Selection(frameworks=["jax"], modes=["jit"], quick=True, devices=["cpu"]))
    assert [c.cell_id for c in cells] == ["power_sum[n=64]/jax/jit/cpu"]
    cells = plan_cells([spec], Selection(modes=["torch/compile"], devices=["cpu"]))
    assert {(c.framework, c.mode) for c in cells} == {("torch", "compile")}
    cells = plan_cells([spec], Selection(filter_text="n=128]/numpy", devices=["cpu"]))
    assert [c.cell_id for c in cells] == ["power_sum[n=128]/numpy/eager/cpu"]


def test_skip_reasons(write_spec, monkeypatch):
    monkeypatch.setenv("FWBENCH_DEVICES", "cpu")
    spec = load_spec(write_spec(SMALL_SPEC.replace("sweep:", "modes: [jit]\n    sweep:")))
    cells = plan_cells([spec], Selection(devices=["cpu", "gpu"], frameworks=["numpy", "jax"]))
    reasons = {c.cell_id: c.skip_reason for c in cells}
    assert reasons["power_sum[n=64]/jax/jit/cpu"] is None
    assert reasons["power_sum[n=64]/jax/jit/gpu"].startswith("device absent: this host has no gpu")
    assert reasons["power_sum[n=64]/numpy/jit/cpu"] == "mode unsupported: numpy has modes eager"


def test_framework_not_installed_is_a_skip_not_a_crash(write_spec, monkeypatch):
    jax_adapter = adapter_base.get_adapter("jax")
    monkeypatch.setattr(jax_adapter, "IMPORT_NAME", "jax_that_is_not_installed")
    cells = plan_cells([load_spec(write_spec(SMALL_SPEC))], Selection(frameworks=["jax"], devices=["cpu"]))
    assert cells and all(c.skip_reason.startswith("unavailable: package 'jax_that_is_not_installed' is not "
                                                  "installed (pip install 'fwbench[jax]')") for c in cells)


def test_too_large_cells_are_skipped_with_the_estimate(write_spec):
    spec = load_spec(write_spec(SMALL_SPEC.replace("[64, 128]", "[64, 60000]")))
    cells = plan_cells([spec], Selection(frameworks=["numpy"], devices=["cpu"]))
    big = next(c for c in cells if c.params["n"] == 60000)
    assert big.skip_reason.startswith("too large: needs about")
    assert "GiB of host memory" in big.skip_reason


def test_replicas_add_copies_of_every_runnable_series_as_series_of_their_own(write_spec):
    from fwbench.records.results import base_record, records_to_frame
    from fwbench.report.aggregate import prepare
    from fwbench.stats.paired import series_name

    spec = load_spec(write_spec(SMALL_SPEC))
    single = plan_cells([spec], Selection(devices=["cpu", "tpu"], frameworks=["numpy"]))
    doubled = plan_cells([spec], Selection(devices=["cpu", "tpu"], frameworks=["numpy"], replicas=2))
    runnable = [cell for cell in single if cell.skip_reason is None]
    assert len(doubled) == len(single) + len(runnable)  # skipped cells are not copied
    copies = [cell for cell in doubled if cell.replica == 2]
    assert [cell.cell_id for cell in copies] == [cell.cell_id.replace("/cpu", "/cpu#2") for cell in runnable]
    assert doubled.index(copies[0]) == doubled.index(next(c for c in doubled if c.cell_id == runnable[0].cell_id)) + 1
    record = base_record(copies[0].to_dict(), copies[0].workload.to_dict(), {"run_id": "r", "num_threads": 2})
    assert record["replica"] == 2 and series_name(dict(record, mode="eager")) == "numpy/eager#2"
    original = base_record(runnable[0].to_dict(), runnable[0].workload.to_dict(), {"run_id": "r", "num_threads": 2})
    assert "replica" not in original  # records of ordinary runs are unchanged
    frame = prepare(records_to_frame([dict(original, status="ok", median_s=1.0), dict(record, status="ok",
                                                                                        median_s=1.0)]))
    assert sorted(frame["series"]) == ["numpy/eager", "numpy/eager#2"]
