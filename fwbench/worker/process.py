"""The worker process itself: its protocol stream, its CPUs and memory cap, its end with the parent,
and what it reports about itself (the framework probe, page faults, the allocator's state)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, TextIO

from fwbench.adapters.base import get_adapter


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
    }


def minor_page_faults() -> int:
    """Page faults of this process so far that needed no disk read: fresh pages the allocator touched."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def allocator_state() -> dict[str, Any]:
    """How the host allocator starts every cell, recorded in each row."""
    return {
        "process": "one child per cell, forked from the worker after the framework import and nothing else",
        "malloc": "glibc" if sys.platform.startswith("linux") else sys.platform,
        "thresholds": "glibc's dynamic mmap/trim thresholds, as a fresh process has them",
        "reference_made": "after timing",
        "environment": {name: os.environ[name] for name in ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX",
                                                             "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                             "LD_PRELOAD") if name in os.environ},
    }
