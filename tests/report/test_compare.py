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
SETTINGS = TimerSettings(min_samples=15, max_samples=15, budget_s=5, min_sample_s=0.0, warmup_s=0.0)
runner = CliRunner()


def sleepy_run(write_spec, tmp_path, name, seconds):
    path = write_spec(SLEEPY.format(seconds=seconds), name=f"{name}.yaml")
    out = tmp_path / name
    run(load_specs([path]), RunOptions(out_dir=out, selection=Selection(frameworks=["numpy"], devices=["cpu"]),
                                       timer=SETTINGS))
    return out


def test_same_spec_twice_is_no_regression_and_30_percent_slower_is(write_spec, tmp_path, test_kinds):
    base = sleepy_run(write_spec, tmp_path, "base", 0.002)
    again = sleepy_run(write_spec, tmp_path, "again", 0.002)
    slower = sleepy_run(write_spec, tmp_path, "slower", 0.0026)

    same = runner.invoke(app, ["compare", str(base), str(again), "--md", str(tmp_path / "same.md")])
    assert same.exit_code == 0, same.output
    assert "0 slower" in same.output

    worse = runner.invoke(app, ["compare", str(base), str(slower), "--threshold", "5%",
                                "--md", str(tmp_path / "worse.md")])
    assert worse.exit_code == 1, worse.output
    assert "1 slower" in worse.output
    markdown = (tmp_path / "worse.md").read_text()
    slow_line = next(line for line in markdown.splitlines() if line.startswith("| steady"))
    assert slow_line.endswith("| slower |")
    ratio = float(slow_line.split("|")[4].split()[0])
    assert 1.2 < ratio < 1.4
    assert next(line for line in markdown.splitlines() if line.startswith("| other")).endswith("| same |")


def cell(samples, **extra):
    values = list(samples)
    return {"workload": "w", "params": {"n": 1}, "framework": "numpy", "mode": "eager", "device": "cpu",
            "dtype": "float32", "status": "ok", "median_s": float(np.median(values)), "samples_s": values,
            "num_threads": 2, "framework_version": "2.0", **extra}


def test_two_percent_slower_under_five_percent_noise_is_not_a_regression():
    rng = np.random.default_rng(7)
    base = records_to_frame([cell(rng.normal(1.00, 0.05, 40))])
    new = records_to_frame([cell(rng.normal(1.02, 0.05, 40))])
    result = compare_frames(base, new, threshold=0.05)
    assert result.table["verdict"].tolist() == ["same"]


def test_slower_but_not_significant_is_not_a_regression():
    base = records_to_frame([cell([1.0, 0.5, 1.5])])
    new = records_to_frame([cell([1.1, 0.6, 1.9])])
    result = compare_frames(base, new, threshold=0.05)
    assert result.table["ratio"].iloc[0] > 1.05
    assert result.table["verdict"].tolist() == ["same"]


def test_new_absent_and_environment_warnings():
    base = records_to_frame([cell([1.0] * 5, host={"hostname": "a", "cpu_model": "X"})])
    other = cell([1.0] * 5, host={"hostname": "b", "cpu_model": "X"}, framework_version="2.1")
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

    good = cell([1.0] * 5, version=1, cell_id="w[n=1]/numpy/eager/cpu")
    other = dict(cell([2.0] * 5, version=1), workload="w2", cell_id="w2[n=1]/numpy/eager/cpu")
    broken = dict(good, status="mismatch", reason="max relative error 0.5 exceeds the tolerance 0.0001")
    write(tmp_path / "base", [good, other])
    write(tmp_path / "new", [broken, other])
    result = runner.invoke(app, ["compare", str(tmp_path / "base"), str(tmp_path / "new"),
                                 "--md", str(tmp_path / "out.md")])
    assert result.exit_code == 1, result.output
    assert "1 broken" in result.output
    table_rows = [line for line in (tmp_path / "out.md").read_text().splitlines() if line.startswith("| w")]
    assert "broken: max relative error 0.5" in table_rows[0] and "| mismatch |" in table_rows[0]
