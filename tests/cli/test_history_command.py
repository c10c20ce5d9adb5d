"""fwbench history over recorded runs: the run that introduced a step, in the console, JSON, Markdown and HTML."""

import json
import math
import random

from typer.testing import CliRunner

from fwbench.cli import app


def write_runs(directory, count=24, start=14, step=1.3):
    generator = random.Random(5)
    for index in range(count):
        run = directory / f"run{index:02d}"
        run.mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({"run_id": f"r{index:02d}", "started": f"2026-12-{1 + index // 12:02d}"
                                                  f"T{index % 12:02d}:00:00+00:00"}))
        lines = []
        for cell, factor in (("steps[n=8]/numpy/eager/cpu", step if index >= start else 1.0),
                             ("flat[n=8]/numpy/eager/cpu", 1.0)):
            median = 1e-3 * factor * math.exp(generator.gauss(0, 0.03))
            lines.append({"version": 1, "cell_id": cell, "workload": cell.split("[")[0], "params": {"n": 8},
                          "framework": "numpy", "mode": "eager", "device": "cpu", "dtype": "float32",
                          "status": "ok", "run_id": f"r{index:02d}", "round": 1, "median_s": median,
                          "samples_s": [median] * 5, "n_samples": 5, "method": "fwbench"})
        (run / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_history_names_the_run_that_introduced_the_step(tmp_path):
    write_runs(tmp_path / "artifacts")
    out = tmp_path / "history.json"
    result = CliRunner().invoke(app, ["history", str(tmp_path / "artifacts"), "--json", str(out),
                                      "--md", str(tmp_path / "h.md"), "--html", str(tmp_path / "h.html")])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["version"] == 1 and document["series"] == 2 and len(document["runs"]) == 24
    (change,) = document["changes"]
    assert change["cell"] == "steps[n=8]/numpy/eager/cpu" and change["run"] in ("r14", "r15", "r16")
    assert 1.2 < change["size"] < 1.4 and change["p_value"] < 1e-3 and change["noise_threshold"] > 1
    assert "steps[n=8]" in result.output and "flat[n=8]" not in result.output
    assert "steps[n=8]" in (tmp_path / "h.md").read_text()
    page = (tmp_path / "h.html").read_text()
    assert page.count("<svg") == 1 and "stroke-dasharray" in page and "http" not in page


def test_too_few_runs_is_a_one_line_error(tmp_path):
    write_runs(tmp_path / "artifacts", count=3, start=1)
    result = CliRunner().invoke(app, ["history", str(tmp_path / "artifacts")])
    assert result.exit_code == 2 and "at least 4" in result.output
