"""Shared test helpers.

``write_spec`` writes a throwaway spec from a string.  ``require_framework``
skips a test when a framework is missing, except when
``FWBENCH_REQUIRE_ALL_FRAMEWORKS=1`` (set by ``make test``), where a missing
framework fails the test instead.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ALL = os.environ.get("FWBENCH_REQUIRE_ALL_FRAMEWORKS") == "1"


def pytest_configure(config):
    # Calibrations made by tests stay out of the user's ~/.cache.
    if "FWBENCH_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["FWBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="fwbench-test-cache-")
    # The suite's two processes take CPU beside each other's runs: no round is repeated or set apart for it
    # (the tests of that behaviour turn it on again).
    os.environ["FWBENCH_CONTENDED_CORES"] = "off"


def require_framework(name: str) -> None:
    if importlib.util.find_spec(name) is None:
        message = f"{name} is not installed"
        if REQUIRE_ALL:
            pytest.fail(f"{message}, and FWBENCH_REQUIRE_ALL_FRAMEWORKS=1 forbids skipping")
        pytest.skip(message)


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write ``text`` (dedented) as a spec file and return its path."""
    counter = {"n": 0}

    def write(text: str, name: str | None = None) -> Path:
        counter["n"] += 1
        path = tmp_path / (name or f"spec{counter['n']}.yaml")
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def test_kinds(monkeypatch):
    """Enable the test-only 'fault' kind in this process and in the workers it starts."""
    monkeypatch.setenv("FWBENCH_ENABLE_TEST_KINDS", "1")


GEMM_SPEC = """
version: 1
workloads:
  - name: gemm
    kind: expression
    expr: "a @ b"
    inputs:
      a: {{shape: [{n}, {n}], init: scaled_normal}}
      b: {{shape: [{n}, {n}], init: scaled_normal}}
"""

def killed_worker_spec(fault_file, extra: str = "") -> str:
    """A spec of one size (n=64) whose cell SIGKILLs its worker at the first call made while ``fault_file`` is
    absent, and writes it (so a retry runs normally); ``extra``: more YAML lines of the workload, indented four
    spaces (e.g. its ``modes``).  Test kinds must be enabled (``FWBENCH_ENABLE_TEST_KINDS=1``)."""
    return f"""
version: 1
workloads:
  - name: killed
    kind: fault
    expr: "x + x"
    fault: kill_worker
    fault_file: {fault_file}
    inputs:
      x: {{shape: [n, n], dtype: float32, init: normal}}
    sweep: {{n: [64]}}
{extra}"""


SMALL_SPEC = """
version: 1
workloads:
  - name: power_sum
    kind: expression
    expr: "x + x*x + x*x*x"
    inputs:
      x: {shape: [n, n], dtype: float32, init: normal}
    sweep: {n: [64, 128]}
"""


def run_in_process(spec_path, framework: str, modes=None, quick: bool = True, around_cell=None) -> list[dict]:
    """Run every cell of ``spec_path`` for ``framework`` through the worker's CellRunner, in this process.
    ``around_cell``, if given, is called as ``around_cell(run_cell)`` for each cell and returns the record."""
    from fwbench.adapters import get_adapter
    from fwbench.execution.plan import Selection, plan_cells
    from fwbench.spec.loader import load_specs
    from fwbench.stats.timing import TimerSettings
    from fwbench.worker.cells import CellRunner

    require_framework(framework)
    cells = plan_cells(load_specs([spec_path]), Selection(frameworks=[framework], devices=["cpu"],
                                                          modes=modes, quick=quick))
    adapter = get_adapter(framework)
    info = adapter.load(2)
    config = {
        "framework": framework, "device": "cpu", "num_threads": 2,
        "timer": TimerSettings(min_samples=3, budget_s=0.05, min_sample_s=0.001, warmup_s=0.0).to_dict(),
        "run": {"run_id": "test", "num_threads": 2, "host": {}},
        "workloads": {c.workload.name: c.workload.to_dict() for c in cells},
    }
    runner = CellRunner(adapter, config, info, [])
    runner.select_device()
    records = []
    for cell in cells:
        assert cell.skip_reason is None, cell.skip_reason
        run_cell = lambda cell=cell: runner.run(cell.to_dict())  # noqa: E731
        records.append(around_cell(run_cell) if around_cell else run_cell())
    return records
