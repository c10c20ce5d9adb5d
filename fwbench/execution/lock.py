"""One run directory, one writer: an exclusive lock held for the whole run.

``fwbench run --out DIR`` (or ``--resume DIR``) takes an ``fcntl`` lock on
``DIR/.fwbench.lock`` before it measures anything, and holds it until the run
ends.  A second writer is refused at once with a line naming the process
that holds the directory.  The kernel drops the lock when its holder exits,
however it exits, so a killed run never leaves a stale lock behind; the file
itself stays (it records who held it last) and is ignored by every reader.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from fwbench.errors import UserError

LOCK_FILE = ".fwbench.lock"


class RunDirectoryLock:
    """``with RunDirectoryLock(out_dir):`` the run; raises :class:`UserError` if another process holds it."""

    def __init__(self, directory: Path, command: list[str] | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.command = command or []
        self._handle: TextIO | None = None

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            handle.close()
            raise UserError(
                f"{self.directory} is being written by another fwbench run "
                f"(process {holder.get('pid', '?')}, started {holder.get('started', '?')}: "
                f"{' '.join(holder.get('command', [])) or 'command unknown'})",
                hint="wait for that run to finish, or choose another --out",
            ) from None
        handle.seek(0)
        handle.truncate()
        json.dump({"pid": os.getpid(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "command": self.command}, handle)
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "RunDirectoryLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _read_holder(handle: TextIO) -> dict[str, Any]:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}
