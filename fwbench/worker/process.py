"""The worker process itself: its protocol stream, its CPUs and memory cap, its end with the parent,
and what it reports about itself (the framework probe, page faults, the allocator's state)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, TextIO

from fwbench.adapters.base import get_adapter, kernel_facts
from fwbench.machine.kernels import kernel_environment
from fwbench.machine.memory import GLIBC_MMAP_THRESHOLD_MAX_BYTES

MAX_REASON_CHARS = 500


def protocol_stream() -> TextIO:
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies, even by SIGKILL: no orphans."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the request took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


def limit_memory(limit_bytes: int | None) -> None:
    """Cap this worker's address space (``--memory-limit``): allocations past it fail in this cell only."""
    if limit_bytes:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def pin_threads(num_threads: int) -> list[int]:
    """Restrict this process to ``num_threads`` CPUs, so every framework's pools agree."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    chosen = cores[: max(1, num_threads)]
    os.sched_setaffinity(0, chosen)
    return chosen


def short_reason(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    text = " ".join(text.split())
    return text[:MAX_REASON_CHARS]


def probe(framework: str, num_threads: int) -> dict[str, Any]:
    adapter = get_adapter(framework)
    pin_threads(num_threads)
    try:
        info = adapter.load(num_threads)
    except Exception as error:  # noqa: BLE001 - any import failure makes it unavailable
        return {"framework": framework, "available": False, "reason": short_reason(error)}
    return {
        "framework": framework,
        "available": True,
        "version": info["version"],
        "settings": info["settings"],
        "devices": adapter.devices(),
        "modes": list(adapter.MODES),
        "sync_method": adapter.SYNC_METHOD,
        "kernels": kernel_facts(framework),
        "kernel_environment": kernel_environment(),
    }


def minor_page_faults() -> int:
    """Page faults of this process so far that needed no disk read: fresh pages the allocator touched."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# glibc raises its mmap threshold to the size of a freed mmapped chunk when that size, read with the chunk's
# flag bits (IS_MMAPPED adds 2), is at most DEFAULT_MMAP_THRESHOLD_MAX, 4 MiB * sizeof(long): 32 MiB on 64-bit.
# A request of 32 MiB less two pages is a chunk of 32 MiB less one page, the largest that qualifies (one page
# more and the flag bit puts it over: nothing changes, as a test shows).
STEADY_BLOCK_BYTES = GLIBC_MMAP_THRESHOLD_MAX_BYTES - 2 * 4096


def glibc_malloc() -> bool:
    """Whether this process's malloc is glibc's (Linux, no allocator preloaded)."""
    import platform

    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc" and "LD_PRELOAD" not in os.environ


def _libc() -> Any:
    """This process's C library, with ``malloc`` and ``free`` typed for pointers (glibc's, when
    :func:`glibc_malloc`)."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def settle_allocator(regime: str) -> dict[str, Any]:
    """Put this process's allocator in ``regime`` before anything of the cell is allocated; what was done.

    ``steady``, the state of a program that has already run its loop once: allocate and free one block of
    :data:`STEADY_BLOCK_BYTES`.  glibc serves it with a fresh mapping and, when it is freed, raises its mmap
    threshold to its size (and its trim threshold to twice that) for the rest of the process, so every later
    temporary up to 32 MiB comes from freed heap memory, in every framework that allocates through malloc
    (larger ones are fresh mappings in both regimes).  ``fresh``, the state of a fresh script: nothing."""
    if regime == "fresh":
        return {"regime": "fresh", "action": "none: the cell starts as a fresh script does"}
    if not glibc_malloc():
        return {"regime": regime, "action": "none: not glibc's malloc, whose thresholds this regime sets"}
    libc = _libc()
    libc.free(libc.malloc(STEADY_BLOCK_BYTES))
    return {"regime": "steady",
            "action": f"freed a {STEADY_BLOCK_BYTES} byte block before the cell's inputs "
                      "(glibc's mmap threshold raised to 32 MiB less a page, its trim threshold to twice that)"}


HEAP_OFFSET_MAX_BYTES = 65536
_kept_offset: list[int] = []  # the block that shifts this process's heap, kept until the process ends


def randomize_heap_offset() -> dict[str, Any]:
    """Shift where this process's later heap blocks land by a random number of bytes (16 to 64 KiB, in steps of
    16): allocate such a block and keep it.  Forks of one worker otherwise lay out their inputs and temporaries
    at the same addresses, so whatever that layout costs (NumPy's time at n=256 sat at 96, 103 or 130 µs per
    worker, alike in all its forks: ``bench/worker_level.py``) would be shared by every round the worker
    serves; with an offset drawn per fork, as Stabilizer (Curtsinger and Berger, ASPLOS 2013) randomizes layout
    per run, the forks differ in it.  Measured, it does not remove what a start draws (``bench/worker_level.py
    --offset``: workers still sat at 96, 102 or 130 µs in every fork; NumPy's n=1024 ratio at 1.09-1.23 in all
    ten forks of one start), so such rounds stay one cluster of the paired ratios and the offset is a recorded
    condition, not a cure.  What was done, for the row's ``settings.allocator``."""
    if not glibc_malloc():
        return {"heap_offset": "none: not glibc's malloc"}
    import random

    size = random.SystemRandom().randrange(16, HEAP_OFFSET_MAX_BYTES + 1, 16)
    _kept_offset.append(_libc().malloc(size))
    return {"heap_offset": f"{size} bytes kept before the cell's inputs (a fresh draw in every fork)"}


def allocator_state() -> dict[str, Any]:
    """How the host allocator starts every cell, recorded in each row (the regime is added per cell)."""
    return {
        "process": "one child per cell, forked from the worker after the framework import and nothing else",
        "malloc": "glibc" if sys.platform.startswith("linux") else sys.platform,
        "reference_made": "after timing",
        "environment": {name: os.environ[name] for name in ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX",
                                                             "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                             "LD_PRELOAD") if name in os.environ},
    }
