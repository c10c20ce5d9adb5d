"""``kind: python`` workload modules and kinds registered by other packages (entry points)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from fwbench.errors import SpecError
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.records.results import read_cells
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
from tests.cli.test_cli import fwbench
from tests.conftest import REPO_ROOT, require_framework

TWO_FRAMEWORKS = '''
import numpy as np


def inputs(params, rng):
    return {"x": rng.standard_normal((params["n"], params["n"]), dtype=np.float32)}


def reference(x):
    return np.tanh(x) @ x


def numpy(x):
    return np.tanh(x) @ x


def torch(x):
    import torch

    return torch.tanh(x) @ x


def flops(params):
    return 2 * params["n"] ** 3
'''
SPEC = """
version: 1
workloads:
  - name: {name}
    kind: python
    module: {module}
    sweep: {{n: [32]}}
"""


def write_module(tmp_path, name, text):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.mark.slow
def test_a_module_defining_two_frameworks_runs_those_and_skips_the_others_with_the_reason(write_spec, tmp_path):
    write_module(tmp_path, "tanh_matmul", TWO_FRAMEWORKS)
    spec = write_spec(SPEC.format(name="tanh_matmul", module="tanh_matmul"), name="tanh.yaml")
    out = tmp_path / "run"
    run(load_specs([spec]), RunOptions(out_dir=out, timer=TimerSettings.quick(),
                                       selection=Selection(devices=["cpu"])))
    cells = {(cell["framework"], cell["mode"]): cell for cell in read_cells(out)}
    require_framework("torch")
    for key in (("numpy", "eager"), ("torch", "eager"), ("torch", "compile")):
        assert cells[key]["status"] == "ok", cells[key].get("reason")
        assert cells[key]["flops"] == 2 * 32**3 and cells[key]["gflops_per_s"] > 0
        assert cells[key]["max_rel_err"] < 1e-4
    for framework in ("jax", "tensorflow"):
        skipped = [cell for (name, _), cell in cells.items() if name == framework]
        assert skipped and all(cell["status"] == "skipped" for cell in skipped)
        assert all(f"defines no '{framework}' function (it defines numpy, torch)" in cell["reason"] for cell in skipped)


@pytest.mark.parametrize("module_text, field_message", [
    (None, "cannot find the module 'absent_module'"),
    ("def reference(x):\n    return x\n\ndef numpy(x):\n    return x\n", "defines no 'inputs' function"),
    ("def inputs(params, rng):\n    return {}\n\ndef reference(x):\n    return x\n", "defines none of the functions"),
    ("def inputs(params rng):\n", "line 1"),
])
def test_bad_modules_are_refused_before_anything_runs_naming_file_workload_and_field(write_spec, tmp_path,
                                                                                  module_text, field_message):
    name = "absent_module" if module_text is None else "bad_module"
    if module_text is not None:
        write_module(tmp_path, name, module_text)
    spec = write_spec(SPEC.format(name="w", module=name), name="bad.yaml")
    with pytest.raises(SpecError) as raised:
        load_specs([spec])
    text = str(raised.value)
    assert str(spec) in text and "workload 'w'" in text and "field 'module'" in text and field_message in text
    result = fwbench("run", str(spec), "--out", str(tmp_path / "out"), "--no-calibrate")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_a_function_that_raises_fails_its_cell_with_the_cause_and_nothing_else(write_spec, tmp_path):
    write_module(tmp_path, "raises", TWO_FRAMEWORKS.replace(
        "def torch(x):\n    import torch\n", "def torch(x):\n    raise ValueError('the torch version is broken')\n"))
    spec = write_spec(SPEC.format(name="raises", module="raises"), name="raises.yaml")
    out = tmp_path / "run"
    run(load_specs([spec]), RunOptions(out_dir=out, timer=TimerSettings.quick(),
                                       selection=Selection(frameworks=["numpy", "torch"], devices=["cpu"],
                                                           modes=["eager"])))
    cells = {cell["framework"]: cell for cell in read_cells(out)}
    assert cells["numpy"]["status"] == "ok"
    assert cells["torch"]["status"] == "error" and "the torch version is broken" in cells["torch"]["reason"]


def test_list_and_run_say_which_modules_a_spec_imports(write_spec, tmp_path):
    write_module(tmp_path, "tanh_matmul", TWO_FRAMEWORKS)
    spec = write_spec(SPEC.format(name="tanh_matmul", module="tanh_matmul"), name="tanh.yaml")
    listed = fwbench("list", str(spec))
    assert listed.returncode == 0, listed.stderr
    shown = " ".join(listed.stdout.split())
    assert "import Python code, which runs in the workers: tanh_matmul (" in shown and "tanh_matmul.py" in shown


@pytest.mark.slow
def test_the_examples_run_in_all_four_frameworks(tmp_path):
    """workloads/examples/: attention as expressions (one head with k.T; eight heads split with reshape and
    permute_dims), conv2d as a Python module."""
    for framework in ("numpy", "jax", "torch", "tensorflow"):
        require_framework(framework)
    out = tmp_path / "examples"
    run(load_specs([REPO_ROOT / "workloads" / "examples"]),
        RunOptions(out_dir=out, timer=TimerSettings.quick(), selection=Selection(devices=["cpu"], quick=True)))
    cells = read_cells(out)
    assert {(cell["workload"], cell["framework"]) for cell in cells} == {
        (workload, framework) for workload in ("attention", "multi_head_attention", "conv2d")
        for framework in ("numpy", "jax", "torch", "tensorflow")}
    assert all(cell["status"] == "ok" for cell in cells), [(c["cell_id"], c.get("reason")) for c in cells]


DEMO_KIND = '''
from fwbench.kinds.expression import ExpressionKind


class SquareKind(ExpressionKind):
    """A third-party kind: x * x over one input, its size the sweep's n."""

    NAME = "square"
    FIELDS = ()
    REQUIRED_FIELDS = ()

    @classmethod
    def parse_options(cls, reader, sweep):
        return {"expr": "x * x", "inputs": {"x": {"shape": ["n"], "dtype": "float32", "init": "normal"}}}
'''


def test_a_kind_registered_by_another_package_through_entry_points(write_spec, tmp_path):
    site = tmp_path / "site"
    (site / "fwbench_square-0.1.dist-info").mkdir(parents=True)
    (site / "fwbench_square-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: fwbench-square\n"
                                                                    "Version: 0.1\n")
    (site / "fwbench_square-0.1.dist-info" / "entry_points.txt").write_text(
        "[fwbench.kinds]\nsquare = fwbench_square:SquareKind\n")
    (site / "fwbench_square.py").write_text(DEMO_KIND)
    spec = write_spec("version: 1\nworkloads:\n  - name: sq\n    kind: square\n    sweep: {n: [64]}\n")
    environment = dict(os.environ, PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{site}")

    def with_package(*arguments):
        return subprocess.run([sys.executable, "-m", "fwbench", *arguments], capture_output=True, text=True,
                              env=environment, cwd=REPO_ROOT, timeout=600)

    listed = with_package("list", str(spec))
    assert listed.returncode == 0, listed.stderr
    out = tmp_path / "out"
    result = with_package("run", str(spec), "-f", "numpy", "--quick", "--out", str(out), "--no-calibrate")
    assert result.returncode == 0, result.stderr
    (cell,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert (cell["kind"], cell["status"]) == ("square", "ok")
    unknown = fwbench("list", str(spec))  # without the package, the kind is unknown and the error says so
    assert unknown.returncode == 2 and "square" in unknown.stderr
