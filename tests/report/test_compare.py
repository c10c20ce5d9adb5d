"""compare on recorded runs: run directories written here (a line per cell and round, a run.json with the
machine probe), and hand-made noisy samples.  No test here times anything: real timings of a slowdown belong
to bench/compare_power.py."""

import json

import numpy as np
from typer.testing import CliRunner

from fwbench.cli import app
from fwbench.records.results import RESULTS_VERSION, records_to_frame
from fwbench.report.compare import compare_frames

runner = CliRunner()


def recorded_run(directory, seed, medians, rounds=3, noise=0.02, probe_s=0.05):
    """Write a run directory as ``fwbench run --rounds`` would: for every workload (its name -> its true
    median), a line per round whose ten samples scatter by ``noise`` around a round median that itself moves
    by ``noise`` from round to round; ``probe_s`` is the machine probe recorded in run.json."""
    rng = np.random.default_rng(seed)
    directory.mkdir()
    with open(directory / "results.jsonl", "w", encoding="utf-8") as handle:
        for round_number in range(1, rounds + 1):
            for workload, median in medians.items():
                round_median = median * float(np.exp(rng.normal(0, noise)))
                samples = sorted(float(value) for value in round_median * np.exp(rng.normal(0, noise, 10)))
                handle.write(json.dumps({
                    "version": RESULTS_VERSION, "run_id": directory.name, "round": round_number,
                    "cell_id": f"{workload}[-]/numpy/eager/cpu", "workload": workload, "kind": "expression",
                    "params": {}, "framework": "numpy", "framework_version": "2.0", "mode": "eager",
                    "device": "cpu", "dtype": "float32", "num_threads": 2, "method": "fwbench", "status": "ok",
                    "reason": None, "samples_s": samples, "median_s": float(np.median(samples)),
                    "process_id": 1000 * round_number + len(workload)}) + "\n")
    manifest = {"run_id": directory.name, "machine_noise": {"probe_median_s": probe_s, "probe_spread": 0.01}}
    (directory / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


def test_same_code_twice_is_no_change_and_50_percent_slower_is(tmp_path):
    base = recorded_run(tmp_path / "base", 1, {"steady": 0.002, "other": 0.002})
    again = recorded_run(tmp_path / "again", 2, {"steady": 0.002, "other": 0.002})
    slower = recorded_run(tmp_path / "slower", 3, {"steady": 0.003, "other": 0.002})

    same = runner.invoke(app, ["compare", str(base), str(again), "--threshold", "10%"])
    assert same.exit_code == 0, same.output
    assert "0 slower, 0 faster" in same.output
    assert "Resolution: the smallest slowdown a cell could be called is" in " ".join(same.output.split())

    worse = runner.invoke(app, ["compare", str(base), str(slower), "--threshold", "10%",
                                "--md", str(tmp_path / "worse.md")])
    assert worse.exit_code == 1, worse.output
    assert "1 slower, 0 faster" in worse.output
    markdown = (tmp_path / "worse.md").read_text()
    assert markdown.startswith("## fwbench compare: regressions")
    table = [line for line in markdown.splitlines() if line.startswith("| steady") or line.startswith("| other")]
    assert len(table) == 1, markdown  # the unchanged cell is not listed without --all
    assert table[0].startswith("| steady[-] numpy/eager cpu float32") and table[0].endswith("| slower |")
    ratio = float(table[0].split("|")[4].split()[0])
    assert 1.4 < ratio < 1.6
    can_call = float(table[0].split("|")[5].strip().rstrip("x"))  # the cell's resolution
    assert 1.1 <= can_call < ratio


def test_a_probe_that_says_the_machine_ran_slower_keeps_a_machine_wide_shift_unsure(tmp_path):
    """Every cell 30% slower with tight rounds: slower when the probes agree, unsure (exit 0) when NEW's
    probe ran 30% longer too, the case that failed CI when the machine itself slowed down under a real run."""
    workloads = {f"w{index}": 0.001 * (index + 1) for index in range(8)}
    base = recorded_run(tmp_path / "base", 4, workloads, noise=0.005)
    shifted = {name: 1.3 * median for name, median in workloads.items()}
    steady = recorded_run(tmp_path / "steady", 5, shifted, noise=0.005)
    drifted = recorded_run(tmp_path / "drifted", 5, shifted, noise=0.005, probe_s=0.065)
    called = runner.invoke(app, ["compare", str(base), str(steady)])
    assert called.exit_code == 1 and "8 slower" in called.output, called.output
    unsure = runner.invoke(app, ["compare", str(base), str(drifted)])
    assert unsure.exit_code == 0 and "0 slower" in unsure.output, unsure.output
    assert "1.300x as long" in unsure.output


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


def test_runs_in_different_allocator_regimes_or_kernels_are_warned_of():
    from fwbench.report.compare import environment_warnings

    haswell = {"kernels": {"gemm": {"kernel": "Haswell"}}, "kernel_environment": {"OPENBLAS_CORETYPE": "Haswell"}}
    skylake = {"kernels": {"gemm": {"kernel": "SkylakeX"}}, "kernel_environment": {}}
    base = records_to_frame([cell([1.0] * 3, allocator_regime="fresh", settings=haswell)])
    new = records_to_frame([cell([1.0] * 3, run_id="new", allocator_regime="steady", settings=skylake)])
    warnings = environment_warnings(base, new)
    assert "different allocator regimes: fresh vs steady" in warnings
    assert any(w.startswith("different kernels (settings.kernels)") for w in warnings)
    assert any(w.startswith("different kernel variables") for w in warnings)
    same = records_to_frame([cell([1.0] * 3, run_id="new", allocator_regime="fresh", settings=haswell)])
    assert environment_warnings(base, same) == []


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
    from fwbench.stats.ratios import between_run_variance, independent_parts

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
