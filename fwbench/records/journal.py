"""results.jsonl on disk, crash-safe: each record written whole or not at all, broken lines set aside.

The writer (:class:`ResultsWriter`) appends one record as one ``write`` of the line and its newline, then
flushes it to the disk (``fsync``).  A write that fails, or writes only part of the line (a full disk),
is undone (the file is cut back to where it was) and raises :class:`fwbench.files.OutputError`, so the file never holds
half a record that this process wrote.  A crash or power loss can still leave a last line cut short: the
writer, when it opens a file, and every reader (:func:`read_lines`) treat a last line without its newline,
or a last line that does not parse, as cut short.  It is *set aside*: copied into ``results.setaside.jsonl``
beside it (once, as ``{"line": N, "reason": ..., "text": ...}``) with one warning, and left out of what is
read; the writer also cuts it from the file, so new records start on a line of their own, and
``fwbench run --resume`` measures that cell's round again.  A broken line in the middle of the file is
an error whose fix is ``fwbench repair DIR`` (:func:`repair`), which moves every broken line to the side
file and keeps every whole record.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fwbench.errors import UserError
from fwbench.files import json_safe, output_error, write_atomic
from fwbench.records.cell import check_fields

SET_ASIDE_FILE = "results.setaside.jsonl"


class ResultsWriter:
    """Appends records to ``DIR/results.jsonl``, each whole, flushed and fsynced before :meth:`write` returns.

    Opening it sets aside a last line cut short by an earlier crash (see the module's docstring)."""

    def __init__(self, directory: Path, file_name: str = "results.jsonl") -> None:
        self.path = Path(directory) / file_name
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            set_aside_tail(self.path, cut=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            raise output_error(self.path, error, "nothing was measured") from None
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        """Append one round record (its fields must be defined in :mod:`fwbench.records.cell`), whole."""
        check_fields(record)
        data = (json.dumps(json_safe(record)) + "\n").encode("utf-8")
        size = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(self._fd)
        except OSError as error:
            try:
                os.ftruncate(self._fd, size)  # no half record stays behind
            except OSError:
                pass
            raise output_error(self.path, error, f"the {self.written} records written before it are whole in "
                                                 f"{self.path}; finish the run with: fwbench run --resume "
                                                 f"{self.path.parent}") from None
        self.written += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def _broken_tail(data: bytes) -> tuple[int, int, str] | None:
    """Where the last line starts, its number and why it is broken, if it is: cut short (no newline) or not a
    record (the file's last complete line does not parse)."""
    if not data:
        return None
    if not data.endswith(b"\n"):
        start = data.rfind(b"\n") + 1
        return start, data.count(b"\n", 0, start) + 1, "cut short (no newline at its end)"
    body = data[:-1]
    start = body.rfind(b"\n") + 1
    if body[start:].strip() and not _parses(body[start:]):
        return start, data.count(b"\n", 0, start) + 1, "not a whole record (it does not parse)"
    return None


_WARNED: set[tuple[str, int]] = set()


def set_aside_tail(path: Path, cut: bool) -> int | None:
    """If the last line of ``path`` is broken, copy it to the side file (once) and warn (once per process);
    with ``cut``, also cut it from ``path``.  The broken line's number, or None."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    tail = _broken_tail(data)
    if tail is None:
        return None
    start, number, reason = tail
    text = data[start:].rstrip(b"\n").decode("utf-8", errors="replace")
    _keep_aside(path, [(number, reason, text)])
    if cut:
        with open(path, "r+b") as handle:
            handle.truncate(start)
            handle.flush()
            os.fsync(handle.fileno())
    if (str(path), number) not in _WARNED:
        _WARNED.add((str(path), number))
        print(f"fwbench: warning: {path}, line {number} is {reason}, as a crash leaves it: set aside in "
              f"{path.parent / SET_ASIDE_FILE} and left out (fwbench run --resume {path.parent} measures it "
              "again)", file=sys.stderr)
    return number


def _keep_aside(path: Path, lines: list[tuple[int, str, str]]) -> None:
    """Append the broken lines to the side file beside ``path``, each once."""
    side = path.parent / SET_ASIDE_FILE
    kept = set()
    if side.is_file():
        for line in side.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                kept.add((entry.get("line"), entry.get("text")))
            except json.JSONDecodeError:
                continue
    with open(side, "a", encoding="utf-8") as handle:
        for number, reason, text in lines:
            if (number, text) in kept:
                continue
            handle.write(json.dumps({"line": number, "reason": reason, "text": text, "file": path.name,
                                     "set_aside": datetime.now(timezone.utc).isoformat(timespec="seconds")})
                         + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Every whole record of ``path`` with its line number; a broken last line is set aside (not cut, since a
    reader may not hold the run), a broken line before it is an error that names the repair."""
    data = path.read_bytes()
    tail = _broken_tail(data)
    if tail is not None:
        set_aside_tail(path, cut=False)
        data = data[:tail[0]]
    records = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict):
            raise UserError(f"{path}, line {number}: not a whole record (a line broken in the middle of the file)",
                            hint=f"run 'fwbench repair {path.parent}': it moves broken lines to {SET_ASIDE_FILE} "
                                 f"and keeps every whole record; then 'fwbench run --resume {path.parent}' "
                                 "measures what they held")
        records.append((number, record))
    return records


def repair(path: Path) -> tuple[int, int]:
    """Move every line of ``path`` that is not a whole record to the side file and rewrite ``path`` with the
    rest (atomically); (records kept, lines set aside)."""
    data = path.read_bytes()
    good, bad = [], []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        if _parses(line):
            good.append(line)
        else:
            bad.append((number, "not a whole record", line.decode("utf-8", errors="replace")))
    if bad:
        _keep_aside(path, bad)
        write_atomic(path, b"".join(line + b"\n" for line in good), f"{path} is unchanged")
    return len(good), len(bad)
