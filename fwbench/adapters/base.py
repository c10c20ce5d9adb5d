"""What every adapter module provides, and the pieces they share.

Each ``fwbench/adapters/<framework>/__init__.py`` defines these constants::

    NAME, IMPORT_NAME, DISTRIBUTIONS, EXTRA
    MODES            the modes in the framework's own words, first one eager
    DEVICE_KINDS     the device kinds it can run on ("cpu", "gpu", "tpu")
    SUPPORTS_JIT     whether any mode compiles the whole function
    ASYNC_DISPATCH   whether calls return before the device has finished
    CALLER_WORKS     whether on the CPU the calling thread does its share of a
                     parallel op beside the pool's threads (OpenMP's master,
                     OpenBLAS's caller) rather than wait for them
    SYNC_METHOD      how sync() waits, in words, recorded in every result

and these functions, called in this order inside a worker process::

    thread_environment(num_threads, device_kind) -> dict  (before import)
    compile_cache_environment(directory) -> dict  compile caches kept across
                                     a run's rounds (before import)
    load(num_threads) -> dict        imports the framework, applies threads; starts no
                                     thread pool or backend (the worker forks after it)
    devices() -> list[dict]          every device the framework sees
    select_device(kind) -> dict      picks the first device of that kind,
                                     raises DeviceUnavailable with a reason
    to_device(host_array)            copies to the selected device, waits
    to_host(value) -> numpy.ndarray
    sync(value)                      returns only when value is computed
    sync_needed() -> bool            False where calls return finished results
                                     (the timer then skips the sync call)
    compile(function, mode)          the callable to time for that mode
    ops()                            the namespace the expression builder uses
    reset_device_memory_peak(), device_memory_peak_bytes() -> int | None
    set_matmul_precision(precision) -> dict   "highest" (full float32, the
                                     default) or "high" (TF32 or the device's
                                     equivalent); returns the settings applied
    device_memory_free_bytes() -> int | None  for the accelerator memory guard
    device_timer() -> timing.DeviceTimer | None  the device's own clock, where
                                     the framework exposes one (``DEVICE_TIME``
                                     says what it is, or why there is none)
    cache_flusher() -> (callable, bytes)  what ``cache: cold`` calls before
                                     every sample: writes a buffer twice the
                                     device's last-level cache

Each adapter package also has ``kernels.py`` with ``kernel_facts() -> dict``
(called in the worker after ``load``): the BLAS/DNN libraries behind the
framework's CPU kernels, their versions and the instruction set each runs
(``{"libraries": [...], "gemm": the one that runs float32 products}``).

and ``DEVICE_MEMORY_PEAK_SCOPE``: "per cell" where the peak can be reset,
otherwise what it covers.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from types import ModuleType
from typing import Callable

FRAMEWORKS = ("numpy", "jax", "torch", "tensorflow")
MATMUL_PRECISIONS = ("highest", "high")
DEFAULT_MATMUL_PRECISION = "highest"
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8  # every framework's Adam (torch.optim's defaults)

# Variables read by the BLAS/OpenMP runtimes the frameworks link against.
BLAS_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


class DeviceUnavailable(Exception):
    """The framework cannot use the requested device kind; the message says why."""


def get_adapter(name: str) -> ModuleType:
    if name not in FRAMEWORKS:
        raise KeyError(name)
    return importlib.import_module(f"fwbench.adapters.{name}")


def kernel_facts(name: str) -> dict:
    """What ``fwbench/adapters/<name>/kernels.py`` reports about the libraries behind the framework's kernels;
    call it in a worker, after ``load``.  A failure is a fact too (``unknown``), never a failed worker."""
    try:
        module = importlib.import_module(f"fwbench.adapters.{name}.kernels")
        return module.kernel_facts()
    except Exception as error:  # noqa: BLE001 - informational only
        return {"libraries": [], "gemm": None, "unknown": f"{type(error).__name__}: {error}"[:300]}


def find_installed(name: str) -> tuple[bool, str | None, str | None]:
    """Whether the framework is installed, its version, and if not, why; imports nothing."""
    adapter = get_adapter(name)
    if importlib.util.find_spec(adapter.IMPORT_NAME) is None:
        install = f"pip install 'fwbench[{adapter.EXTRA}]'" if adapter.EXTRA else "pip install fwbench"
        return False, None, f"package '{adapter.IMPORT_NAME}' is not installed ({install})"
    for distribution in adapter.DISTRIBUTIONS:
        try:
            return True, importlib.metadata.version(distribution), None
        except importlib.metadata.PackageNotFoundError:
            continue
    return True, None, None


def blas_thread_environment(num_threads: int) -> dict[str, str]:
    return {variable: str(num_threads) for variable in BLAS_THREAD_VARIABLES}


class Namespace:
    """A plain attribute holder for an adapter's ops."""

    def __init__(self, **functions) -> None:
        self.__dict__.update(functions)


# The host allocator's state when a cell starts (fwbench.worker.process.settle_allocator): steady, as a program
# that has run its loop once (freed memory reused); fresh, as a fresh script (temporaries from fresh pages).
ALLOCATOR_REGIMES = ("steady", "fresh")
DEFAULT_ALLOCATOR_REGIME = "steady"
CACHE_POLICIES = ("warm", "cold")
DEFAULT_CACHE = "warm"
UNKNOWN_CACHE_FLUSH_BYTES = 256 * 2**20  # where the last-level cache size is unknown: larger than any today's


def host_last_level_cache_bytes() -> int | None:
    """The largest CPU cache of cpu0, from sysfs (Linux); None where it cannot be read."""
    import glob

    sizes = []
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            text = open(path, encoding="ascii").read().strip()
        except OSError:
            continue
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
    return max(sizes) if sizes else None


def flush_size(last_level_cache_bytes: int | None) -> int:
    """Twice the last-level cache (Triton's do_bench and nvbench size their flush buffers from it)."""
    return 2 * last_level_cache_bytes if last_level_cache_bytes else UNKNOWN_CACHE_FLUSH_BYTES


def host_cache_flusher() -> tuple[Callable[[], None], int]:
    """For CPU cells: overwrite a host buffer twice the size of the last-level cache."""
    import numpy

    size = flush_size(host_last_level_cache_bytes())
    buffer = numpy.empty(size, dtype=numpy.uint8)

    def flush() -> None:
        buffer.fill(1)

    return flush, size


VERBOSE_PROBE_TIMEOUT_S = 30


def verbose_output_in_child(body: Callable[[], None], environment: dict[str, str]) -> str:
    """What ``body`` prints to file descriptor 1 (where MKL and oneDNN write their verbose lines) when run in a
    throwaway child forked from this process with ``environment`` added; "" if the child fails.

    For ``kernel_facts()``: a library that says which instruction set it dispatched to only once it has run
    an operation is asked in a child, so the worker itself starts no thread pool before it forks its cells."""
    import os
    import signal
    import sys

    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_end)
            signal.alarm(VERBOSE_PROBE_TIMEOUT_S)
            os.environ.update(environment)
            os.dup2(write_end, 1)
            body()
            sys.stdout.flush()
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as reader:
        while True:
            chunk = reader.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", errors="replace")
