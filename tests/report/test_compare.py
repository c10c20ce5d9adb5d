"""compare: real runs of a sleep-timed workload (stable), and hand-made noisy samples."""

import numpy as np
import pytest
from typer.testing import CliRunner

from fwbench.cli import app
from fwbench.plan import Selection
from fwbench.report.compare import compare_frames
from fwbench.results import records_to_frame
from fwbench.runner import RunOptions, run
from fwbench.spec.loader import load_specs
from fwbench.timing import TimerSettings
from tests.conftest import GEMM_SPEC

SLEEPY = """
version: 1
workloads:
  - name: steady
    kind: fault
    fault: sleep
    fault_seconds: {seconds}
    expr: "x * 2"
    inputs:
      x: {{shape: [8]}}
  - name: other
    kind: fault
    fault: sleep
    fault_seconds: 0.002
    expr: "x + 1"
    inputs:
      x: {{shape: [8]}}
"""
SETTINGS = TimerSettings(min_samples=10, max_samples=10, budget_s=5, min_sample_s=0.0, warmup_s=0.0)
runner = CliRunner()


def sleepy_run(write_spec, tmp_path, name, seconds, rounds=3):
    path = write_spec(SLEEPY.format(seconds=seconds), name=f"{name}.yaml")
    out = tmp_path / name
    run(load_specs([path]), RunOptions(out_dir=out, selection=Selection(frameworks=["numpy"], devices=["cpu"]),
                                       timer=SETTINGS, rounds=rounds))
    return out


def test_same_spec_twice_is_no_change_and_50_percent_slower_is(write_spec, tmp_path, test_kinds):
    base = sleepy_run(write_spec, tmp_path, "base", 0.002)
    again = sleepy_run(write_spec, tmp_path, "again", 0.002)
    slower = sleepy_run(write_spec, tmp_path, "slower", 0.003)

    same = runner.invoke(app, ["compare", str(base), str(again), "--threshold", "10%"])
    assert same.exit_code == 0, same.output
    assert "0 slower, 0 faster" in same.output

    worse = runner.invoke(app, ["compare", str(base), str(slower), "--threshold", "10%",
                                "--md", str(tmp_path / "worse.md")])
    assert worse.exit_code == 1, worse.output
    assert "1 slower, 0 faster" in worse.output
    markdown = (tmp_path / "worse.md").read_text()
    assert markdown.startswith("## fwbench compare: regressions")
    table = [line for line in markdown.splitlines() if line.startswith("| steady") or line.startswith("| other")]
    assert table[0].startswith("| steady[-] numpy/eager cpu float32") and table[0].endswith("| slower |")
    ratio = float(table[0].split("|")[4].split()[0])
    assert 1.3 < ratio < 1.7
    assert len(table) == 1 or not table[1].endswith(("| slower |", "| faster |"))


def cell(round_medians, run_id="base", spread=0.0, **extra):
    """A cell measured in len(round_medians) rounds (five samples around each round's median)."""
    samples, rounds = [], []
    for number, median in enumerate(round_medians, start=1):
        samples += [median * (1 + spread * k) for k in (-1, -0.5, 0, 0.5, 1)]
        rounds.append(number)
    record = {"workload": "w", "params": {"n": 1}, "framework": "numpy", "mode": "eager", "device": "cpu",
              "dtype": "float32", "status": "ok", "median_s": float(np.median(samples)), "samples_s": samples,
              "round_medians_s": list(round_medians), "round_numbers": rounds, "n_rounds": len(round_medians),
              "run_id": run_id, "num_threads": 2, "framework_version": "2.0"}
    record.update(extra)
    return record


def test_two_percent_slower_under_five_percent_noise_is_not_a_regression():
    rng = np.random.default_rng(7)
    base = records_to_frame([cell(np.exp(rng.normal(0, 0.05, 3)))])
    new = records_to_frame([cell(1.02 * np.exp(rng.normal(0, 0.05, 3)), run_id="new")])
    result = compare_frames(base, new, threshold=0.05)
    assert result.table["verdict"].tolist() == ["unsure"]
    assert "rounds per side" in result.table["reason"].iloc[0]


def test_rounds_that_disagree_cannot_call_a_regression():
    base = records_to_frame([cell([1.0, 0.5, 1.5])])
    new = records_to_frame([cell([1.1, 0.6, 1.9], run_id="new")])
    result = compare_frames(base, new, threshold=0.05)
    assert result.table["ratio"].iloc[0] > 1.05
    assert result.table["verdict"].tolist() == ["unsure"]


def test_a_cell_made_2x_slower_is_slower_even_with_three_samples_per_round():
    """The case a Mann-Whitney test on 3 samples against 3 can never flag (p >= 0.1)."""
    base = records_to_frame([cell([0.100, 0.102, 0.099]), dict(cell([1.0, 1.01, 0.99]), workload="v")])
    new = records_to_frame([cell([0.200, 0.204, 0.198], run_id="new"),
                            dict(cell([1.0, 0.995, 1.01], run_id="new"), workload="v")])
    result = compare_frames(base, new, threshold=0.05).table.set_index("workload")
    assert result.loc["w", "verdict"] == "slower"
    assert result.loc["w", "ratio_low"] > 1.5
    assert result.loc["v", "verdict"] == "same"


def test_one_round_on_each_side_is_unsure_and_says_how_to_decide():
    result = compare_frames(records_to_frame([cell([1.0])]), records_to_frame([cell([2.0], run_id="new")]))
    assert result.table["verdict"].tolist() == ["unsure"]
    assert "--rounds 3" in result.table["reason"].iloc[0]
    assert not result.failed() and result.failed(fail_on_unsure=True)


def test_one_round_against_three_uses_the_measured_side_s_spread():
    result = compare_frames(records_to_frame([cell([1.0, 1.01, 0.99])]), records_to_frame([cell([2.0], run_id="n")]))
    assert result.table["verdict"].tolist() == ["slower"]


def test_hundreds_of_unchanged_cells_raise_no_alarm_at_the_stated_rate():
    """Null runs: 300 cells, 3 rounds per side, 5% process-to-process noise.  The intervals are widened
    over the number of cells, so a false 'slower' or 'faster' anywhere happens in about alpha of the
    comparisons; per-cell 95% intervals would raise one in nearly every comparison."""
    rng = np.random.default_rng(2026)
    comparisons_with_an_alarm = 0
    for trial in range(20):
        base, new = [], []
        for index in range(300):
            truth = rng.uniform(1e-4, 1.0)
            base.append(dict(cell(truth * np.exp(rng.normal(0, 0.05, 3))), workload=f"w{index}"))
            new.append(dict(cell(truth * np.exp(rng.normal(0, 0.05, 3)), run_id="new"), workload=f"w{index}"))
        counts = compare_frames(records_to_frame(base), records_to_frame(new)).counts()
        comparisons_with_an_alarm += bool(counts["slower"] or counts["faster"])
    assert comparisons_with_an_alarm <= 2


def test_new_absent_and_environment_warnings():
    base = records_to_frame([cell([1.0] * 3, host={"hostname": "a", "cpu_model": "X"})])
    other = cell([1.0] * 3, run_id="new", host={"hostname": "b", "cpu_model": "X"}, framework_version="2.1")
    other["workload"] = "w2"
    result = compare_frames(base, records_to_frame([other]))
    assert sorted(result.table["verdict"]) == ["broken", "new"]  # the ok cell of BASE is absent from NEW
    broken = result.broken.iloc[0]
    assert (broken["workload"], broken["new_status"]) == (base["workload"].iloc[0], "absent")
    assert any("different host" in warning for warning in result.warnings)
    assert any("different numpy version" in warning for warning in result.warnings)


def test_bad_threshold_is_exit_2(tmp_path):
    result = runner.invoke(app, ["compare", str(tmp_path), str(tmp_path), "--threshold", "lots"])
    assert result.exit_code == 2
    assert "--threshold: got 'lots'" in result.output


def test_an_ok_cell_that_became_a_mismatch_fails_the_gate_and_comes_first(tmp_path):
    import json

    def write(directory, records):
        directory.mkdir()
        with open(directory / "results.jsonl", "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")

    good = cell([1.0], version=1, cell_id="w[n=1]/numpy/eager/cpu")
    other = dict(cell([2.0], version=1), workload="w2", cell_id="w2[n=1]/numpy/eager/cpu")
    broken = dict(good, status="mismatch", reason="max relative error 0.5 exceeds the tolerance 0.0001")
    write(tmp_path / "base", [good, other])
    write(tmp_path / "new", [broken, other])
    result = runner.invoke(app, ["compare", str(tmp_path / "base"), str(tmp_path / "new"),
                                 "--md", str(tmp_path / "out.md")])
    assert result.exit_code == 1, result.output
    assert "1 broken" in result.output
    table_rows = [line for line in (tmp_path / "out.md").read_text().splitlines() if line.startswith("| w")]
    assert "broken: max relative error 0.5" in table_rows[0] and "| mismatch |" in table_rows[0]
    assert table_rows[1].startswith("| w2[n=1]") and "unsure" in table_rows[1]


def test_a_machine_that_ran_slower_widens_every_interval_by_its_probe():
    """Twelve cells all 15% slower with tight rounds: slower when the machine probe ran as fast as before,
    unsure when the probe says the machine itself ran 15% slower."""
    base = [dict(cell([1.0, 1.002, 0.998]), workload=f"w{i}") for i in range(12)]
    new = [dict(cell([1.15, 1.152, 1.148], run_id="new"), workload=f"w{i}") for i in range(12)]
    steady = compare_frames(records_to_frame(base), records_to_frame(new), machine_ratio=1.0).counts()
    assert steady["slower"] == 12
    drifted = compare_frames(records_to_frame(base), records_to_frame(new), machine_ratio=1.15)
    assert drifted.counts()["slower"] == 0 and drifted.counts()["unsure"] == 12
    assert "compare runs measured back to back" in drifted.table["reason"].iloc[0]


def test_between_run_spread_is_estimated_from_the_cells_and_ignores_a_few_changed_ones():
    from fwbench.ratios import between_run_variance, independent_parts

    rng = np.random.default_rng(5)
    parts = []
    for index in range(200):
        change = 2.0 if index < 10 else 1.0  # ten real changes among 200 cells
        base = cell(np.exp(rng.normal(0, 0.01, 3)))
        new = cell(change * np.exp(rng.normal(0, 0.01, 3) + rng.normal(0, 0.05)), run_id="new")
        parts.append(independent_parts(new, base))
    spread = np.sqrt(between_run_variance(parts))
    assert 0.035 < spread < 0.07  # the 5% per-cell shift between runs that the rounds cannot see
    assert between_run_variance(parts[:5]) == 0.0  # too few cells to estimate it


GEMM = GEMM_SPEC.format(n=1024)


@pytest.mark.slow
def test_one_thread_against_two_at_a_gemm_of_1024_is_slower(write_spec, tmp_path):
    spec = write_spec(GEMM, name="gemm.yaml")
    runs = {}
    for threads in (2, 1):
        runs[threads] = tmp_path / f"threads{threads}"
        # Five rounds: now and then one process runs the GEMM at half speed, and with three rounds such a
        # round alone leaves the cell unsure; with five, one odd round still leaves the change decided.
        run(load_specs([spec]), RunOptions(out_dir=runs[threads], num_threads=threads, rounds=5,
                                           selection=Selection(frameworks=["numpy", "torch"], devices=["cpu"],
                                                               modes=["eager"]),
                                           timer=TimerSettings(budget_s=0.6, min_samples=5)))
    result = runner.invoke(app, ["compare", str(runs[2]), str(runs[1]), "--md", str(tmp_path / "threads.md")])
    markdown = (tmp_path / "threads.md").read_text()
    assert result.exit_code == 1, markdown
    assert "different thread counts" in result.output
    rows = [line for line in markdown.splitlines() if line.startswith("| gemm")]
    assert len(rows) == 2 and all(row.endswith("| slower |") for row in rows), markdown
