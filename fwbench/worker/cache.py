"""Arrays saved once per run for the next workers: inputs slow to make and float64 references."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any


def cache_save(stem: str, arrays: list[Any], meta: dict[str, Any]) -> None:
    """Save arrays as STEM<i>.npy, then STEM.json last: a reader that finds the JSON finds every array."""
    import numpy

    os.makedirs(os.path.dirname(stem), exist_ok=True)
    for index, array in enumerate(arrays):
        numpy.save(f"{stem}{index}.tmp.npy", array)
        os.replace(f"{stem}{index}.tmp.npy", f"{stem}{index}.npy")
    with open(stem + ".json.tmp", "w", encoding="utf-8") as handle:
        json.dump({**meta, "count": len(arrays)}, handle)
    os.replace(stem + ".json.tmp", stem + ".json")


def cache_load(stem: str, read_only: bool = False) -> tuple[list[Any], dict[str, Any]] | None:
    """The arrays and metadata that :func:`cache_save` wrote, or None.  ``read_only`` maps the files
    instead of reading them (instant, for arrays that are only ever read, such as references)."""
    import numpy

    if not os.path.exists(stem + ".json"):
        return None
    with open(stem + ".json", encoding="utf-8") as handle:
        meta = json.load(handle)
    mode = "r" if read_only else None
    return [numpy.load(f"{stem}{index}.npy", mmap_mode=mode) for index in range(meta["count"])], meta


def inputs_digest(arrays: list[Any]) -> str:
    """SHA-256 over the host inputs' dtypes, shapes and bytes: proof that every framework got the same data."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.dtype.name}{array.shape}".encode())
        digest.update(memoryview(array.reshape(-1).view("uint8")))
    return digest.hexdigest()
