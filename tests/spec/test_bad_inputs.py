"""The bad-input corpus (tests/bad_inputs/): exit 2, the exact one line, no traceback, nothing run or written."""

import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fwbench.cli import app
from fwbench.machine.envinfo import memory_bytes
from fwbench.units import format_bytes
from tests.conftest import REPO_ROOT

CORPUS = REPO_ROOT / "tests" / "bad_inputs"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
runner = CliRunner()


def run_cli(path: str, out: Path):
    result = runner.invoke(app, ["run", path, "--out", str(out), "--no-calibrate"])
    return result.exit_code, result.output


def test_the_corpus_is_large_and_complete():
    files = sorted(p.name for p in CORPUS.glob("*.yaml") if p.name != "expected.yaml")
    assert len(files) >= 30
    assert sorted(EXPECTED) == files


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_bad_input_gives_its_exact_error(name, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    out = tmp_path / "results"
    code, output = run_cli(f"tests/bad_inputs/{name}", out)
    assert code == 2
    assert output.strip() == EXPECTED[name].replace("{total_memory}", format_bytes(memory_bytes()["total"]))
    assert output.count("\n") == 1 and "Traceback" not in output
    assert f"tests/bad_inputs/{name}" in output
    assert not out.exists()  # nothing written
    assert not (REPO_ROOT / "pwned").exists() and not Path("pwned").exists()  # nothing run


def test_unreadable_file(tmp_path):
    path = tmp_path / "unreadable.yaml"
    if os.geteuid() == 0:  # root reads mode-000 files; a file that fails on read stands in
        path.symlink_to("/proc/self/clear_refs")
    else:
        path.write_text("version: 1\n")
        path.chmod(0)
    code, output = run_cli(str(path), tmp_path / "out")
    assert code == 2
    assert output.startswith(f"fwbench: error: {path}: cannot read the file:")
    assert "(fix: check the path and its permissions)" in output


def test_directory_with_no_specs(tmp_path):
    code, output = run_cli(str(tmp_path), tmp_path / "out")
    assert code == 2
    assert output.strip() == (f"fwbench: error: {tmp_path}: the directory holds no spec files (*.yaml, *.yml) "
                              "(fix: point at a spec file or a directory of them, e.g. workloads/)")


def test_missing_file(tmp_path):
    code, output = run_cli(str(tmp_path / "nope.yaml"), tmp_path / "out")
    assert code == 2 and "no such file or directory" in output


def test_results_from_a_future_version_are_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.jsonl").write_text('{"version": 99, "workload": "w"}\n')
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 2
    assert "results version 99 is not supported (this fwbench reads version 1)" in result.output
    assert "fix: read it with the fwbench version that wrote it, or re-run the benchmark" in result.output
