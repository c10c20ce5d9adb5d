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


def pin_threads(num_threads: int, interleaved: bool = False) -> list[int]:
    """Restrict this process to ``num_threads`` CPUs, so every framework's pools agree; the CPUs it may use.

    A single-threaded worker under interleaving keeps every core instead: the interleaver puts all of a cell's
    threads on the cycle's core for each turn (:func:`fwbench.execution.placement.pin_process`), and between
    turns its import and its forks' preparation spread over the cores.  Pinned to the first core, every
    worker's import and every fork's preparation queued on that one core: ``fwbench ab --threads 1`` took 18-22
    s to its first record against 11 s at two threads (session 26)."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    if interleaved and num_threads == 1:
        return cores
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


HEAP_SPACER_BYTES = 16 << 20
PAGE_BYTES = 4096
CACHE_LINE_BYTES = 64
_kept_spacers: list[int] = []  # the blocks that place this process's heap, kept until the process ends


def heap_position(run_id: str, round_index: int) -> int:
    """Where, in bytes past a 4 KiB page, the large blocks of every cell of round ``round_index`` of run
    ``run_id`` start (:func:`position_heap`): the same for every series of the round (all frameworks, both
    sides of ``fwbench ab``), drawn afresh each round.  The place past a 64-byte cache line is stratified:
    each four consecutive rounds take 0, 16, 32 and 48 in an order drawn from the run's id, and the cache line
    within the page is drawn per round, so a run's rounds cover the alignments a fresh process meets, evenly."""
    import random

    lines = [0, 16, 32, 48]
    random.Random(f"{run_id}/lines").shuffle(lines)
    page_line = random.Random(f"{run_id}/{round_index}").randrange(PAGE_BYTES // CACHE_LINE_BYTES)
    return page_line * CACHE_LINE_BYTES + lines[(round_index - 1) % len(lines)]


def position_heap(position: int) -> dict[str, Any]:
    """Make the next large block this process allocates start ``position`` bytes past a 4 KiB page (a multiple
    of 16), whatever the process allocated before; what was done, for the row's ``settings.allocator``.

    How: a block of :data:`HEAP_SPACER_BYTES`, larger than any free chunk, comes from the top of glibc's heap,
    so probing with one and freeing it shows where the top starts; a kept spacer of that size plus the bytes
    that remain to ``position`` moves the top there (glibc chunks take 16 bytes more than asked).  The spacer is
    never written: it costs address space, not memory.  A second probe checks the result; when it fails the
    row says so.  Only in the ``steady`` regime, after :func:`settle_allocator`: there blocks up to 32 MiB come
    from the heap; in the ``fresh`` regime large blocks are mappings of their own, 16 bytes past a page, and
    the probes would raise glibc's mmap threshold, which is what the steady regime does.

    Why: glibc aligns blocks to 16 bytes, so a NumPy array lands 0, 16, 32 or 48 bytes past a cache line as
    the process's allocation history decides, and forks of one worker inherit that history.  NumPy's power sum
    at n=256 took 96-105 µs with its input 16 or 48 bytes past a line and 129-131 µs at 0 or 32 (its
    temporaries sit 16 bytes from it modulo a page, so one of them always splits its stores), the same in
    every fork of a worker (``bench/worker_level.py``).  Placing every series of a round at one position
    (:func:`heap_position`) lets that draw cancel from the round's paired ratios, as common random numbers
    do, while the rounds still sample the positions a fresh process meets."""
    if not glibc_malloc():
        return {"heap_position": None, "heap_position_note": "not set: not glibc's malloc"}
    libc = _libc()
    probe = libc.malloc(HEAP_SPACER_BYTES)
    libc.free(probe)
    remainder = (position - probe - 16) % PAGE_BYTES
    _kept_spacers.append(libc.malloc(HEAP_SPACER_BYTES + remainder))
    check = libc.malloc(HEAP_SPACER_BYTES)
    libc.free(check)
    if check != probe + HEAP_SPACER_BYTES + remainder + 16:
        return {"heap_position": None,
                "heap_position_note": f"not set: the check's block started {check % PAGE_BYTES} bytes past a "
                                      "page, not after the spacer (a mapping of its own, or a free chunk)"}
    return {"heap_position": position,
            "heap_position_note": "the cell's large blocks start this many bytes past a 4 KiB page, the same for "
                                  "every series of the round, drawn per round (a never-written spacer placed them)"}


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
