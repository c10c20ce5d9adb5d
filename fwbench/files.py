"""Writing fwbench's files: one atomic writer, JSON-safe values, and one-line errors when the disk refuses.

Every file fwbench writes whole (``run.json``, ``results.csv``, reports, stored calibration, a repaired
``results.jsonl``) goes through :func:`write_atomic`: written to a temporary file beside it and renamed into
place, so a reader sees the old file or the new one, never half of one.  A write the disk refuses (full,
read-only, gone) is :class:`OutputError`, one line naming the path, the free space and what is safe
already, with a fix; :func:`check_writable` asks the same of ``--out`` before anything is measured.
``results.jsonl`` itself is appended record by record (:mod:`fwbench.records.journal`).
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from fwbench.errors import UserError


class OutputError(UserError):
    """The output could not be written (a full disk, a read-only or vanished directory): one line, exit 2."""


def _nearest_existing(path: Path) -> Path:
    """``path``, or the nearest folder above it that exists."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing


def free_space_text(path: Path) -> str:
    """How much space the filesystem holding ``path`` (or its nearest existing parent) has left, in words."""
    from fwbench.units import format_bytes

    try:
        return f"{format_bytes(shutil.disk_usage(_nearest_existing(path)).free)} free there"
    except OSError:
        return "free space unknown"


def _fix_for(error: OSError, otherwise: str) -> str:
    """What to do about a failed write: make room, or write elsewhere; ``otherwise`` for other errors."""
    if error.errno == errno.ENOSPC:
        return "free some space or choose another --out"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "choose a writable --out"
    return otherwise


def output_error(path: Path, error: OSError, done: str) -> OutputError:
    """The one-line error for a failed write of ``path``; ``done`` says what is safe already."""
    return OutputError(f"cannot write {path}: {error.strerror or error} ({free_space_text(path)}); {done}",
                       hint=_fix_for(error, "check the output directory"))


MIN_FREE_BYTES = 2**20  # a run's records, manifest and logs need at least this much to start


def check_writable(directory: Path) -> None:
    """Before anything runs: ``directory`` (``--out``), or the nearest folder above it that exists, takes a file
    written and synced, and its filesystem has :data:`MIN_FREE_BYTES` free; else one :class:`OutputError`
    naming what failed and where.  Nothing is left behind (no folder is made)."""
    from fwbench.units import format_bytes

    directory = Path(directory)
    existing = _nearest_existing(directory)
    probe = existing / f".fwbench-write-test-{os.getpid()}"
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
        with open(probe, "wb") as handle:
            handle.write(b"\0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
        free = shutil.disk_usage(existing).free
    except OSError as error:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
        raise OutputError(f"--out {directory}: cannot write there: {error.strerror or error} "
                          f"({free_space_text(directory)}); nothing was measured",
                          hint=_fix_for(error, "choose a writable --out")) from None
    if free < MIN_FREE_BYTES:
        raise OutputError(f"--out {directory}: only {format_bytes(free)} free there, and a run needs "
                          f"{format_bytes(MIN_FREE_BYTES)} at least; nothing was measured",
                          hint="free some space or choose another --out")


def json_safe(value: Any) -> Any:
    """``value`` with NaN as None and infinities as "inf"/"-inf", all the way down: what JSON can hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_atomic(path: str | Path, data: bytes, kept: str) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place, so a reader never sees
    half a file; on failure remove the temporary and raise :func:`output_error` saying ``kept`` (what is
    left as it was).  The one atomic writer of fwbench's files (:func:`write_text_atomic`, ``fwbench repair``)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)  # no temporary left behind
        raise output_error(path, error, kept) from None


def write_text_atomic(path: str | Path, text: str) -> None:
    """``text`` written whole to ``path`` (:func:`write_atomic`)."""
    write_atomic(path, text.encode("utf-8"), f"{path} keeps its earlier content")


def write_json_atomic(data: Any, path: str | Path) -> None:
    """``data`` as indented JSON (:func:`json_safe`: NaN as null, infinities as strings), written whole."""
    write_text_atomic(path, json.dumps(json_safe(data), indent=2) + "\n")
