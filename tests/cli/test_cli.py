"""The CLI, in-process (Typer's runner) and as a real subprocess."""

import csv
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fwbench.cli import app
from fwbench.records.results import CSV_COLUMNS, read_records
from tests.conftest import REPO_ROOT, SMALL_SPEC, require_framework

runner = CliRunner()


def fwbench(*arguments, env=None, cwd=None):
    environment = dict(os.environ, **(env or {}))
    environment["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run([sys.executable, "-m", "fwbench", *arguments], capture_output=True, text=True,
                          env=environment, cwd=cwd or REPO_ROOT, timeout=600)


def test_help_teaches():
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    for word in ("--framework", "--device", "--mode", "--filter", "--quick", "--threads", "--out",
                 "synchronised", "first call"):
        assert word in result.output


def test_list_shows_cells_and_skips(write_spec, monkeypatch):
    monkeypatch.setenv("FWBENCH_DEVICES", "cpu")
    result = runner.invoke(app, ["list", str(write_spec(SMALL_SPEC)), "--device", "cpu", "--device", "gpu",
                                 "-f", "numpy"])
    assert result.exit_code == 0, result.output
    assert "power_sum" in result.output
    assert "device absent" in result.output
    assert "2 cells to run, 2 to skip." in result.output


def test_bad_spec_in_process_is_one_line_exit_2(write_spec):
    path = write_spec("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n"
                      "    inputs: {x: {shape: [4]}}\n    colour: red\n")
    result = runner.invoke(app, ["list", str(path)])
    assert result.exit_code == 2
    assert "unknown key 'colour'" in result.output


def test_bad_flag_is_exit_2(write_spec):
    result = runner.invoke(app, ["list", str(write_spec(SMALL_SPEC)), "--framework", "mxnet"])
    assert result.exit_code == 2
    assert "--framework: got 'mxnet'" in result.output


def test_subprocess_run_writes_csv_with_every_column(write_spec, tmp_path):
    require_framework("jax")
    out = tmp_path / "run"
    result = fwbench("run", str(write_spec(SMALL_SPEC)), "--quick", "-f", "numpy", "-f", "jax",
                     "--out", str(out), "--no-calibrate")
    assert result.returncode == 0, result.stderr
    assert "3 cells: 3 ok, 0 mismatch, 0 error, 0 skipped (1 round each)." in result.stdout
    assert "one round cannot decide it" in " ".join(result.stdout.split())  # findings, honest about one round
    assert "Median time per call" not in result.stdout  # the full table only with --verbose
    # the summary table comes first: within the first 15 lines of the output after the progress bar (stderr)
    head = result.stdout.splitlines()[:15]
    assert head[0].startswith("Summary: each workload at its largest size")
    assert head[1].split()[:2] == ["workload", "size"]
    assert [line.split()[:2] for line in head if line.startswith("power_sum")] == [["power_sum", "n=64"]]
    assert any(line.startswith("By framework and mode") for line in head)
    assert any(line.split()[:1] == ["jax/jit"] for line in head)
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(CSV_COLUMNS) <= set(rows[0])
    assert {(r["framework"], r["mode"], r["status"]) for r in rows} == {
        ("numpy", "eager", "ok"), ("jax", "eager", "ok"), ("jax", "jit", "ok")}
    for row in rows:
        assert float(row["median_s"]) > 0 and row["params"] == "n=64"
    # the same --out again is refused rather than overwritten
    again = fwbench("run", str(write_spec(SMALL_SPEC)), "--quick", "-f", "numpy", "--out", str(out), "--no-calibrate")
    assert again.returncode == 2
    assert "holds results of an earlier run" in again.stderr
    verbose = fwbench("run", str(write_spec(SMALL_SPEC)), "--quick", "-f", "numpy", "--out", str(tmp_path / "v"),
                      "--no-calibrate", "--verbose")
    assert verbose.returncode == 0 and "Median time per call" in verbose.stdout


def test_subprocess_bad_spec_exit_2_without_traceback(write_spec, tmp_path):
    path = write_spec("version: 1\nworkloads:\n  - name: evil\n    kind: expression\n"
                      "    expr: \"__import__('os').system('touch pwned')\"\n    inputs: {x: {shape: [4]}}\n")
    out = tmp_path / "run"
    result = fwbench("run", str(path), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"fwbench: error: {path}, workload 'evil', field 'expr':")
    assert not (tmp_path / "pwned").exists()
    assert not out.exists()


@pytest.mark.slow
def test_env_json_lists_four_frameworks():
    result = fwbench("env", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    names = [item["framework"] for item in info["frameworks"]]
    assert names == ["numpy", "jax", "torch", "tensorflow"]
    for item in info["frameworks"]:
        require_framework(item["framework"])
        assert item["available"], item
        assert item["version"]
        assert any(device["kind"] == "cpu" for device in item["devices"])
        # the libraries behind its kernels, with the one that runs float32 matrix products
        assert item["kernels"]["gemm"]["library"], item["kernels"]
        assert "OMP_NUM_THREADS" in item["kernel_environment"]
    assert info["host"]["logical_cores"] >= 1
    assert info["host"]["cpu_best_isa"] in ("baseline", "SSE4.2", "AVX", "AVX2", "AVX-512")
    kernels = {item["framework"]: item["kernels"] for item in info["frameworks"]}
    assert kernels["numpy"]["gemm"]["source"] == "threadpoolctl" and kernels["numpy"]["gemm"]["kernel"]
    assert kernels["torch"]["libraries"][0]["source"] == "torch.backends.cpu.get_cpu_capability()"
    assert kernels["tensorflow"]["gemm"]["library"] in ("oneDNN", "Eigen")
    assert kernels["jax"]["gemm"]["library"] == "XLA:CPU"


@pytest.mark.slow
def test_a_variable_that_changes_numpys_kernels_is_recorded_explained_and_can_be_unset(write_spec, tmp_path):
    """OPENBLAS_CORETYPE=Haswell in the run's environment (a child's, never the suite's) makes NumPy's OpenBLAS
    run its Haswell kernels: the rows, run.json and the findings say so; --unset-env runs the workers without
    it, and the rows say that too."""
    require_framework("numpy")
    spec = write_spec(SMALL_SPEC)
    override = {"OPENBLAS_CORETYPE": "Haswell"}
    runs = {}
    for label, extra in (("as set", []), ("unset", ["--unset-env", "OPENBLAS_CORETYPE"])):
        out = tmp_path / label.replace(" ", "_")
        result = fwbench("run", str(spec), "--quick", "--framework", "numpy", "--out", str(out), "--no-calibrate",
                         *extra, env=override)
        assert result.returncode == 0, result.stderr
        runs[label] = (result.stdout, json.loads((out / "run.json").read_text()),
                       [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()])
    stdout, manifest, rows = runs["as set"]
    assert manifest["host"]["kernel_environment"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert manifest["unset_environment"] == []
    (worker,) = [w for w in manifest["workers"] if w["framework"] == "numpy"]
    assert worker["kernels"]["gemm"]["kernel"] == "Haswell" and worker["kernels"]["gemm"]["isa"] == "AVX2"
    for row in rows:
        assert row["settings"]["kernels"]["gemm"]["kernel"] == "Haswell"
        assert row["settings"]["kernel_environment"]["OPENBLAS_CORETYPE"] == "Haswell"
    if manifest["host"]["cpu_best_isa"] == "AVX-512":
        assert "numpy's matrix products run OpenBLAS" in stdout and "--unset-env OPENBLAS_CORETYPE" in stdout
    stdout, manifest, rows = runs["unset"]
    assert manifest["unset_environment"] == ["OPENBLAS_CORETYPE"]
    assert manifest["host"]["kernel_environment"]["OPENBLAS_CORETYPE"] == "Haswell"  # the parent still has it
    for row in rows:
        assert "OPENBLAS_CORETYPE" not in row["settings"]["kernel_environment"]
        assert row["settings"]["environment_unset"] == ["OPENBLAS_CORETYPE"]
    text = " ".join(stdout.split())
    assert "under OPENBLAS_CORETYPE" not in text and "--unset-env OPENBLAS_CORETYPE" not in text
    if "numpy's matrix products" in text and manifest["host"]["cpu_best_isa"] != "AVX2":
        # what remains names another variable this machine's environment sets and the run kept (some of the VMs
        # this suite runs on set OPENBLAS_L2_SIZE=512 beside OPENBLAS_CORETYPE)
        kept = [name for name in os.environ if name.startswith("OPENBLAS_") and name != "OPENBLAS_CORETYPE"]
        assert any(f"--unset-env {name}" in text for name in kept), text


@pytest.mark.parametrize("arguments, message", [
    (["--allocator", "warm"], "fwbench: error: --allocator: got 'warm', expected one of: steady, fresh (fix: steady "
                              "(the default) or fresh; README: the allocator regime)"),
    (["--unset-env", "1BAD"], "fwbench: error: --unset-env: got '1BAD', expected an environment variable name "
                              "(letters, digits and _, not starting with a digit) (fix: for example --unset-env "
                              "OPENBLAS_CORETYPE)"),
    (["--unset-env", "OPENBLAS CORETYPE"], "fwbench: error: --unset-env: got 'OPENBLAS CORETYPE', expected an "
                                           "environment variable name"),
    (["--unset-env", "OMP_NUM_THREADS"], "fwbench: error: --unset-env: got 'OMP_NUM_THREADS', which fwbench sets "
                                         "itself in every worker (the same thread count for every framework) "
                                         "(fix: use --threads N instead)"),
    (["--rounds-per-start", "2", "--sequential"], "fwbench: error: --rounds-per-start: got 2 with --sequential, "
                                                  "where each round starts its own workers"),
])
def test_a_bad_regime_or_variable_name_is_one_line_and_exit_2(write_spec, tmp_path, arguments, message):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(write_spec(SMALL_SPEC)), "--out", str(out), "--no-calibrate",
                                 *arguments])
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert not out.exists()  # nothing written


@pytest.mark.slow
def test_broken_framework_is_unavailable_and_the_others_still_run(write_spec, tmp_path):
    """A framework whose import fails shows as unavailable with the reason; the run goes on."""
    shadow = tmp_path / "shadow" / "tensorflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('simulated broken TensorFlow install')\n")
    environment = {"PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{shadow.parent}"}
    env_result = subprocess.run([sys.executable, "-m", "fwbench", "env", "--json"], capture_output=True,
                                text=True, env=dict(os.environ, **environment), cwd=REPO_ROOT)
    assert env_result.returncode == 0, env_result.stderr
    tf_info = json.loads(env_result.stdout)["frameworks"][3]
    assert tf_info["available"] is False
    assert "simulated broken TensorFlow install" in tf_info["reason"]
    plain = runner.invoke(app, ["env"], env={"PYTHONPATH": environment["PYTHONPATH"]})
    assert plain.exit_code == 0

    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "fwbench", "run", str(write_spec(SMALL_SPEC)), "--quick", "--out", str(out),
         "--no-calibrate"],
        capture_output=True, text=True, env=dict(os.environ, **environment), cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    status = {(r["framework"], r["mode"]): r["status"] for r in rows}
    assert status == {("numpy", "eager"): "ok", ("jax", "eager"): "ok", ("jax", "jit"): "ok",
                      ("torch", "eager"): "ok", ("torch", "compile"): "ok", ("tensorflow", "eager"): "skipped",
                      ("tensorflow", "function"): "skipped", ("tensorflow", "xla"): "skipped"}
    for row in rows:
        if row["framework"] == "tensorflow":
            assert "unavailable: ImportError: simulated broken TensorFlow install" in row["reason"]
    assert "3 cells skipped" in result.stdout


def test_the_console_findings_say_when_the_machine_moved_between_rounds(capsys):
    from fwbench.cli.run_command import print_summary
    from fwbench.records.combine import combine_rounds
    from tests.report.test_findings import rounds

    records = combine_rounds(rounds([1.0, 1.0, 1.0], [1e-3, 1.1e-3, 1.05e-3])
                             + rounds([1.0, 1.0, 1.0], [2e-3, 2.1e-3, 2.2e-3], framework="jax", mode="jit"))
    manifest = {"run_id": "r1",
                "rounds": [{"round": 1, "machine_probe_s": 0.010}, {"round": 2, "machine_probe_s": 0.020}]}
    print_summary(records, False, [manifest])
    assert ("This machine's own speed moved 100% between the rounds of run r1"
            in " ".join(capsys.readouterr().out.split()))
    print_summary(records, False, [])
    assert "own speed moved" not in capsys.readouterr().out


def run_with_turns_and_sequential(write_spec, tmp_path, *arguments: str) -> dict[str, tuple[dict, list]]:
    """One small NumPy run with the series taking turns (the default) and one with --sequential: each one's
    manifest and records, by label."""
    require_framework("numpy")
    spec = write_spec(SMALL_SPEC)
    found = {}
    for label, extra in (("turns", []), ("sequential", ["--sequential"])):
        out = tmp_path / label
        result = CliRunner().invoke(app, ["run", str(spec), "-f", "numpy", "--budget", "0.05", "--no-calibrate",
                                          "--out", str(out), *arguments, *extra])
        assert result.exit_code == 0, result.output
        found[label] = (json.loads((out / "run.json").read_text()), read_records(out))
    return found


def test_samples_are_1_ms_and_warm_up_30_ms_at_most_when_the_series_take_turns(write_spec, tmp_path):
    """A 20 ms turn holds many samples (its median drops an interrupted one) and begins with an untimed call, so
    its warm-up only settles the loop count; sequential cells keep samples of 10 ms and warm up to 300 ms."""
    found = run_with_turns_and_sequential(write_spec, tmp_path, "--rounds", "1")
    timers = {label: manifest["timer"] for label, (manifest, _) in found.items()}
    assert {label: (timer["min_sample_s"], timer["warmup_s"], timer["max_warmup_s"])
            for label, timer in timers.items()} == {"turns": (0.001, 0.01, 0.03), "sequential": (0.01, 0.05, 0.3)}


def test_one_start_serves_three_rounds_when_the_series_take_turns_and_one_otherwise(write_spec, tmp_path):
    """Turns fork each round's cells from one start of the workers (each start imports the frameworks again);
    --sequential starts its workers every round, as before."""
    found = run_with_turns_and_sequential(write_spec, tmp_path, "--rounds", "2", "--no-extend")
    assert {label: (manifest["rounds_per_start"], len(manifest["workers"]),
                    sorted({record["round"] for record in records}))
            for label, (manifest, records) in found.items()} == {"turns": (3, 1, [1, 2]),
                                                                 "sequential": (1, 2, [1, 2])}
