"""How a child process ended, in words: shared by the worker (its cells' processes) and the parent (workers)."""

from __future__ import annotations

import signal


def describe_exit(code: int) -> str:
    """``exited with code 3`` or ``killed by signal SIGSEGV``, from an exit code (negative: the signal)."""
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
