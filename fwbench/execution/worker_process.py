"""The one way the parent starts and talks to a worker (:data:`WORKER_COMMAND`).

Every executor (sequential rounds, ``--interleave``, Ray) uses
:class:`WorkerProcess`: it spawns the worker in its own session with the
framework's thread environment, sends JSON lines to its stdin, reads JSON
lines from its stdout on a reader thread (so a read can time out), keeps its
stderr in a log file whose tail explains a death, and kills its whole
process group (the worker and the cell it forked) when asked or when a read
times out.  The parent imports no framework: everything framework-specific
happens in the worker.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fwbench.errors import describe_exit

STDERR_TAIL_LINES = 15
# The worker's module is imported, then its main() called: run as ``python -m fwbench.worker`` (its module
# executing as __main__) a TensorFlow op on 16x16 inputs took 92-97 µs in the worker against 86-89 µs this
# way and 85-92 µs in a plain script (three processes each, alternating; README: how a cell is timed).
WORKER_COMMAND = [sys.executable, "-c", "import sys; from fwbench.worker import main; sys.exit(main())"]


def worker_environment(thread_environment: dict[str, str], unset: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """This process's environment less the ``unset`` variables (``--unset-env``), plus the framework's thread
    settings, with fwbench importable."""
    environment = {name: value for name, value in os.environ.items() if name not in set(unset)}
    environment.update(thread_environment)
    environment["PYTHONUNBUFFERED"] = "1"
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [environment.get("PYTHONPATH")])])
    return environment


class WorkerProcess:
    """A running worker: :meth:`send` a message, :meth:`receive` the next one (or None once it has gone, at
    once on every later call).

    After ``receive`` returns None, :attr:`cause` says why in a few words (a
    timeout, after which the worker was killed, or how it exited), and
    :meth:`stderr_tail` gives the last lines it printed.
    """

    def __init__(self, environment: dict[str, str], log_path: Path, python: str | None = None) -> None:
        """Start the worker, with ``python`` for the interpreter when given (``fwbench ab``'s sides)."""
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [python, *WORKER_COMMAND[1:]] if python else WORKER_COMMAND
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, env=environment, start_new_session=True)
        self.lines: queue.Queue = queue.Queue()
        self.cause: str | None = None
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        for raw in self.process.stdout:
            self.lines.put(raw.decode("utf-8", errors="replace"))
        self.lines.put(None)

    def send(self, message: dict[str, Any]) -> bool:
        """Write one line to the worker; False if it can no longer read."""
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self.process.stdin.flush()
            return True
        except (BrokenPipeError, ValueError, OSError):
            return False

    def close_input(self) -> None:
        try:
            self.process.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def receive(self, timeout_s: float) -> dict[str, Any] | None:
        """The next protocol message; None when the worker has ended or did not answer in ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                self.cause = f"timed out after {timeout_s:.0f} s"
                return None
            if line is None:
                # the end stays in the queue: a worker serving several cells (an interleaved size's members,
                # prepared side by side) is asked for each one's reply, and every ask must learn it has gone
                self.lines.put(None)
                self.cause = f"worker {describe_exit(self.process.wait())}"
                return None
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue  # not a protocol line

    def stop(self, timeout_s: float = 60) -> None:
        """Ask the worker to exit (``{"cmd": "exit"}``, end of input); kill it if it does not."""
        if self.process.poll() is None:
            self.send({"cmd": "exit"})
            self.close_input()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the worker's process group (the worker and any cell process it forked)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
        self.process.wait()

    def wait(self) -> int:
        return self.process.wait()

    def stderr_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "no worker log"
        tail = [line for line in lines if line.strip()][-STDERR_TAIL_LINES:]
        return "last worker output: " + " | ".join(tail)[-1500:] if tail else "the worker printed nothing"
