"""The tree is clean under ruff, with the rule set pyproject.toml states (make test also runs it first)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    completed = subprocess.run([sys.executable, "-m", "ruff", "check", "fwbench", "tests", "bench"], cwd=ROOT,
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-1000:]


def test_the_rule_set_is_stated_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert "[tool.ruff.lint]" in text and 'select = ["E", "F", "W", "I"]' in text and "line-length = 120" in text
