"""fwbench ab end to end: each side's interpreter and environment reach its workers; bad sides exit 2."""

import json
import os
import subprocess
import sys
import textwrap

from typer.testing import CliRunner

from fwbench.cli import app

MODULE = textwrap.dedent('''
    import os

    def inputs(params, rng):
        return {"x": rng.standard_normal((params["n"], params["n"])).astype("float32")}

    def reference(x):
        return x.astype("float64") * 2

    def numpy(x):
        for _ in range(int(os.environ.get("AB_TEST_EXTRA", "0"))):  # more work, the same result
            x + x
        return x * (3 if os.environ.get("AB_TEST_WRONG") else 2)
''')
SPEC = textwrap.dedent('''
    version: 1
    workloads:
      - name: double
        kind: python
        module: abwork
        dtype: float32
        sweep: {n: [32]}
''')


def write(tmp_path):
    (tmp_path / "abwork.py").write_text(MODULE)
    spec = tmp_path / "ab.yaml"
    spec.write_text(SPEC)
    return spec


def test_the_candidates_environment_reaches_only_its_workers(tmp_path):
    spec = write(tmp_path)
    out = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["ab", str(spec), "-f", "numpy", "--candidate-env", "AB_TEST_WRONG=1",
                                      "--budget", "0.06", "--rounds", "2", "--out", str(tmp_path / "run"),
                                      "--json", str(out), "--md", str(tmp_path / "ab.md"),
                                      "--html", str(tmp_path / "ab.html")])
    assert result.exit_code == 1, result.output
    document = json.loads(out.read_text())
    assert document["version"] == 1
    (cell,) = document["cells"]
    assert cell["cell"] == "double[n=32]/numpy/eager/cpu" and cell["verdict"] == "broken"
    assert "candidate mismatch" in cell["reason"]
    assert document["sides"]["candidate"]["environment"] == {"AB_TEST_WRONG": "1"}
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert {(r["side"], r["status"]) for r in records} == {("baseline", "ok"), ("candidate", "mismatch")}
    assert "broken" in (tmp_path / "ab.md").read_text() and "<svg" not in (tmp_path / "ab.html").read_text()


def test_identical_sides_are_paired_in_time_and_judged(tmp_path):
    spec = write(tmp_path)
    out = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["ab", str(spec), "-f", "numpy", "--budget", "0.06", "--rounds", "4",
                                      "--rounds-per-start", "2", "--out", str(tmp_path / "run"), "--json", str(out)])
    assert result.exit_code in (0, 1), result.output
    (cell,) = json.loads(out.read_text())["cells"]
    assert cell["verdict"] in ("same", "undecided", "slower", "faster")
    assert cell["low"] <= cell["ratio"] <= cell["high"] and "paired turns" in cell["method"]
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert all(r["turn_starts_s"] for r in records) and {r["side"] for r in records} == {"baseline", "candidate"}
    # four rounds, two per start of the workers: each round a fork of its own
    assert sorted((r["side"], r["round"], r["worker_round"]) for r in records) == sorted(
        (side, number, 1 if number <= 2 else 3) for side in ("baseline", "candidate") for number in (1, 2, 3, 4))
    assert len({r["process_id"] for r in records}) == 8
    # a size's cells were prepared side by side, and the records say so
    assert all("prepared side by side" in r["settings"]["interleave"] for r in records)
    # one thread by default: each turn's threads all on the cycle's core, the workers themselves unpinned
    assert all(r["num_threads"] == 1 and "every thread of the process on that core" in r["settings"]["interleave"]
               for r in records)
    # both sides of a round start their heaps at the round's one place in a page, drawn afresh each round
    positions = {(r["side"], r["round"]): r["settings"]["allocator"]["heap_position"] for r in records}
    assert all(isinstance(position, int) for position in positions.values())
    assert all(positions["baseline", number] == positions["candidate", number] for number in (1, 2, 3, 4))
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["rounds_per_start"] == 2
    assert [entry.get("workers_of_round") for entry in manifest["rounds"]] == [None, 1, None, 3]
    assert len(manifest["workers"]) == 4  # two sides, two starts
    assert manifest["num_threads"] == 1
    assert all(worker["cpu_affinity"] == sorted(os.sched_getaffinity(0)) for worker in manifest["workers"])


def test_a_cell_decided_at_a_look_takes_no_more_rounds(tmp_path):
    """A hundred more operations a call are slower beyond doubt after three rounds: the first look stops the
    cell there, where an open cell would go on to the fifth round's look and then the tenth round.  Under a
    loaded test machine three rounds' 99% interval can still be too wide (t with two degrees of freedom), so
    the fifth round's look may be the one: either way, no round past a look."""
    spec = write(tmp_path)
    out = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["ab", str(spec), "-f", "numpy", "--candidate-env", "AB_TEST_EXTRA=100",
                                      "--budget", "0.2", "--out", str(tmp_path / "run"), "--json", str(out)])
    assert result.exit_code == 1, result.output
    (cell,) = json.loads(out.read_text())["cells"]
    assert cell["verdict"] == "slower" and cell["low"] > 1.1
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    rounds = {side: sorted(r["round"] for r in records if r["side"] == side) for side in ("baseline", "candidate")}
    assert rounds["baseline"] == rounds["candidate"] and rounds["baseline"] in ([1, 2, 3], [1, 2, 3, 4, 5])


def test_the_look_keeps_the_open_cells_and_the_progress_bar_forgets_the_others_rounds():
    import types

    from fwbench.execution.interleave import _still_open

    cells = [types.SimpleNamespace(cell_id=name) for name in ("a#baseline", "a#candidate", "b#baseline",
                                                               "b#candidate")]
    records = [{"cell_id": "a#baseline", "round": 1}, {"cell_id": "other", "round": 1}]
    seen, added = [], []
    kept = _still_open(cells, records, lambda found, after: seen.append((found, after)) or {"a#baseline",
                                                                                           "a#candidate"},
                       3, 5, types.SimpleNamespace(add=added.append))
    assert [cell.cell_id for cell in kept] == ["b#baseline", "b#candidate"]
    assert seen == [([{"cell_id": "a#baseline", "round": 1}], 3)]  # only the size's own records, and the look
    assert added == [-10]


def test_a_side_whose_framework_fails_in_its_workers_is_named():
    from fwbench.cli.ab_command import unavailable_side
    from fwbench.execution.groups import WorkerSide

    sides = {name: WorkerSide(name, "/usr/bin/python3") for name in ("baseline", "candidate")}
    ok = {"side": "baseline", "framework": "jax", "status": "ok"}
    gone = {"side": "candidate", "framework": "jax", "status": "skipped",
            "reason": "unavailable: ImportError: libjax.so missing"}
    error = unavailable_side([ok, gone], sides)
    assert error is not None and "--candidate" in str(error) and "jax" in str(error) and "libjax" in str(error)
    assert unavailable_side([ok, dict(ok, side="candidate")], sides) is None
    # unavailable on both sides (no such device here): nothing to blame on one side
    assert unavailable_side([dict(gone, side="baseline"), gone], sides) is None


def test_a_side_that_lacks_a_framework_is_one_line_and_exit_2(tmp_path):
    spec = write(tmp_path)
    fake = tmp_path / "fake" / "numpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no numpy in this environment')\n")
    completed = subprocess.run([sys.executable, "-m", "fwbench", "ab", str(spec), "-f", "numpy", "--candidate-env",
                                f"PYTHONPATH={tmp_path / 'fake'}", "--out", str(tmp_path / "run")],
                               capture_output=True, text=True)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "--candidate" in lines[0] and "no numpy" in lines[0], lines
    assert not (tmp_path / "run" / "results.jsonl").exists()


def test_an_interpreter_that_is_not_there_is_exit_2(tmp_path):
    spec = write(tmp_path)
    result = CliRunner().invoke(app, ["ab", str(spec), "--baseline", str(tmp_path / "nope" / "python")])
    assert result.exit_code == 2
    assert "--baseline" in result.output and "not an interpreter" in result.output
