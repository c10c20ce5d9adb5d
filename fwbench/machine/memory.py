"""Peak host memory of the current process, per cell.

On Linux, writing ``5`` to ``/proc/self/clear_refs`` resets the peak resident
set (``VmHWM`` in ``/proc/self/status``) to the current one, so the peak of
one cell can be read exactly.  Elsewhere a sampling thread is the fallback.
"""

from __future__ import annotations

import threading

# glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit (4 MiB * sizeof(long)): the largest block size to which a free
# raises its mmap threshold, so the largest temporary it ever serves from reused heap memory
# (fwbench.worker.process.settle_allocator; the report's allocator findings).
GLIBC_MMAP_THRESHOLD_MAX_BYTES = 4 * 2**20 * 8

STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"


def _status_bytes(key: str) -> int | None:
    try:
        with open(STATUS, encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def current_rss_bytes() -> int | None:
    return _status_bytes("VmRSS")


class PeakHostMemory:
    """``start()`` before a cell, ``stop()`` after: returns (peak RSS, RSS at start) in bytes."""

    def __init__(self, sample_interval_s: float = 0.005) -> None:
        self.interval = sample_interval_s
        self.exact = False
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start_bytes: int | None = None

    def start(self) -> None:
        self.start_bytes = current_rss_bytes()
        try:
            with open(CLEAR_REFS, "w", encoding="ascii") as handle:
                handle.write("5")
            self.exact = _status_bytes("VmHWM") is not None
        except OSError:
            self.exact = False
        if not self.exact:
            self._peak = self.start_bytes or 0
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, current_rss_bytes() or 0)

    def stop(self) -> tuple[int | None, int | None]:
        if self.exact:
            return _status_bytes("VmHWM"), self.start_bytes
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return (self._peak or None), self.start_bytes

