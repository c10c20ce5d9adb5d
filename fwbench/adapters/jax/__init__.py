"""JAX: eager (op-by-op dispatch) and ``jax.jit``; CPU, GPU and TPU.

JAX dispatches asynchronously on every backend, the CPU included, so
:func:`sync` calls ``jax.block_until_ready`` on the result.
"""

from __future__ import annotations

from typing import Any, Callable

from fwbench.adapters.base import (
    DEFAULT_MATMUL_PRECISION,
    DeviceUnavailable,
    Namespace,
    blas_thread_environment,
    flush_size,
    host_cache_flusher,
)

NAME = "jax"
IMPORT_NAME = "jax"
DISTRIBUTIONS = ("jax",)
EXTRA = "jax"
MODES = ("eager", "jit")
DEVICE_KINDS = ("cpu", "gpu", "tpu")
SUPPORTS_JIT = True
ASYNC_DISPATCH = True
CALLER_WORKS = False  # XLA's CPU thread pool computes; the caller waits in block_until_ready
SYNC_METHOD = "jax.block_until_ready(result)"

jax: Any = None
jnp: Any = None
_device: Any = None
_PLATFORM_KIND = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu", "rocm": "gpu", "tpu": "tpu"}


def thread_environment(num_threads: int, device_kind: str) -> dict[str, str]:
    environment = blas_thread_environment(num_threads)
    if device_kind == "cpu":
        # Keep a CPU worker off any accelerator (and its memory preallocation).
        environment["JAX_PLATFORMS"] = "cpu"
    else:
        # JAX takes 75% of an accelerator's memory at start by default: a second worker on the same device
        # (--interleave, rounds) would fail.  Allocate as needed instead.
        environment["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    if num_threads == 1:
        environment["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return environment


def compile_cache_environment(directory: str) -> dict[str, str]:
    """XLA's persistent compilation cache in the run's cache directory: the first round compiles (its
    first_call_s is the cold one), later rounds load the executables."""
    return {"JAX_COMPILATION_CACHE_DIR": f"{directory}/jax", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def load(num_threads: int) -> dict[str, Any]:
    global jax, jnp
    import jax as jax_module
    import jax.numpy as jnp_module

    jax, jnp = jax_module, jnp_module
    # float64 inputs must stay float64; float32 inputs are unaffected.
    jax.config.update("jax_enable_x64", True)
    import jaxlib

    return {
        "version": jax.__version__,
        "settings": {
            "jaxlib": getattr(jaxlib, "__version__", "unknown"),
            "jax_enable_x64": True,
            **set_matmul_precision(DEFAULT_MATMUL_PRECISION),
        },
    }


def devices() -> list[dict[str, Any]]:
    found = []
    for platform in ("cpu", "gpu", "tpu"):
        try:
            platform_devices = jax.devices(platform)
        except RuntimeError:
            continue
        for device in platform_devices:
            found.append({
                "kind": _PLATFORM_KIND.get(device.platform, device.platform),
                "name": getattr(device, "device_kind", str(device)),
                "id": f"{device.platform}:{device.id}",
            })
    return found


def select_device(kind: str) -> dict[str, Any]:
    global _device
    try:
        candidates = jax.devices(kind)
    except RuntimeError as error:
        raise DeviceUnavailable(f"JAX sees no {kind} device ({str(error).splitlines()[0]})") from None
    _device = candidates[0]
    info = {"kind": kind, "name": getattr(_device, "device_kind", str(_device)),
            "id": f"{_device.platform}:{_device.id}", "default_backend": jax.default_backend()}
    stats = _device.memory_stats()
    if stats and "bytes_limit" in stats:
        info["memory_bytes"] = int(stats["bytes_limit"])
    return info


def to_device(array: Any) -> Any:
    value = jax.device_put(array, _device)
    value.block_until_ready()
    return value


def to_host(value: Any) -> Any:
    import numpy

    return numpy.asarray(value)


def sync_needed() -> bool:
    return True  # asynchronous dispatch on every backend


def sync(value: Any) -> None:
    """An array's own ``block_until_ready()``, as users write it; ``jax.block_until_ready`` (which walks a
    pytree, about 1 µs more a call: 7.3-7.8 against 6.1-6.3 µs for a jitted 16x16 power sum) for anything else,
    such as a training step's tuple."""
    wait = getattr(value, "block_until_ready", None)
    if wait is not None:
        wait()
    else:
        jax.block_until_ready(value)


def compile(function: Callable[..., Any], mode: str) -> Callable[..., Any]:  # noqa: A001
    if mode == "eager":
        return function
    if mode == "jit":
        return jax.jit(function)
    raise ValueError(f"JAX has no mode {mode!r}")


DEVICE_MEMORY_PEAK_SCOPE = "since the cell's process started"


def reset_device_memory_peak() -> None:
    # JAX keeps one peak per device for the life of the client and cannot reset it.  Each cell runs in a
    # process of its own (forked from the worker before any backend starts), so the peak covers that cell's
    # inputs, compile and calls, and nothing of earlier cells.
    return None


def device_memory_peak_bytes() -> int | None:
    """The device allocator's peak (GPU, TPU); None on the CPU, which reports no stats."""
    stats = _device.memory_stats() if _device is not None else None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def set_matmul_precision(precision: str) -> dict[str, Any]:
    """``jax_default_matmul_precision``: "highest" computes float32 products in float32 on every backend
    (JAX's default is TF32 on recent NVIDIA GPUs and one bfloat16 pass on TPUs); "high" allows TF32 on GPUs
    and three bfloat16 passes on TPUs.  Applied before any function is traced."""
    jax.config.update("jax_default_matmul_precision", precision)
    return {"matmul_precision": precision, "jax_default_matmul_precision": precision}


def ops() -> Namespace:
    return Namespace(
        exp=jnp.exp, log=jnp.log, sqrt=jnp.sqrt, tanh=jnp.tanh, sin=jnp.sin, cos=jnp.cos,
        abs=jnp.abs, relu=jax.nn.relu, maximum=jnp.maximum, minimum=jnp.minimum,
        sum=jnp.sum, mean=jnp.mean, max=jnp.max, min=jnp.min, matrix_transpose=jnp.matrix_transpose, einsum=jnp.einsum,
        prod=jnp.prod, clip=jnp.clip, argmax=jnp.argmax, argmin=jnp.argmin, cumulative_sum=jnp.cumulative_sum,
        tan=jnp.tan, asin=jnp.asin, acos=jnp.acos, atan=jnp.atan, sinh=jnp.sinh,
        cosh=jnp.cosh, expm1=jnp.expm1, log1p=jnp.log1p, log2=jnp.log2, log10=jnp.log10, square=jnp.square,
        sign=jnp.sign, floor=jnp.floor, ceil=jnp.ceil, permute_dims=jnp.permute_dims, reshape=jnp.reshape,
        expand_dims=jnp.expand_dims, squeeze=jnp.squeeze, concat=jnp.concat, stack=jnp.stack, where=jnp.where,
        std=jnp.std, var=jnp.var, sort=jnp.sort, asinh=jnp.asinh, acosh=jnp.acosh, atanh=jnp.atanh, round=jnp.round,
        trunc=jnp.trunc, negative=jnp.negative, positive=jnp.positive, reciprocal=jnp.reciprocal, atan2=jnp.atan2,
        hypot=jnp.hypot, logaddexp=jnp.logaddexp, pow=jnp.pow, remainder=jnp.remainder, copysign=jnp.copysign,
        flip=jnp.flip, roll=jnp.roll, argsort=jnp.argsort, moveaxis=jnp.moveaxis, broadcast_to=jnp.broadcast_to,
        vecdot=jnp.vecdot, cumulative_prod=jnp.cumulative_prod,
    )


def device_memory_free_bytes() -> int | None:
    """The device allocator's limit less what is in use (GPU, TPU); None on the CPU."""
    stats = _device.memory_stats() if _device is not None else None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


DEVICE_TIME = ("not available: JAX has no per-call device timer outside its profiler, whose traces fwbench "
               "does not read; host time around block_until_ready is the headline")


def device_timer() -> None:
    return None


def cache_flusher() -> tuple[Callable[[], None], int]:
    """On an accelerator, write a device buffer (JAX does not report the cache size: 256 MB, more than any
    GPU's L2); on the CPU, the host's."""
    if _device is None or _device.platform == "cpu":
        return host_cache_flusher()
    size = flush_size(None)

    def flush() -> None:
        jax.block_until_ready(jnp.ones(size // 4, dtype=jnp.float32, device=_device))

    return flush, size
