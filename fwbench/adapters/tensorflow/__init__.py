"""TensorFlow: eager, ``tf.function`` and ``tf.function(jit_compile=True)`` (XLA).

TensorFlow is imported once per worker.  :func:`sync` calls
``tf.test.experimental.sync_devices()``, which waits for every device to
finish queued work.  On the CPU, with TensorFlow's default synchronous
execution, a call returns its finished result, so no sync is needed there:
it would add about 12 microseconds to every call (measured on the 2-core
machine, against 16 for adding two 8-element tensors).
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

NAME = "tensorflow"
IMPORT_NAME = "tensorflow"
DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tf-nightly")
EXTRA = "tensorflow"
MODES = ("eager", "function", "xla")
DEVICE_KINDS = ("cpu", "gpu")
SUPPORTS_JIT = True
ASYNC_DISPATCH = True  # on GPUs
CALLER_WORKS = False  # its intra-op pool computes; the calling thread waits for it
SYNC_METHOD = ("tf.test.experimental.sync_devices() on a GPU or under asynchronous execution; nothing on the "
               "CPU, where calls return finished results")

tf: Any = None
_device_name = "/CPU:0"
_sync_devices: Callable[[], None] | None = None


def thread_environment(num_threads: int, device_kind: str) -> dict[str, str]:
    environment = blas_thread_environment(num_threads)
    environment["TF_NUM_INTRAOP_THREADS"] = str(num_threads)
    environment["TF_NUM_INTEROP_THREADS"] = str(num_threads)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if device_kind == "cpu":
        environment["CUDA_VISIBLE_DEVICES"] = "-1"
    return environment


def compile_cache_environment(directory: str) -> dict[str, str]:
    # TensorFlow's XLA has no persistent cache that its public flags keep across processes on the CPU; a later
    # round traces and compiles again, inside first_call_s and outside the samples.
    return {}


def load(num_threads: int) -> dict[str, Any]:
    global tf, _sync_devices
    import tensorflow as tf_module

    tf = tf_module
    tf.config.threading.set_intra_op_parallelism_threads(num_threads)
    tf.config.threading.set_inter_op_parallelism_threads(num_threads)
    _sync_devices = tf.test.experimental.sync_devices
    build = tf.sysconfig.get_build_info()
    return {
        "version": tf.__version__,
        "settings": {
            "intra_op_parallelism_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_parallelism_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            **set_matmul_precision(DEFAULT_MATMUL_PRECISION),
            "is_cuda_build": bool(build.get("is_cuda_build", False)),
        },
    }


def devices() -> list[dict[str, Any]]:
    from fwbench.machine.envinfo import cpu_model

    found = [{"kind": "cpu", "name": cpu_model(), "id": "/CPU:0"}]
    for index, device in enumerate(tf.config.list_physical_devices("GPU")):
        details = tf.config.experimental.get_device_details(device)
        found.append({"kind": "gpu", "name": details.get("device_name", device.name), "id": f"/GPU:{index}"})
    return found


def select_device(kind: str) -> dict[str, Any]:
    global _device_name
    if kind == "cpu":
        _device_name = "/CPU:0"
        return devices()[0]
    if kind == "gpu":
        growth = enable_memory_growth()  # in the cell's process, before TensorFlow initialises the GPU
        gpus = [d for d in devices() if d["kind"] == "gpu"]
        if not gpus:
            raise DeviceUnavailable("TensorFlow sees no GPU (tensorflow-cpu, or no CUDA build)")
        _device_name = "/GPU:0"
        return dict(gpus[0], memory_growth=growth)
    raise DeviceUnavailable(f"fwbench runs TensorFlow on cpu and gpu only, not {kind}")


def to_device(array: Any) -> Any:
    with tf.device(_device_name):
        value = tf.identity(tf.convert_to_tensor(array))
    _sync_devices()
    return value


def to_host(value: Any) -> Any:
    import numpy

    host = value.numpy()
    if host.dtype.name == "bfloat16":
        host = host.astype(numpy.float32)
    return host


def sync_needed() -> bool:
    """A GPU runs kernels asynchronously; the CPU does too only if asynchronous execution was switched on."""
    return _device_name != "/CPU:0" or not tf.config.experimental.get_synchronous_execution()


def sync(value: Any) -> None:
    _sync_devices()


def compile(function: Callable[..., Any], mode: str) -> Callable[..., Any]:  # noqa: A001
    if mode == "eager":
        compiled = function
    elif mode == "function":
        compiled = tf.function(function)
    elif mode == "xla":
        compiled = tf.function(function, jit_compile=True)
    else:
        raise ValueError(f"TensorFlow has no mode {mode!r}")
    if _device_name == "/CPU:0":
        return compiled
    device_name = _device_name

    def on_device(*arguments: Any) -> Any:
        with tf.device(device_name):
            return compiled(*arguments)

    return on_device


DEVICE_MEMORY_PEAK_SCOPE = "per cell"


def set_matmul_precision(precision: str) -> dict[str, Any]:
    """TensorFlow enables TF32 by default; "highest" switches it off, "high" leaves it on."""
    tf32 = precision == "high"
    tf.config.experimental.enable_tensor_float_32_execution(tf32)
    return {"matmul_precision": precision, "tensor_float_32_execution": tf32}


def enable_memory_growth() -> bool:
    """Memory growth on every GPU (TensorFlow otherwise maps nearly all of it at start, and a second worker
    on the device fails); must run before any GPU is initialised, so it runs in the cell's process when the
    GPU is selected, never in the worker before the fork.  True when there is a GPU to set."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return bool(gpus)


def reset_device_memory_peak() -> None:
    if _device_name != "/CPU:0":
        tf.config.experimental.reset_memory_stats(_device_name.strip("/"))


def device_memory_peak_bytes() -> int | None:
    """``tf.config.experimental.get_memory_info(...)['peak']`` on a GPU; None on the CPU."""
    if _device_name == "/CPU:0":
        return None
    return int(tf.config.experimental.get_memory_info(_device_name.strip("/"))["peak"])


def ops() -> Namespace:
    return Namespace(
        exp=tf.math.exp, log=tf.math.log, sqrt=tf.math.sqrt, tanh=tf.math.tanh, sin=tf.math.sin,
        cos=tf.math.cos, abs=tf.math.abs, relu=tf.nn.relu, maximum=tf.math.maximum, minimum=tf.math.minimum,
        sum=tf.math.reduce_sum, mean=tf.math.reduce_mean, max=tf.math.reduce_max, min=tf.math.reduce_min,
        matrix_transpose=tf.linalg.matrix_transpose, einsum=tf.einsum, prod=tf.math.reduce_prod,
        argmax=_index_reduction(tf.math.argmax), argmin=_index_reduction(tf.math.argmin),
        cumulative_sum=_cumulative_sum,
        clip=tf.clip_by_value, tan=tf.math.tan, asin=tf.math.asin, acos=tf.math.acos, atan=tf.math.atan,
        sinh=tf.math.sinh, cosh=tf.math.cosh, expm1=tf.math.expm1, log1p=tf.math.log1p, log2=_log2,
        log10=_log10, square=tf.math.square, sign=tf.math.sign, floor=tf.math.floor, ceil=tf.math.ceil,
        permute_dims=_permute_dims, reshape=tf.reshape, expand_dims=_expand_dims, squeeze=_squeeze,
        concat=_concat, stack=_stack, where=_where, std=_statistic(tf.math.reduce_std, 0.5),
        var=_statistic(tf.math.reduce_variance, 1.0), sort=_sort, asinh=tf.math.asinh, acosh=tf.math.acosh,
        atanh=tf.math.atanh, round=tf.math.round, trunc=_trunc, negative=tf.math.negative, positive=_positive,
        reciprocal=tf.math.reciprocal, atan2=_binary(tf.math.atan2), hypot=_binary(_hypot),
        logaddexp=_binary(_logaddexp), pow=_binary(tf.math.pow), remainder=_binary(tf.math.floormod),
        copysign=_binary(_copysign), flip=_flip, roll=_roll, argsort=_argsort, moveaxis=_moveaxis,
        broadcast_to=tf.broadcast_to, vecdot=_vecdot, cumulative_prod=_cumulative_prod,
    )


def _flip(x: Any, axis: int | None = None) -> Any:
    return tf.reverse(x, axis=list(range(len(x.shape))) if axis is None else [axis])


def _roll(x: Any, shift: int, axis: int | None = None) -> Any:
    if axis is None:  # the flattened array, as the array API's roll
        return tf.reshape(tf.roll(tf.reshape(x, [-1]), shift, 0), tf.shape(x))
    return tf.roll(x, shift, axis)


def _argsort(x: Any, axis: int = -1) -> Any:
    return tf.argsort(x, axis=axis)


def _moveaxis(x: Any, source: int, destination: int) -> Any:
    rank = len(x.shape)
    order = [axis for axis in range(rank) if axis != source % rank]
    order.insert(destination % rank, source % rank)
    return tf.transpose(x, perm=order)


def _vecdot(a: Any, b: Any, axis: int = -1) -> Any:
    return tf.math.reduce_sum(a * b, axis=axis)  # real inputs: no conjugate


def _cumulative_prod(x: Any, axis: int | None = None) -> Any:
    return tf.math.cumprod(x, axis=0 if axis is None else axis)


def _binary(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A binary element-wise op that also takes a Python number on either side (see :func:`_matching`)."""

    def binary(a: Any, b: Any) -> Any:
        return function(*_matching(a, b))

    return binary


# What TensorFlow has no op for, written as its users write it.
def _trunc(x: Any) -> Any:
    return tf.math.sign(x) * tf.math.floor(tf.math.abs(x))


def _positive(x: Any) -> Any:
    return tf.identity(x)


def _hypot(a: Any, b: Any) -> Any:
    return tf.math.sqrt(a * a + b * b)


def _logaddexp(a: Any, b: Any) -> Any:
    larger = tf.math.maximum(a, b)
    return larger + tf.math.log1p(tf.math.exp(-tf.math.abs(a - b)))


def _copysign(a: Any, b: Any) -> Any:
    return tf.where(b < 0, -tf.math.abs(a), tf.math.abs(a))  # -0.0 counts as positive here


# The array API's manipulation functions by TensorFlow's names.
def _permute_dims(x: Any, axes: tuple[int, ...]) -> Any:
    return tf.transpose(x, perm=axes)


def _expand_dims(x: Any, axis: int = 0) -> Any:
    return tf.expand_dims(x, axis)


def _squeeze(x: Any, axis: int) -> Any:
    return tf.squeeze(x, axis=[axis])


def _concat(arrays: tuple[Any, ...], axis: int = 0) -> Any:
    return tf.concat(arrays, axis)


def _stack(arrays: tuple[Any, ...], axis: int = 0) -> Any:
    return tf.stack(arrays, axis)


def _sort(x: Any, axis: int = -1) -> Any:
    return tf.sort(x, axis=axis)


def _matching(a: Any, b: Any) -> tuple[Any, Any]:
    """Two operands with a Python number converted to the other operand's dtype (TensorFlow would make ``0``
    an int32 tensor and refuse to mix it with float32)."""
    if tf.is_tensor(a) and not tf.is_tensor(b):
        b = tf.constant(b, dtype=a.dtype)
    elif tf.is_tensor(b) and not tf.is_tensor(a):
        a = tf.constant(a, dtype=b.dtype)
    return a, b


def _where(condition: Any, x1: Any, x2: Any) -> Any:
    """``tf.where`` with a number as either value."""
    return tf.where(condition, *_matching(x1, x2))


def _statistic(function: Callable[..., Any], power: float) -> Callable[..., Any]:
    """``tf.math.reduce_std``/``reduce_variance`` with the array API's correction: TensorFlow divides by N, so
    the result is scaled by (N / (N - correction)) ** power (1 for the variance, 1/2 for the deviation)."""

    def statistic(x: Any, axis: int | None = None, keepdims: bool = False, correction: float = 0) -> Any:
        result = function(x, axis=axis, keepdims=keepdims)
        if correction:
            count = x.shape.num_elements() if axis is None else x.shape[axis]
            result = result * tf.constant((count / (count - correction)) ** power, dtype=result.dtype)
        return result

    return statistic


def device_memory_free_bytes() -> int | None:
    """TensorFlow reports what it uses, not what the device has free: None (no guard) until it does."""
    return None


DEVICE_TIME = ("not available: TensorFlow has no per-call device timer outside its profiler; host time "
               "around sync_devices() is the headline")


def device_timer() -> None:
    return None


def cache_flusher() -> tuple[Callable[[], None], int]:
    """On a GPU, write a device buffer of 256 MB (TensorFlow does not report the L2 size); on the CPU, the
    host's."""
    if _device_name == "/CPU:0":
        return host_cache_flusher()
    size = flush_size(None)

    def flush() -> None:
        with tf.device(_device_name):
            tf.ones([size // 4], dtype=tf.float32)
        _sync_devices()

    return flush, size


def _log2(x: Any) -> Any:
    return tf.math.log(x) / tf.math.log(tf.constant(2.0, dtype=x.dtype))  # TensorFlow has no log2 op


def _log10(x: Any) -> Any:
    return tf.math.log(x) / tf.math.log(tf.constant(10.0, dtype=x.dtype))


def _index_reduction(function: Callable[..., Any]) -> Callable[..., Any]:
    """``tf.math.argmax``/``argmin`` as the array API calls them: no axis means the flattened array."""

    def index_reduction(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        result = function(tf.reshape(x, [-1]), axis=0) if axis is None else function(x, axis=axis)
        if keepdims:
            result = tf.reshape(result, [1] * len(x.shape)) if axis is None else tf.expand_dims(result, axis)
        return result

    return index_reduction


def _cumulative_sum(x: Any, axis: int | None = None) -> Any:
    return tf.math.cumsum(x, axis=0 if axis is None else axis)
