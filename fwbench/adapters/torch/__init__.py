"""PyTorch: eager and ``torch.compile``; CPU and CUDA GPUs.

On the CPU, PyTorch ops return after computing, so :func:`sync` has nothing
to wait for; on a GPU it calls ``torch.cuda.synchronize``.
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

NAME = "torch"
IMPORT_NAME = "torch"
DISTRIBUTIONS = ("torch",)
EXTRA = "torch"
MODES = ("eager", "compile")
DEVICE_KINDS = ("cpu", "gpu")
SUPPORTS_JIT = True
ASYNC_DISPATCH = True  # on CUDA devices
CALLER_WORKS = True  # on the CPU the calling thread is OpenMP's master: it computes beside the pool
SYNC_METHOD = "torch.cuda.synchronize() on a GPU; nothing on the CPU, where ops are synchronous"

torch: Any = None
_device: Any = None
_synchronize: Callable[[], None] | None = None


def thread_environment(num_threads: int, device_kind: str) -> dict[str, str]:
    return blas_thread_environment(num_threads)


def compile_cache_environment(directory: str) -> dict[str, str]:
    """Inductor's FX graph cache (on disk, in TORCHINDUCTOR_CACHE_DIR, default a per-user directory), so
    later rounds, and later runs, reuse compiled kernels."""
    return {"TORCHINDUCTOR_FX_GRAPH_CACHE": "1"}


def warm_worker(round_index: int, modes: set[str], device_kind: str) -> dict[str, Any]:
    """Before a later round's cells fork: find the CPU's vector instruction sets for Inductor once in the
    worker.  Inductor probes them in each new process by compiling and loading ten small programs (about 2 s
    here), so every ``compile`` cell's first call would pay it again; the first round's cells do (their first
    call is ``first_call_s``, as a fresh script's is), later rounds' first calls are not reported as headline
    figures and inherit the worker's answer.  Returns what to record (nothing in round 1).

    A worker with ``compile`` cells also imports torch.compile's modules here (about 2.7 s), once, not in
    every cell's forked process; a worker of eager cells only (an extension round of a GEMM) does not."""
    if "compile" not in modes:
        return {}
    import torch._dynamo  # noqa: F401
    import torch._inductor.compile_fx  # noqa: F401

    if round_index <= 1 or device_kind != "cpu":
        return {}
    from torch._inductor import cpu_vec_isa

    return {"inductor_vector_isa_probed_in_worker": str(cpu_vec_isa.pick_vec_isa())}


def load(num_threads: int) -> dict[str, Any]:
    global torch
    import torch as torch_module

    torch = torch_module
    torch.set_num_threads(num_threads)  # torch.compile's modules load in warm_worker, where a cell compiles
    settings = {
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
        **set_matmul_precision(DEFAULT_MATMUL_PRECISION),
        "cuda_version": torch.version.cuda,
        "parallel_backend": config_value(torch.__config__.parallel_info(), "ATen parallel backend:"),
        "blas": config_value(torch.__config__.show(), "BLAS_INFO="),
    }
    return {"version": torch.__version__, "settings": settings}


def config_value(text: str, key: str) -> str:
    """The value after ``key`` in one of torch's build or parallel reports (``BLAS_INFO=`` -> ``mkl``), or
    "unknown"."""
    for part in text.replace(",", "\n").splitlines():
        if key in part:
            return part.split(key, 1)[1].strip()
    return "unknown"


def devices() -> list[dict[str, Any]]:
    from fwbench.machine.envinfo import cpu_model

    found = [{"kind": "cpu", "name": cpu_model(), "id": "cpu"}]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            found.append({"kind": "gpu", "name": torch.cuda.get_device_name(index), "id": f"cuda:{index}"})
    return found


def select_device(kind: str) -> dict[str, Any]:
    global _device, _synchronize
    if kind == "cpu":
        _device, _synchronize = torch.device("cpu"), None
        return devices()[0]
    if kind == "gpu":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no visible CUDA device"
            raise DeviceUnavailable(f"PyTorch cannot use a GPU here ({build})")
        _device = torch.device("cuda:0")
        _synchronize = torch.cuda.synchronize
        properties = torch.cuda.get_device_properties(0)
        return {"kind": "gpu", "name": torch.cuda.get_device_name(0), "id": "cuda:0",
                "memory_bytes": int(properties.total_memory), "cuda": torch.version.cuda,
                "capability": f"{properties.major}.{properties.minor}"}
    raise DeviceUnavailable(f"fwbench runs PyTorch on cpu and gpu only, not {kind} (torch_xla is not supported)")


def to_device(array: Any) -> Any:
    import numpy

    if array.dtype.name == "bfloat16":
        value = torch.from_numpy(numpy.asarray(array, dtype=numpy.float32)).to(torch.bfloat16)
    else:
        value = torch.from_numpy(numpy.array(array, copy=True, order="C"))
    value = value.to(_device)
    if _synchronize is not None:
        _synchronize()
    return value


def to_host(value: Any) -> Any:
    value = value.detach().cpu()
    if value.dtype == torch.bfloat16:
        value = value.float()
    return value.numpy()


def sync_needed() -> bool:
    return _synchronize is not None  # CUDA kernels run asynchronously; CPU ops do not


def sync(value: Any) -> None:
    if _synchronize is not None:
        _synchronize()


def compile(function: Callable[..., Any], mode: str) -> Callable[..., Any]:  # noqa: A001
    if mode == "eager":
        return function
    if mode == "compile":
        # Every cell compiles afresh: Dynamo caches per code object, and after its recompile limit
        # it silently runs eager, which would report eager times as compiled ones.
        torch._dynamo.reset()
        # Specialise on the shapes of each cell, as jax.jit and XLA do.
        return torch.compile(function, dynamic=False)
    raise ValueError(f"PyTorch has no mode {mode!r}")


DEVICE_MEMORY_PEAK_SCOPE = "per cell"


def set_matmul_precision(precision: str) -> dict[str, Any]:
    """``torch.set_float32_matmul_precision`` and the TF32 switches of cuBLAS and cuDNN: "highest" keeps
    float32 products in float32 (PyTorch's own default), "high" allows TF32 on GPUs that have it."""
    tf32 = precision == "high"
    torch.set_float32_matmul_precision(precision)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return {"matmul_precision": precision, "float32_matmul_precision": precision, "allow_tf32": tf32}


def reset_device_memory_peak() -> None:
    if _synchronize is not None:
        torch.cuda.reset_peak_memory_stats(_device)


def device_memory_peak_bytes() -> int | None:
    """``torch.cuda.max_memory_allocated`` on a GPU; None on the CPU."""
    return int(torch.cuda.max_memory_allocated(_device)) if _synchronize is not None else None


def ops() -> Namespace:
    return Namespace(
        exp=torch.exp, log=torch.log, sqrt=torch.sqrt, tanh=torch.tanh, sin=torch.sin, cos=torch.cos,
        abs=torch.abs, relu=torch.relu, maximum=_extremum("maximum", "min"),
        minimum=_extremum("minimum", "max"),
        sum=_reduction("sum"), mean=_reduction("mean"), max=_reduction("amax"), min=_reduction("amin"),
        matrix_transpose=_matrix_transpose, einsum=torch.einsum, prod=_reduction("prod"), clip=_clip,
        argmax=_index_reduction("argmax"), argmin=_index_reduction("argmin"), cumulative_sum=_cumulative_sum,
        tan=torch.tan, asin=torch.asin, acos=torch.acos, atan=torch.atan, sinh=torch.sinh, cosh=torch.cosh,
        expm1=torch.expm1, log1p=torch.log1p, log2=torch.log2, log10=torch.log10, square=torch.square,
        sign=torch.sign, floor=torch.floor, ceil=torch.ceil, permute_dims=_permute_dims, reshape=_reshape,
        expand_dims=_expand_dims, squeeze=_squeeze, concat=_concat, stack=_stack, where=_where,
        std=_reduction("std", correction=0), var=_reduction("var", correction=0), sort=_sort,
        asinh=torch.asinh, acosh=torch.acosh,
        atanh=torch.atanh, round=torch.round, trunc=torch.trunc, negative=torch.neg, positive=torch.positive,
        reciprocal=torch.reciprocal, atan2=_binary(torch.atan2), hypot=_binary(torch.hypot),
        logaddexp=_binary(torch.logaddexp), pow=_binary(torch.pow), remainder=_binary(torch.remainder),
        copysign=_binary(torch.copysign), flip=_flip, roll=_roll, argsort=_argsort, moveaxis=_moveaxis,
        broadcast_to=_broadcast_to, vecdot=_vecdot, cumulative_prod=_cumulative_prod,
    )


# Every axis of an array of 0 to 63 dimensions. torch.compile traces these wrappers under the generated
# function's globals, which hold no builtins: calling range() or tuple() here fails with KeyError 'range'.
_ALL_AXES = [tuple(range(rank)) for rank in range(64)]


def _flip(x: Any, axis: int | None = None) -> Any:
    return torch.flip(x, dims=_ALL_AXES[x.dim()] if axis is None else (axis,))


def _roll(x: Any, shift: int, axis: int | None = None) -> Any:
    return torch.roll(x, shift, dims=axis)  # no dims: the flattened array, as the array API's roll


def _argsort(x: Any, axis: int = -1) -> Any:
    return torch.argsort(x, dim=axis)


def _moveaxis(x: Any, source: int, destination: int) -> Any:
    return torch.movedim(x, source, destination)


def _broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    return torch.broadcast_to(x, shape)


def _vecdot(a: Any, b: Any, axis: int = -1) -> Any:
    return torch.linalg.vecdot(a, b, dim=axis)


def _cumulative_prod(x: Any, axis: int | None = None) -> Any:
    return torch.cumprod(x, dim=0 if axis is None else axis)


def _binary(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A binary element-wise op that also takes a Python number on either side, as the array API's do: the
    number becomes a tensor of the other operand's dtype and device (most of these ops take tensors only)."""

    def binary(a: Any, b: Any) -> Any:
        if not torch.is_tensor(a):
            a = torch.as_tensor(a, dtype=b.dtype, device=b.device)
        if not torch.is_tensor(b):
            b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
        return function(a, b)

    return binary


# The array API's manipulation functions by PyTorch's names. Each is called through this module, as clip is
# (see _clip): constants reach torch from here, not from the generated function.
def _permute_dims(x: Any, axes: tuple[int, ...]) -> Any:
    return torch.permute(x, axes)


def _reshape(x: Any, shape: tuple[int, ...]) -> Any:
    return torch.reshape(x, shape)


def _expand_dims(x: Any, axis: int = 0) -> Any:
    return torch.unsqueeze(x, axis)


def _squeeze(x: Any, axis: int) -> Any:
    return torch.squeeze(x, axis)


def _concat(arrays: tuple[Any, ...], axis: int = 0) -> Any:
    return torch.cat(arrays, dim=axis)


def _stack(arrays: tuple[Any, ...], axis: int = 0) -> Any:
    return torch.stack(arrays, dim=axis)


def _where(condition: Any, x1: Any, x2: Any) -> Any:
    return torch.where(condition, x1, x2)


def _sort(x: Any, axis: int = -1) -> Any:
    return torch.sort(x, dim=axis).values


def _index_reduction(name: str) -> Callable[..., Any]:
    function = getattr(torch, name)

    def index_reduction(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        if axis is None:
            result = function(x)  # the index into the flattened array, as NumPy's
            return result.reshape((1,) * x.dim()) if keepdims else result
        return function(x, dim=axis, keepdim=keepdims)

    return index_reduction


def _cumulative_sum(x: Any, axis: int | None = None) -> Any:
    return torch.cumsum(x, dim=0 if axis is None else axis)


def _clip(x: Any, low: Any, high: Any) -> Any:
    # A call through this module (whose globals have builtins), as for maximum with a number: torch.compile
    # traced torch.clamp with number bounds straight from the generated function, whose globals have none.
    return torch.clamp(x, min=low, max=high)


def _matrix_transpose(x: Any) -> Any:
    return x.mT  # a view, as x.mT in user code


def _reduction(name: str, **defaults: Any) -> Callable[..., Any]:
    """``torch.<name>`` called as the array API does: ``axis=`` and ``keepdims=``, all axes when none (for
    ``torch.prod``, which takes one dim at a time, too); ``defaults`` are the array API's where PyTorch's
    differ (std and var: correction 0, not 1)."""
    function = getattr(torch, name)

    def reduction(x: Any, axis: int | None = None, keepdims: bool = False, **options: Any) -> Any:
        options = {**defaults, **options}
        if axis is not None:
            return function(x, dim=axis, keepdim=keepdims, **options)
        result = function(x, **options)
        return result.reshape((1,) * x.dim()) if keepdims else result

    return reduction


def _extremum(name: str, bound: str) -> Callable[[Any, Any], Any]:
    # torch.maximum/minimum take tensors only; with a Python number it is a clamp.
    def extremum(a: Any, b: Any) -> Any:
        if not torch.is_tensor(b):
            return torch.clamp(a, **{bound: b})
        if not torch.is_tensor(a):
            return torch.clamp(b, **{bound: a})
        return getattr(torch, name)(a, b)

    return extremum


def device_memory_free_bytes() -> int | None:
    """``torch.cuda.mem_get_info`` (free bytes as the driver sees them, other processes included); None on
    the CPU."""
    return int(torch.cuda.mem_get_info(_device)[0]) if _synchronize is not None else None


DEVICE_TIME = "CUDA events (torch.cuda.Event) around each sample's calls on a GPU; none on the CPU"


class CudaEventTimer:
    """The device's own time for a sample: events recorded on the current stream before the first call and
    after the last, read once the sync has finished (``torch.cuda.Event.elapsed_time``, in ms)."""

    def __init__(self) -> None:
        self.begin = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self.begin.record()

    def stop(self) -> None:
        self.end.record()

    def elapsed_s(self) -> float:
        return self.begin.elapsed_time(self.end) / 1e3


def device_timer() -> CudaEventTimer | None:
    return CudaEventTimer() if _synchronize is not None else None


def cache_flusher() -> tuple[Callable[[], None], int]:
    """On a GPU, zero a device buffer twice the L2 cache (as Triton's do_bench does); on the CPU, the host's."""
    if _synchronize is None:
        return host_cache_flusher()
    size = flush_size(getattr(torch.cuda.get_device_properties(_device), "L2_cache_size", None))
    buffer = torch.empty(size, dtype=torch.int8, device=_device)

    def flush() -> None:
        buffer.zero_()
        _synchronize()

    return flush, size
