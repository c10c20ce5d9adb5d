"""Arrays saved once per run for the next workers: inputs slow to make and float64 references."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

# Inputs and references are saved for the run's later processes when making them took this long at least, and
# longer than reading their bytes back would (at LOAD_BYTES_PER_S, a cautious figure for a file the page cache
# holds).  The threshold was 0.5 s: a float64 reference of matrix_poly at n=1024 took 0.34-0.42 s and was made
# again in each of its 40 forks of a `make bench` run, whose references took 39 s and inputs 35 s in all
# (session 19's records, `reference_s` and `inputs_s`).
CACHE_MIN_S = 0.02
LOAD_BYTES_PER_S = 1e9


def cache_save(stem: str, arrays: list[Any], meta: dict[str, Any]) -> None:
    """Save arrays as STEM<i>.npy, then STEM.json last: a reader that finds the JSON finds every array.

    Each file is written under a name of this process's own and then renamed into place, so processes that
    made the same arrays at once (a size's cells prepared side by side) never write into one file."""
    import numpy

    os.makedirs(os.path.dirname(stem), exist_ok=True)
    own = f".{os.getpid()}.tmp"
    for index, array in enumerate(arrays):
        numpy.save(f"{stem}{index}{own}.npy", array)
        os.replace(f"{stem}{index}{own}.npy", f"{stem}{index}.npy")
    with open(f"{stem}{own}.json", "w", encoding="utf-8") as handle:
        json.dump({**meta, "count": len(arrays)}, handle)
    os.replace(f"{stem}{own}.json", stem + ".json")


def worth_caching(seconds: float, arrays: list[Any]) -> bool:
    """Whether arrays that took ``seconds`` to make are worth saving for the run's next processes: making them
    took :data:`CACHE_MIN_S` or more and longer than loading their bytes would."""
    size = sum(int(getattr(array, "nbytes", 0)) for array in arrays)
    return seconds >= CACHE_MIN_S and seconds > size / LOAD_BYTES_PER_S


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
