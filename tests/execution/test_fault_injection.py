"""Issue 30's faults, injected for real on small specs: a record cut short by a crash, a broken line mid-file, a
full disk, an unwritable --out, a worker killed by SIGKILL, and the bounds on plans and flags.  Each checks
the exit code, the one-line message, and that no finished record is lost or duplicated."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fwbench.records.journal import SET_ASIDE_FILE
from fwbench.records.results import read_records
from tests.conftest import REPO_ROOT
from tests.execution.test_faults import cell, gated_spec, start_run, wait_for_lines


def fwbench(*arguments, timeout=300):
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT), FWBENCH_ENABLE_TEST_KINDS="1")
    return subprocess.run([sys.executable, "-m", "fwbench", *map(str, arguments)], capture_output=True, text=True,
                          env=environment, cwd=REPO_ROOT, timeout=timeout)


def quick_run(spec, out, *extra):
    return fwbench("run", spec, "--out", out, "-f", "numpy", "--no-calibrate", "--quick", *extra)


def one_line_error(result, code=2):
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("fwbench: error:")]
    return line


def every_round_once(out):
    keys = [(r["cell_id"], r.get("round")) for r in read_records(out)]
    assert len(keys) == len(set(keys)), "a cell-round is on disk twice"
    return keys


def finished_run(write_spec, tmp_path, cells=4):
    gate = tmp_path / "gate"
    gate.touch()
    spec, out = write_spec(gated_spec(gate)), tmp_path / "out"
    process = start_run(spec, out, uuid.uuid4().hex)
    process.communicate(timeout=120)
    assert process.returncode == 0
    return spec, out


# 1. Crash mid-write ------------------------------------------------------------------------------------------

def test_a_last_record_cut_short_is_set_aside_and_resume_measures_it_again(write_spec, tmp_path):
    spec, out = write_spec(gated_spec(tmp_path / "gate")), tmp_path / "out"
    process = start_run(spec, out, uuid.uuid4().hex)
    wait_for_lines(out / "results.jsonl", 2)
    process.kill()  # the parent dies mid-run, as a crash or power loss ends it
    process.wait()
    results = out / "results.jsonl"
    data = results.read_bytes()
    cut = data[:-40]  # the last record cut short
    results.write_bytes(cut)
    lost = json.loads(data.splitlines()[-1])["cell_id"]

    report = fwbench("report", out)  # a reader sets the line aside and reads the rest
    assert report.returncode == 0, report.stderr
    assert f"line 2 is cut short (no newline at its end), as a crash leaves it: set aside in {out / SET_ASIDE_FILE}" \
        in report.stderr
    (kept,) = [json.loads(line) for line in (out / SET_ASIDE_FILE).read_text().splitlines()]
    assert kept["line"] == 2 and kept["text"] == cut.splitlines()[-1].decode()

    (tmp_path / "gate").touch()
    resumed = start_run(spec, out, uuid.uuid4().hex, "--resume", str(out))
    _stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    records = read_records(out)
    assert sorted(every_round_once(out)) == sorted((r["cell_id"], 1) for r in records) and len(records) == 8
    assert lost in {r["cell_id"] for r in records}  # measured again
    assert results.read_bytes().endswith(b"\n") and all(json.loads(line) for line in results.read_text().splitlines())
    assert (out / "results.csv").is_file()
    assert fwbench("report", out).returncode == 0


def test_a_broken_line_mid_file_names_the_repair_and_the_repair_keeps_every_record(write_spec, tmp_path):
    _spec, out = finished_run(write_spec, tmp_path)
    results = out / "results.jsonl"
    lines = results.read_text().splitlines()
    lines.insert(3, lines[3][:50])  # half a record in the middle, as an old fwbench could leave it
    results.write_text("\n".join(lines) + "\n")
    line = one_line_error(fwbench("report", out))
    assert line == (f"fwbench: error: {results}, line 4: not a whole record (a line broken in the middle of the "
                    f"file) (fix: run 'fwbench repair {out}': it moves broken lines to {SET_ASIDE_FILE} and keeps "
                    f"every whole record; then 'fwbench run --resume {out}' measures what they held)")
    repaired = fwbench("repair", out)
    assert repaired.returncode == 0 and "1 broken line(s) moved" in repaired.stdout
    assert len(read_records(out)) == 8  # nothing lost
    assert json.loads((out / SET_ASIDE_FILE).read_text())["line"] == 4
    assert fwbench("report", out).returncode == 0


# 2-3. Disk full, unwritable output ---------------------------------------------------------------------------

@pytest.fixture
def small_filesystem(tmp_path):
    """A tmpfs of the size asked for, mounted for the test (skipped where this process may not mount one)."""
    mounted = []

    def make(size: str, read_only: bool = False) -> Path:
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN): {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_an_output_too_small_or_read_only_is_one_line_before_anything_runs(write_spec, small_filesystem):
    spec = write_spec("version: 1\nworkloads:" + cell("a"))
    tiny = small_filesystem("40k")
    line = one_line_error(quick_run(spec, tiny / "out"))
    assert line.startswith(f"fwbench: error: --out {tiny / 'out'}: ")
    assert "nothing was measured" in line and "(fix: free some space or choose another --out)" in line
    read_only = small_filesystem("1m", read_only=True)
    line = one_line_error(quick_run(spec, read_only / "out"))
    assert line == (f"fwbench: error: --out {read_only / 'out'}: cannot write there: Read-only file system "
                    "(1 MiB free there); nothing was measured (fix: choose a writable --out)")


def test_an_output_path_that_cannot_exist_is_one_line(write_spec, tmp_path):
    spec = write_spec("version: 1\nworkloads:" + cell("a"))
    line = one_line_error(quick_run(spec, "/proc/fwbench-test/out"))
    assert line.startswith("fwbench: error: --out /proc/fwbench-test/out: cannot write there: ")


def test_a_disk_that_fills_mid_run_keeps_every_finished_record_and_resume_finishes(write_spec, tmp_path,
                                                                                   small_filesystem):
    disk = small_filesystem("3m")
    gate = tmp_path / "gate"
    spec, out = write_spec(gated_spec(gate)), disk / "out"
    process = start_run(spec, out, uuid.uuid4().hex)
    wait_for_lines(out / "results.jsonl", 2)
    filler = disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)  # until the disk is full
    gate.touch()
    _stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("fwbench: error:")]
    assert line.startswith(f"fwbench: error: cannot write {out}/")
    assert "No space left on device" in line and "free there" in line
    assert sorted(path.name for path in out.iterdir() if path.name.endswith(".tmp")) == []
    before = read_records(out)  # whole lines only
    assert len(before) >= 2
    filler.unlink()
    resumed = start_run(spec, out, uuid.uuid4().hex, "--resume", str(out))  # the lock was released
    _stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert len(every_round_once(out)) == 8
    assert fwbench("report", out).returncode == 0


def test_a_short_write_leaves_no_half_record(tmp_path, monkeypatch):
    """The writer undoes a write that the disk cut short (a fake: os.write writes 10 bytes)."""
    from fwbench.files import OutputError
    from fwbench.records.journal import ResultsWriter

    record = {"version": 1, "cell_id": "a", "status": "ok"}
    real_write = os.write
    with ResultsWriter(tmp_path) as writer:
        writer.write(record)
        with monkeypatch.context() as patch:
            patch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))
            with pytest.raises(OutputError,
                               match=r"No space left on device.*the 1 records written before it are whole"):
                writer.write(record)
    assert (tmp_path / "results.jsonl").read_text() == json.dumps(record) + "\n"


# 4. A worker killed ------------------------------------------------------------------------------------------

def test_a_killed_worker_s_cell_runs_again_and_keeps_its_rounds(write_spec, tmp_path):
    once = tmp_path / "killed-once"
    spec = write_spec("version: 1\nworkloads:" + cell("a_before") + cell(
        "b_killed", "fault", f"\n    fault: kill_worker\n    fault_file: {once}") + cell("c_after"))
    out = tmp_path / "out"
    result = fwbench("run", spec, "--out", out, "-f", "numpy", "--no-calibrate", "--rounds", "2", "--budget", "0.2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert once.exists()
    records = read_records(out)
    killed = [r for r in records if r["workload"] == "b_killed"]
    # One start of the worker serves both rounds (--rounds-per-start 3 by default): killed in round 1, it
    # takes the cell's round 2 with it, and both run again
    assert sorted((r["round"], r["status"], r.get("attempt")) for r in killed) == [
        (1, "error", None), (1, "ok", 2), (2, "error", None), (2, "ok", 2)]
    assert {r["failure"] for r in killed if r["status"] == "error"} == {"worker died"}
    assert {r["workload"]: r["status"] for r in records if r["workload"] != "b_killed"} == {
        "a_before": "ok", "c_after": "ok"}
    manifest = json.loads((out / "run.json").read_text())
    assert list(manifest["retried"]) == ["1", "2"]
    from fwbench.records.results import read_cells

    (cell_result,) = [c for c in read_cells(out) if c["workload"] == "b_killed"]
    assert cell_result["status"] == "ok" and cell_result["round_numbers"] == [1, 2]
    assert cell_result["failed_rounds"][0]["retried"] is True
    assert "SIGKILL" in cell_result["failed_rounds"][0]["reason"]
    assert "b_killed: round 1 failed (worker killed by signal SIGKILL" in result.stdout.replace("\n    ", " ")


def test_a_cell_that_dies_every_time_fails_the_run_with_exit_3(write_spec, tmp_path):
    spec = write_spec("version: 1\nworkloads:" + cell("a_ok") + cell("b_segfault", "fault", "\n    fault: segfault"))
    result = quick_run(spec, tmp_path / "out")
    assert result.returncode == 3, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "fwbench: 1 of 2 cells failed (error), after one retry where their process died" in result.stderr
    attempts = sorted(r.get("attempt") or 1 for r in read_records(tmp_path / "out") if r["workload"] == "b_segfault")
    assert attempts == [1, 2]


# 5-8. Bounds for plans and flags -----------------------------------------------------------------------------

def test_a_sweep_of_millions_of_sizes_is_refused_at_once(write_spec, tmp_path):
    values = list(range(1, 2001))
    spec = write_spec(f"version: 1\nworkloads:\n  - name: w\n    kind: expression\n    expr: x * 2\n"
                      f"    inputs: {{x: {{shape: [n, m]}}}}\n    sweep: {{n: {values}, m: {values}}}\n")
    for command in ("list", "run"):
        line = one_line_error(fwbench(command, spec, "--out", tmp_path / "out") if command == "run"
                              else fwbench(command, spec), 2)
        assert ("field 'sweep': the sweeps give 4,000,000 sizes (2000 values of n x 2000 values of m); at most "
                "10,000 are allowed per workload (fix: sweep fewer values") in line


def test_a_plan_of_too_many_cells_is_refused_with_its_size(write_spec, tmp_path):
    spec = write_spec("version: 1\nworkloads:\n  - name: w\n    kind: expression\n    expr: x * 2\n"
                      f"    inputs: {{x: {{shape: [n]}}}}\n    sweep: {{n: {list(range(1, 5001))}}}\n")
    line = one_line_error(fwbench("list", spec))
    assert "the plan has more than 10,000 cells" in line and "(fix: narrow it with --framework" in line


def test_more_threads_than_cores_is_refused(write_spec, tmp_path):
    spec = write_spec("version: 1\nworkloads:" + cell("a"))
    line = one_line_error(quick_run(spec, tmp_path / "out", "--threads", "999"))
    cores = len(os.sched_getaffinity(0))
    assert line == (f"fwbench: error: --threads: got 999, but this machine lets fwbench use {cores} cores (timings "
                    "with more threads than cores measure the contention, not the framework) (fix: use --threads "
                    f"{cores} or fewer)")
    assert not (tmp_path / "out").exists()


def test_a_run_where_nothing_can_run_exits_2_with_the_reasons(write_spec, tmp_path):
    spec = write_spec("version: 1\nworkloads:" + cell("a") + cell("b"))
    environment_devices = os.environ.get("FWBENCH_DEVICES")
    if environment_devices and "tpu" in environment_devices:
        pytest.skip("this machine claims a TPU")
    line = one_line_error(quick_run(spec, tmp_path / "out", "--device", "tpu"))
    assert line.startswith("fwbench: error: nothing can run: every one of the 2 selected cells would be skipped "
                           "(2 x device absent")
    assert not (tmp_path / "out" / "results.jsonl").exists()
