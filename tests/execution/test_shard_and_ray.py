"""Beyond one machine: shards that merge back into the whole run, and the Ray executor on a local cluster."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fwbench.cli import app
from fwbench.errors import UserError
from fwbench.execution.plan import Selection, plan_cells
from fwbench.execution.shard import assign, estimated_seconds, parse_shard
from fwbench.records.results import read_records
from fwbench.spec.loader import load_specs
from tests.conftest import REPO_ROOT, REQUIRE_ALL

# Nine cells (three workloads, numpy/eager and jax's two modes), enough for three shards to differ.
SPEC = "version: 1\nworkloads:" + "".join(f"""
  - name: {name}
    kind: expression
    expr: "{expression}"
    inputs:
      x: {{shape: [{size}, {size}]}}
""" for name, expression, size in (("power_sum", "x + x*x + x*x*x", 64), ("gemm", "x @ x", 96),
                                   ("tanh", "tanh(x)", 32)))
QUICK_ARGS = ["--quick", "-f", "numpy", "-f", "jax", "--no-calibrate"]
runner = CliRunner()


def fwbench(*arguments, env=None):
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "fwbench", *arguments], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=environment, timeout=900)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "three.yaml"
    path.write_text(SPEC)
    return str(path)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, spec_path):
    out = tmp_path_factory.mktemp("local") / "run"
    result = fwbench("run", spec_path, *QUICK_ARGS, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert len(outcome(out)) == 9
    return out


def outcome(directory):
    return sorted((r["cell_id"], r["status"]) for r in read_records(directory))


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "", "1/0"])
def test_bad_shard_values(text):
    with pytest.raises(UserError, match="--shard"):
        parse_shard(text)


def test_shards_partition_the_cells_and_balance_cost():
    cells = plan_cells(load_specs([REPO_ROOT / "workloads"]), Selection(devices=["cpu"]))
    shards = assign(cells, 3)
    assert shards == assign(list(cells), 3)  # deterministic
    loads = [sum(estimated_seconds(c) for c, s in zip(cells, shards) if s == k) for k in range(3)]
    assert max(loads) < 1.15 * min(loads)  # balanced by estimated cost
    assert sorted(set(shards)) == [0, 1, 2]


@pytest.mark.slow
def test_three_shards_merge_into_exactly_the_unsharded_run(local_run, spec_path, tmp_path):
    for k in (1, 2, 3):
        result = fwbench("run", spec_path, *QUICK_ARGS, "--shard", f"{k}/3", "--out", str(tmp_path / f"shard{k}"))
        assert result.returncode == 0, result.stderr
    shard_cells = [outcome(tmp_path / f"shard{k}") for k in (1, 2, 3)]
    assert all(shard_cells) and sum(len(cells) for cells in shard_cells) == len(outcome(local_run))
    merged = tmp_path / "merged"
    result = runner.invoke(app, ["merge", *(str(tmp_path / f"shard{k}") for k in (1, 2, 3)), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    assert outcome(merged) == outcome(local_run)
    manifest = json.loads((merged / "run.json").read_text())
    assert len(manifest["merged_from"]) == 3
    report = runner.invoke(app, ["report", str(merged)])
    assert report.exit_code == 0 and (merged / "report.html").exists()

    duplicate = runner.invoke(app, ["merge", str(tmp_path / "shard1"), str(tmp_path / "shard1"),
                                    "--out", str(tmp_path / "twice")])
    assert duplicate.exit_code == 2 and "is also in" in duplicate.output
    altered = tmp_path / "altered"
    shutil.copytree(tmp_path / "shard2", altered)
    lines = (altered / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["spec_hash"] = "0" * 64
    (altered / "results.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    mismatch = runner.invoke(app, ["merge", str(tmp_path / "shard1"), str(altered), "--out", str(tmp_path / "bad")])
    assert mismatch.exit_code == 2 and "differs from the one in" in mismatch.output

    elsewhere = tmp_path / "elsewhere"  # shard 3 as if measured on another kind of machine
    shutil.copytree(tmp_path / "shard3", elsewhere)
    manifest = json.loads((elsewhere / "run.json").read_text())
    manifest["host"]["cpu_model"] = "Another CPU"
    (elsewhere / "run.json").write_text(json.dumps(manifest))
    records = [json.loads(line) for line in (elsewhere / "results.jsonl").read_text().splitlines()]
    for record in records:
        record["host"]["cpu_model"] = "Another CPU"
    (elsewhere / "results.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    shards = [str(tmp_path / "shard1"), str(tmp_path / "shard2"), str(elsewhere)]
    refused = runner.invoke(app, ["merge", *shards, "--out", str(tmp_path / "mixed")])
    assert refused.exit_code == 2, refused.output
    assert "different machines" in refused.output and "Another CPU" in refused.output
    assert "--allow-mixed-hosts" in refused.output and not (tmp_path / "mixed" / "results.jsonl").exists()
    allowed = runner.invoke(app, ["merge", *shards, "--out", str(tmp_path / "mixed"), "--allow-mixed-hosts"])
    assert allowed.exit_code == 0, allowed.output
    merged_records = [json.loads(line) for line in (tmp_path / "mixed" / "results.jsonl").read_text().splitlines()]
    other_ids = {record["cell_id"] for record in records}
    assert {r["host"]["cpu_model"] == "Another CPU" for r in merged_records if r["cell_id"] in other_ids} == {True}
    assert {r["host"]["cpu_model"] == "Another CPU" for r in merged_records if r["cell_id"] not in other_ids} \
        == {False}


@pytest.mark.slow
def test_ray_executor_on_a_local_cluster_gives_the_same_ok_cells(local_run, spec_path, tmp_path):
    try:
        import ray  # noqa: F401
    except ImportError:
        if REQUIRE_ALL:
            pytest.fail("ray is not installed ('make test' installs fwbench[ray])")
        pytest.skip("ray is not installed")
    out = tmp_path / "ray"
    # A local Ray cluster of 2 CPUs on loopback, started and stopped by this run.
    result = fwbench("run", spec_path, *QUICK_ARGS, "--executor", "ray", "--out", str(out),
                     env={"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert outcome(out) == outcome(local_run)
    records = read_records(out)
    assert {r["executor"] for r in records if r["status"] == "ok"} == {"ray"}
    assert all(r["node"] and r["host"]["hostname"] == r["node"] for r in records if r["status"] == "ok")
    assert json.loads((out / "run.json").read_text())["executor"] == "ray"


def test_ray_executor_without_ray_is_a_clear_error(tmp_path):
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    result = subprocess.run([sys.executable, "-m", "fwbench", "run", *QUICK_ARGS, "--executor", "ray", "--out",
                             str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO_ROOT,
                            env=dict(os.environ, PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{shadow.parent}"))
    assert result.returncode == 2
    assert "--executor ray needs Ray, which is not installed (fix: pip install 'fwbench[ray]')" in result.stderr
    assert not (tmp_path / "out").exists()
