"""Rounds of fresh workers (order rotating, intervals over rounds) and one writer per run directory."""

import json
import subprocess
import sys
import time

import pytest

from fwbench.errors import UserError
from fwbench.execution import rotated
from fwbench.execution.lock import RunDirectoryLock
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, round_timer, run
from fwbench.execution.worker_process import WORKER_COMMAND
from fwbench.records.results import RESULTS_FILE, read_cells, read_records
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
from tests.conftest import SMALL_SPEC, require_framework


def test_the_order_rotates_so_every_group_takes_every_turn():
    groups = ["numpy", "jax", "torch"]
    orders = [rotated(groups, round_index) for round_index in (1, 2, 3)]
    assert orders == [["numpy", "jax", "torch"], ["jax", "torch", "numpy"], ["torch", "numpy", "jax"]]
    assert [order[0] for order in orders] == groups  # each group goes first once


def test_each_round_samples_its_share_of_the_budget():
    timer = TimerSettings(budget_s=1.5, min_samples=5)
    assert round_timer(timer, 3).budget_s == pytest.approx(0.5)
    assert round_timer(timer, 3).min_samples == 3
    assert round_timer(timer, 1) == timer


@pytest.mark.slow
def test_a_run_of_three_rounds_writes_a_line_per_round_and_combines_them(write_spec, tmp_path):
    require_framework("jax")
    options = RunOptions(out_dir=tmp_path / "out", rounds=3, timer=TimerSettings.quick(),
                         selection=Selection(devices=["cpu"], frameworks=["numpy", "jax"],
                                             modes=["numpy/eager", "jax/jit"]))
    outcome = run(load_specs([write_spec(SMALL_SPEC)]), options)
    lines = read_records(tmp_path / "out")
    assert sorted({line["round"] for line in lines}) == [1, 2, 3]
    assert len(lines) == 3 * len(outcome.records) == 3 * 4
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    orders = [entry["order"] for entry in manifest["rounds"]]
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])  # the order changed, not the set
    probes = [entry["machine_probe_s"] for entry in manifest["rounds"]]
    assert len(probes) == 3 and all(probe > 0 for probe in probes)
    noise = manifest["machine_noise"]
    assert noise["probe_spread"] == pytest.approx(max(probes) / min(probes) - 1)
    assert noise["probe_median_s"] == pytest.approx(sorted(probes)[1])
    for cell in read_cells(tmp_path / "out"):
        assert cell["status"] == "ok" and cell["n_rounds"] == 3
        assert sorted(set(cell["samples_round"])) == [1, 2, 3]
        assert len(cell["round_medians_s"]) == 3
        assert cell["ci_method"] == "t prediction over rounds"
        assert cell["ci95_low_s"] <= cell["median_s"] <= cell["ci95_high_s"]
        assert len(set(cell["process_ids"])) == 3  # three processes


def test_a_mismatch_in_any_round_is_the_cells_status():
    base = {"cell_id": "c", "status": "ok", "samples_s": [1.0, 1.1, 0.9], "median_s": 1.0}
    from fwbench.records.combine import combine_rounds

    (cell,) = combine_rounds([dict(base, round=1), dict(base, round=2, status="mismatch", reason="off"),
                              dict(base, round=3)])
    assert cell["status"] == "mismatch" and cell["reason"] == "off"


def test_a_second_writer_is_refused_and_names_the_first(tmp_path):
    with RunDirectoryLock(tmp_path / "run", ["fwbench", "run", "--out", "run"]):
        with pytest.raises(UserError, match=r"being written by another fwbench run \(process \d+"):
            RunDirectoryLock(tmp_path / "run").acquire()
    with RunDirectoryLock(tmp_path / "run"):  # released: the next run may write
        pass


@pytest.mark.slow
def test_a_concurrent_fwbench_run_exits_2_and_adds_no_records(write_spec, tmp_path):
    import os

    from tests.execution.test_faults import gated_spec

    gate = tmp_path / "gate"  # the first run's third cell waits for it: the first run is surely still going
    spec = write_spec(gated_spec(gate))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "fwbench", "run", str(spec), "--framework", "numpy", "--device", "cpu",
               "--no-calibrate", "--rounds", "2", "--quick", "--out", str(out)]
    environment = dict(os.environ, FWBENCH_ENABLE_TEST_KINDS="1")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    deadline = time.monotonic() + 60
    while not (out / RESULTS_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(command[:-1] + [str(out), "--overwrite"], capture_output=True, text=True, timeout=120,
                            env=environment)
    assert second.returncode == 2, second.stderr
    assert f"process {first.pid}" in second.stderr
    gate.touch()
    first.communicate(timeout=300)
    assert first.returncode == 0
    lines = read_records(out)
    assert len(lines) == len({(line["cell_id"], line["round"]) for line in lines}) == 8 * 2


WORKER_STAND_INS = {
    # named like a worker
    "named": (["bash", "-c", "(exec -a fwbench.worker sleep 30) & wait"], "^fwbench.worker 30"),
    # the command line the runner starts workers with (WORKER_COMMAND), sleeping before it would import
    "started": (["bash", "-c", '("$0" -c "import time; time.sleep(30); $1") & wait', sys.executable,
                 WORKER_COMMAND[2]], "time.sleep.30.; import sys; from fwbench.worker"),
}


@pytest.mark.parametrize("stand_in_name", sorted(WORKER_STAND_INS))
def test_another_fwbench_process_makes_the_machine_busy(stand_in_name):
    import re

    from fwbench.machine.envinfo import machine_busy_reasons, other_fwbench_processes

    def stand_ins() -> list[int]:
        # only this test's stand-in: other tests may run fwbench beside this one (pytest -n)
        return [pid for pid, command in other_fwbench_processes() if re.search(pattern, command)]

    # A stand-in whose parent is not this process (as another run's worker would be).
    command, pattern = WORKER_STAND_INS[stand_in_name]
    stand_in = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 10
        while not stand_ins() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stand_ins(), other_fwbench_processes()
        reasons = machine_busy_reasons()
        assert any("other fwbench process" in reason for reason in reasons), reasons
    finally:
        subprocess.run(["pkill", "-f", pattern], check=False)
        stand_in.wait(timeout=10)
    assert stand_ins() == []


@pytest.mark.slow
def test_later_rounds_of_torch_compile_inherit_inductors_isa_probe_from_the_worker(write_spec, tmp_path):
    require_framework("torch")
    spec = write_spec("version: 1\nworkloads:\n  - name: w\n    kind: expression\n    expr: \"x * x\"\n"
                      "    inputs:\n      x: {shape: [64]}\n")
    options = RunOptions(out_dir=tmp_path / "out", rounds=2, timer=TimerSettings.quick(),
                         selection=Selection(frameworks=["torch"], modes=["compile"], devices=["cpu"]))
    run(load_specs([spec]), options)
    records = sorted(read_records(tmp_path / "out"), key=lambda record: record["round"])
    assert [record["status"] for record in records] == ["ok", "ok"]
    assert "worker_warmed" not in records[0]["settings"]  # round 1's first call is a fresh script's
    assert records[1]["settings"]["worker_warmed"]["inductor_vector_isa_probed_in_worker"]


def _round_record(round_number: int, median: float, other_cores: float | None, threshold: float | None = 0.5) -> dict:
    return {"cell_id": "power_sum[n=64]/numpy/eager/cpu", "run_id": "r", "framework": "numpy", "mode": "eager",
            "device": "cpu", "method": "fwbench", "status": "ok", "round": round_number, "median_s": median,
            "samples_s": [median * 0.99, median, median * 1.01], "other_cpu_cores": other_cores,
            "settings": {"contended_cores": threshold}}


def test_a_round_sampled_while_other_processes_took_cpu_is_set_apart_with_the_reason():
    """The threshold is the one the run recorded in its rows, whatever the reader's environment says."""
    from fwbench.records.combine import combine_rounds

    (cell,) = combine_rounds([_round_record(1, 1.0, 0.02), _round_record(2, 1.3, 0.95), _round_record(3, 1.02, 0.0),
                              _round_record(4, 0.98, 0.01)])
    assert cell["round_numbers"] == [1, 3, 4]
    assert [entry["round"] for entry in cell["excluded_rounds"]] == [2]
    assert ("0.95 of a core" in cell["excluded_rounds"][0]["reason"]
            and cell["excluded_rounds"][0]["cause"] == "contended")
    assert cell["median_s"] == pytest.approx(1.0)  # the samples of round 2 count in nothing
    assert cell["other_cpu_cores_by_round"] == [0.02, 0.0, 0.01]
    # Two rounds stay: with two, a contended round is kept (and its cores stay visible)
    (pair,) = combine_rounds([_round_record(1, 1.0, 0.02), _round_record(2, 1.3, 0.95)])
    assert pair["round_numbers"] == [1, 2] and "excluded_rounds" not in pair
    assert pair["other_cpu_cores_by_round"] == [0.02, 0.95]
    # a run made with the measure off (the test suite's setting), or before it existed: nothing set apart
    for threshold in (None, "absent"):
        records = [_round_record(1, 1.0, 0.02, threshold), _round_record(2, 1.3, 0.95, threshold),
                   _round_record(3, 1.02, 0.0, threshold)]
        if threshold == "absent":
            records = [dict(record, settings={}) for record in records]
        (kept,) = combine_rounds(records)
        assert kept["round_numbers"] == [1, 2, 3] and "excluded_rounds" not in kept


@pytest.mark.slow
def test_cells_sampled_beside_a_busy_process_run_once_more_and_their_busy_rounds_are_set_apart(write_spec, tmp_path,
                                                                                              monkeypatch):
    """A process spinning on one core for the whole run: every round of every cell reads it, so each cell runs
    a fourth round at the end, and two of its rounds are set apart with the reason (two must remain)."""
    monkeypatch.setenv("FWBENCH_CONTENDED_CORES", "0.5")
    spinner = subprocess.Popen([sys.executable, "-c",
                                "import time\nend = time.time() + 120\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.2)
        # warm-up and sampling of about 0.5 s a round (no early stop): long enough for /proc/stat's ticks
        timer = TimerSettings(budget_s=0.9, target_rel_ci=0.0, min_samples=3, warmup_s=0.1, max_warmup_s=0.1,
                              min_sample_s=0.002)
        options = RunOptions(out_dir=tmp_path / "out", rounds=3, timer=timer,
                             selection=Selection(devices=["cpu"], frameworks=["numpy"]))
        run(load_specs([write_spec(SMALL_SPEC)]), options)
    finally:
        spinner.kill()
        spinner.wait()
    lines = read_records(tmp_path / "out")
    assert sorted({line["round"] for line in lines}) == [1, 2, 3, 4]
    assert all(line["other_cpu_cores"] >= 0.5 for line in lines)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["repeated"]["round"] == 4 and len(manifest["repeated"]["cells"]) == 2
    assert all(line["settings"]["contended_cores"] == 0.5 for line in lines)
    assert manifest["rounds"][-1]["repeat"] is True
    for cell in read_cells(tmp_path / "out"):
        assert cell["n_rounds"] == 4 and len(cell["round_numbers"]) == 2
        assert len(cell["excluded_rounds"]) == 2
        assert all("of a core on average while it was timed" in entry["reason"] for entry in cell["excluded_rounds"])


def test_resuming_repeats_what_an_earlier_session_found_contended_and_did_not_repeat(write_spec, tmp_path):
    from fwbench.execution.plan import plan_cells
    from fwbench.execution.runner import _contended_before
    from fwbench.records.results import RESULTS_FILE, RESULTS_VERSION

    cells = plan_cells(load_specs([write_spec(SMALL_SPEC)]), Selection(devices=["cpu"], frameworks=["numpy"]))
    first, second = (cell.cell_id for cell in cells)
    out = tmp_path / "out"
    out.mkdir()
    lines = [{"cell_id": first, "round": 2, "status": "ok", "other_cpu_cores": 0.9},
             {"cell_id": second, "round": 1, "status": "ok", "other_cpu_cores": 0.8},
             {"cell_id": second, "round": 4, "status": "ok", "other_cpu_cores": 0.0},  # already repeated
             {"cell_id": first, "round": 3, "status": "ok", "other_cpu_cores": 0.1}]
    (out / RESULTS_FILE).write_text("".join(json.dumps(dict(line, version=RESULTS_VERSION)) + "\n" for line in lines))
    options = RunOptions(out_dir=out, rounds=3)
    assert list(_contended_before(options, cells, 0.5)) == [first]
    assert _contended_before(options, cells, None) == {}
