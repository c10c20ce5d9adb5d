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
