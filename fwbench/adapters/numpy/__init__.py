"""NumPy: the host baseline and the float64 reference. Runs synchronously."""

from __future__ import annotations

from typing import Any, Callable

from fwbench.adapters.base import (
    DEFAULT_MATMUL_PRECISION,
    DeviceUnavailable,
    Namespace,
    blas_thread_environment,
    host_cache_flusher,
)

NAME = "numpy"
IMPORT_NAME = "numpy"
DISTRIBUTIONS = ("numpy",)
EXTRA = None
MODES = ("eager",)
DEVICE_KINDS = ("cpu",)
SUPPORTS_JIT = False
ASYNC_DISPATCH = False
CALLER_WORKS = True  # OpenBLAS's calling thread computes a share of a GEMM beside its pool
SYNC_METHOD = "none needed: NumPy returns after computing on the host"

np: Any = None


def thread_environment(num_threads: int, device_kind: str) -> dict[str, str]:
    return blas_thread_environment(num_threads)


def compile_cache_environment(directory: str) -> dict[str, str]:
    return {}  # nothing is compiled


def load(num_threads: int) -> dict[str, Any]:
    global np
    import numpy

    np = numpy
    return {"version": numpy.__version__,
            "settings": {"blas": _blas_name(), **set_matmul_precision(DEFAULT_MATMUL_PRECISION)}}


def _blas_name() -> str:
    try:
        config = np.show_config(mode="dicts")
        return config["Build Dependencies"]["blas"]["name"]
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


def devices() -> list[dict[str, Any]]:
    from fwbench.machine.envinfo import cpu_model

    return [{"kind": "cpu", "name": cpu_model(), "id": "cpu:0"}]


def select_device(kind: str) -> dict[str, Any]:
    if kind != "cpu":
        raise DeviceUnavailable("NumPy runs on the CPU only")
    return devices()[0]


def to_device(array: Any) -> Any:
    return np.array(array, copy=True, order="C")


def to_host(value: Any) -> Any:
    return np.asarray(value)


def sync_needed() -> bool:
    return False


def sync(value: Any) -> None:
    return None


def compile(function: Callable[..., Any], mode: str) -> Callable[..., Any]:  # noqa: A001
    if mode != "eager":
        raise ValueError(f"NumPy has no mode {mode!r}")
    return function


def reset_device_memory_peak() -> None:
    return None


def device_memory_peak_bytes() -> int | None:
    return None  # host memory only; the worker measures it for every framework


def ops() -> Namespace:
    return NumpyOps


class _LazyNumpyOps:
    """NumPy ops, resolved on first use so this module never imports NumPy eagerly."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        table = {
            "exp": numpy.exp, "log": numpy.log, "sqrt": numpy.sqrt, "tanh": numpy.tanh,
            "sin": numpy.sin, "cos": numpy.cos, "abs": numpy.abs,
            "relu": lambda x: numpy.maximum(x, 0),
            "maximum": numpy.maximum, "minimum": numpy.minimum,
            "sum": numpy.sum, "mean": numpy.mean, "max": numpy.max, "min": numpy.min,
            "matrix_transpose": numpy.matrix_transpose, "einsum": numpy.einsum, "prod": numpy.prod,
            "argmax": numpy.argmax, "argmin": numpy.argmin, "cumulative_sum": numpy.cumulative_sum,
            "clip": numpy.clip, "tan": numpy.tan, "asin": numpy.asin, "acos": numpy.acos, "atan": numpy.atan,
            "sinh": numpy.sinh, "cosh": numpy.cosh, "expm1": numpy.expm1, "log1p": numpy.log1p,
            "log2": numpy.log2, "log10": numpy.log10, "square": numpy.square, "sign": numpy.sign,
            "floor": numpy.floor, "ceil": numpy.ceil, "permute_dims": numpy.permute_dims, "reshape": numpy.reshape,
            "expand_dims": numpy.expand_dims, "squeeze": numpy.squeeze, "concat": numpy.concat,
            "stack": numpy.stack, "where": numpy.where, "std": numpy.std, "var": numpy.var, "sort": numpy.sort,
            "asinh": numpy.asinh, "acosh": numpy.acosh, "atanh": numpy.atanh, "round": numpy.round,
            "trunc": numpy.trunc, "negative": numpy.negative, "positive": numpy.positive,
            "reciprocal": numpy.reciprocal, "atan2": numpy.atan2, "hypot": numpy.hypot, "logaddexp": numpy.logaddexp,
            "pow": numpy.pow, "remainder": numpy.remainder, "copysign": numpy.copysign, "flip": numpy.flip,
            "roll": numpy.roll, "argsort": numpy.argsort, "moveaxis": numpy.moveaxis,
            "broadcast_to": numpy.broadcast_to, "vecdot": numpy.vecdot, "cumulative_prod": numpy.cumulative_prod,
        }
        if name not in table:
            raise AttributeError(name)
        value = table[name]
        setattr(self, name, value)
        return value


NumpyOps = _LazyNumpyOps()


DEVICE_MEMORY_PEAK_SCOPE = "per cell"


def set_matmul_precision(precision: str) -> dict[str, Any]:
    """NumPy's BLAS has no reduced-precision float32 product: every precision computes in float32."""
    return {"matmul_precision": precision, "effective": "float32 (NumPy has no TF32 or bfloat16 matmul)"}


def device_memory_free_bytes() -> int | None:
    return None  # host memory is checked when the cells are planned


DEVICE_TIME = "not applicable: NumPy runs on the host, whose clock is the headline"


def device_timer() -> None:
    return None


def cache_flusher() -> tuple[Callable[[], None], int]:
    return host_cache_flusher()
