"""Faults injected for real: a hang past the timeout, a leak past the memory limit, SIGINT then --resume,
and SIGKILL of the parent. (A segfault is in test_runner.py.)"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.records.results import read_records
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
from tests.conftest import REPO_ROOT

QUICK = TimerSettings.quick()


def cell(name, kind="expression", extra=""):
    return f"""
  - name: {name}
    kind: {kind}{extra}
    expr: "x * 2"
    inputs:
      x: {{shape: [8]}}
"""


def run_numpy(spec, out, **options):
    run(load_specs([spec]), RunOptions(out_dir=out, selection=Selection(frameworks=["numpy"], devices=["cpu"]),
                                       timer=QUICK, **options))
    return {r["workload"]: r for r in read_records(out)}


def test_a_hang_past_the_timeout_fails_one_cell(write_spec, tmp_path, test_kinds):
    spec = write_spec("version: 1\nworkloads:" + cell("a_before") + cell(
        "b_hang", "fault", "\n    fault: sleep\n    fault_seconds: 600") + cell("c_after"))
    records = run_numpy(spec, tmp_path / "out", cell_timeout_s=8)  # 25 times what a quick numpy cell takes
    assert records["a_before"]["status"] == "ok" and records["c_after"]["status"] == "ok"
    assert records["b_hang"]["status"] == "error"
    # the reason is the timeout's own (a cell left to sleep its 600 s would have come back ok)
    assert records["b_hang"]["reason"].startswith("timed out after 8 s (cell b_hang[-]/numpy/eager/cpu)")


def test_a_leak_past_the_memory_limit_fails_one_cell(write_spec, tmp_path, test_kinds):
    spec = write_spec("version: 1\nworkloads:" + cell(
        "a_leak", "fault", "\n    fault: allocate\n    fault_bytes: 300000000") + cell("b_after"))
    records = run_numpy(spec, tmp_path / "out", memory_limit_bytes=int(1.5 * 2**30))
    assert records["a_leak"]["status"] == "error"
    assert "MemoryError" in records["a_leak"]["reason"]
    assert records["b_after"]["status"] == "ok"


def worker_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def default_sigint() -> None:
    """In the child before it starts: SIGINT as a terminal's Ctrl-C finds it.  A test suite started in the
    background by a non-interactive shell (as CI may start it) has SIGINT ignored, every child inherits
    that, and Python then installs no KeyboardInterrupt handler: the run would never see the signal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(spec, out, marker, *extra):
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT), FWBENCH_ENABLE_TEST_KINDS="1",
                       FWBENCH_TEST_MARKER=marker)
    return subprocess.Popen([sys.executable, "-m", "fwbench", "run", str(spec), "--out", str(out), "-f", "numpy",
                             "--no-calibrate", "--quick", *extra], env=environment, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def wait_for_lines(path: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def gated_spec(gate: Path) -> str:
    """Eight cells: two that finish at once, then six whose calls wait until the file ``gate`` exists.  A run
    of it cannot finish before the test creates ``gate``, however fast or slow the machine is."""
    waiting = f"\n    fault: wait_for_file\n    fault_file: {gate}\n    fault_seconds: 120"
    return "version: 1\nworkloads:" + "".join(
        cell(f"slow{index}", "fault", "\n    fault: sleep\n    fault_seconds: 0.01" if index < 2 else waiting)
        for index in range(8))


def stop_after(signal_number: int, spec: Path, out: Path, lines: int) -> tuple[int, str, list]:
    """Start a run, send ``signal_number`` once ``lines`` cells are on disk: (exit code, stderr, workers left)."""
    marker = uuid.uuid4().hex
    process = start_run(spec, out, marker)
    wait_for_lines(out / "results.jsonl", lines)
    process.send_signal(signal_number)
    _stdout, stderr = process.communicate(timeout=60)
    time.sleep(0.5)
    return process.returncode, stderr, worker_processes(marker)


def test_sigint_stops_cleanly_and_resume_finishes_without_measuring_twice(write_spec, tmp_path):
    gate = tmp_path / "gate"
    spec, out = write_spec(gated_spec(gate)), tmp_path / "out"
    returncode, stderr, orphans = stop_after(signal.SIGINT, spec, out, lines=2)
    assert returncode == 130
    assert f"Finish the run with: fwbench run --resume {out}" in stderr
    assert orphans == []
    before = read_records(out)
    assert len(before) == 2 and all(r["status"] == "ok" for r in before)  # the third cell was waiting
    assert json.loads((out / "run.json").read_text())["interrupted"]

    gate.touch()
    resumed = start_run(spec, out, uuid.uuid4().hex, "--resume", str(out))
    resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    after = read_records(out)
    ids = [r["cell_id"] for r in after]
    assert len(ids) == 8 and len(set(ids)) == 8  # every cell once
    assert [r for r in after if r["cell_id"] in {b["cell_id"] for b in before}] == before  # untouched
    assert {r["run_id"] for r in after} == {before[0]["run_id"]}
    assert all(r["status"] == "ok" for r in after)


def test_sigterm_behaves_like_sigint(write_spec, tmp_path):
    spec = write_spec(gated_spec(tmp_path / "gate"))
    returncode, stderr, orphans = stop_after(signal.SIGTERM, spec, tmp_path / "out", lines=1)
    assert returncode == 130 and "--resume" in stderr
    assert orphans == []


def test_resume_is_refused_when_the_run_is_not_comparable(write_spec, tmp_path):
    gate = tmp_path / "gate"
    gate.touch()  # nothing waits: the run finishes
    spec, out = write_spec(gated_spec(gate)), tmp_path / "out"
    process = start_run(spec, out, uuid.uuid4().hex)
    process.communicate(timeout=120)
    manifest = json.loads((out / "run.json").read_text())
    manifest["host"]["cpu_model"] = "Another CPU 9000"  # as if the directory came from another machine
    (out / "run.json").write_text(json.dumps(manifest))
    refused = start_run(spec, out, uuid.uuid4().hex, "--resume", str(out))
    _stdout, stderr = refused.communicate(timeout=60)
    assert refused.returncode == 2
    assert "cannot resume fairly: the cpu_model changed (Another CPU 9000 then" in stderr


def test_sigkill_of_the_parent_leaves_a_complete_results_file(write_spec, tmp_path):
    spec, out, marker = write_spec(gated_spec(tmp_path / "gate")), tmp_path / "out", uuid.uuid4().hex
    process = start_run(spec, out, marker)
    wait_for_lines(out / "results.jsonl", 2)
    process.kill()  # the third cell is waiting for the gate: the run is in the middle of a cell
    process.wait()
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert json.loads(line)["version"] == 1  # every line complete
    deadline = time.monotonic() + 5
    while worker_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker_processes(marker) == []  # the worker died with its parent
