"""The GPU and TPU paths of the adapters, without a device: each framework's device API is replaced by a
recorder, and the tests check what the adapter asked it to do (place inputs on the selected device,
compile under it, sync the right way, set the matmul precision, read peak memory from the right place).

The CPU paths run for real in test_adapters.py; these tests need no framework installed.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

_MISSING = object()


class Recorder:
    """Stands in for a module: every attribute is another recorder, every call is logged as
    (dotted path, args, kwargs) in one shared log, and ``returns`` maps a dotted path to the value (or a
    function computing it) that calling it gives.  Attribute assignments are logged as ("set path", value)."""

    def __init__(self, path: str, log: list, returns: dict[str, Any]) -> None:
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_returns", returns)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        path = f"{self._path}.{name}"
        value = self._returns.get(path, _MISSING)
        if value is not _MISSING and not isinstance(value, _Call):
            return value  # a plain attribute, such as torch.version.cuda
        return Recorder(path, self._log, self._returns)

    def __setattr__(self, name: str, value: Any) -> None:
        self._log.append((f"set {self._path}.{name}", (value,), {}))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._log.append((self._path, args, kwargs))
        value = self._returns.get(self._path)
        if isinstance(value, _Call):
            return value.function(*args, **kwargs)
        if value is not None:
            return value
        return Recorder(self._path + "()", self._log, self._returns)

    def __enter__(self) -> "Recorder":
        self._log.append((self._path + ".__enter__", (), {}))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._log.append((self._path + ".__exit__", (), {}))


class _Call:
    """Marks a ``returns`` entry as a function to call with the recorder's arguments."""

    def __init__(self, function) -> None:
        self.function = function


def fake(name: str, returns: dict[str, Any]) -> tuple[Recorder, list]:
    log: list = []
    wrapped = {key: (_Call(value) if callable(value) and not isinstance(value, type) else value)
               for key, value in returns.items()}
    return Recorder(name, log, wrapped), log


def calls(log: list, path: str) -> list[tuple]:
    return [(args, kwargs) for logged, args, kwargs in log if logged == path]


@pytest.fixture
def adapter_module(monkeypatch):
    """An adapter module whose module-level state is restored after the test."""

    def load(name: str):
        module = importlib.import_module(f"fwbench.adapters.{name}")
        for attribute in ("torch", "jax", "jnp", "tf", "_device", "_synchronize", "_device_name", "_sync_devices"):
            if hasattr(module, attribute):
                monkeypatch.setattr(module, attribute, getattr(module, attribute))
        return module

    return load


# ---------------------------------------------------------------------- PyTorch on a CUDA GPU


class FakeTensor:
    def __init__(self, log: list, device: Any = "cpu") -> None:
        self.log, self.device = log, device

    def to(self, device: Any) -> "FakeTensor":
        self.log.append(("tensor.to", (device,), {}))
        return FakeTensor(self.log, device)


class Properties:
    total_memory, major, minor = 80 * 2**30, 9, 0


def fake_torch():
    holder: dict[str, Any] = {}
    torch, log = fake("torch", {
        "torch.cuda.is_available": lambda: True,
        "torch.cuda.device_count": lambda: 1,
        "torch.cuda.get_device_name": lambda index: "NVIDIA H100 80GB HBM3",
        "torch.cuda.get_device_properties": lambda index: Properties(),
        "torch.device": lambda name: f"device({name})",
        "torch.from_numpy": lambda array: FakeTensor(holder["log"]),
        "torch.cuda.max_memory_allocated": lambda device: 123_456,
        "torch.version.cuda": "12.4",
    })
    holder["log"] = log
    return torch, log


def test_torch_gpu_places_inputs_syncs_and_reads_cuda_memory(adapter_module):
    adapter = adapter_module("torch")
    adapter.torch, log = fake_torch()
    info = adapter.select_device("gpu")
    assert (info["kind"], info["id"], info["memory_bytes"], info["capability"]) == ("gpu", "cuda:0", 80 * 2**30,
                                                                                  "9.0")
    placed = adapter.to_device(np.ones(3, dtype=np.float32))
    assert placed.device == "device(cuda:0)"
    assert calls(log, "torch.cuda.synchronize")  # the copy waited for the device
    assert adapter.sync_needed()
    before = len(calls(log, "torch.cuda.synchronize"))
    adapter.sync(placed)
    assert len(calls(log, "torch.cuda.synchronize")) == before + 1
    adapter.reset_device_memory_peak()
    assert calls(log, "torch.cuda.reset_peak_memory_stats") == [(("device(cuda:0)",), {})]
    assert adapter.device_memory_peak_bytes() == 123_456
    assert calls(log, "torch.cuda.max_memory_allocated") == [(("device(cuda:0)",), {})]


def test_torch_compile_specialises_on_shapes(adapter_module):
    adapter = adapter_module("torch")
    adapter.torch, log = fake_torch()

    def function(x):
        return x

    adapter.compile(function, "compile")
    assert calls(log, "torch._dynamo.reset")
    assert calls(log, "torch.compile") == [((function,), {"dynamic": False})]


@pytest.mark.parametrize("precision, tf32, name", [("highest", False, "highest"), ("high", True, "high")])
def test_torch_matmul_precision(adapter_module, precision, tf32, name):
    adapter = adapter_module("torch")
    adapter.torch, log = fake_torch()
    applied = adapter.set_matmul_precision(precision)
    assert calls(log, "torch.set_float32_matmul_precision") == [((name,), {})]
    assert ("set torch.backends.cuda.matmul.allow_tf32", (tf32,), {}) in log
    assert ("set torch.backends.cudnn.allow_tf32", (tf32,), {}) in log
    assert applied["float32_matmul_precision"] == name and applied["allow_tf32"] is tf32


# ---------------------------------------------------------------------- JAX on a GPU and on a TPU


class FakeDevice:
    def __init__(self, platform: str, kind: str) -> None:
        self.platform, self.id, self.device_kind = platform, 0, kind

    def memory_stats(self) -> dict[str, int]:
        return {"bytes_limit": 16 * 2**30, "peak_bytes_in_use": 654_321}


class FakeArray:
    def __init__(self, device: Any) -> None:
        self.device = device
        self.waits = 0

    def block_until_ready(self) -> "FakeArray":
        self.waits += 1
        return self


def fake_jax(platform: str):
    device = FakeDevice(platform, {"gpu": "NVIDIA H100 80GB HBM3", "tpu": "TPU v4"}[platform])

    def devices(kind: str | None = None):
        if kind not in (None, platform):
            raise RuntimeError(f"Unknown backend {kind}")
        return [device]

    jax, log = fake("jax", {
        "jax.devices": devices,
        "jax.default_backend": lambda: platform,
        "jax.device_put": lambda array, target: FakeArray(target),
        "jax.jit": lambda function: ("jitted", function),
    })
    return jax, log, device


@pytest.mark.parametrize("platform", ["gpu", "tpu"])
def test_jax_accelerator_places_inputs_on_the_device_and_reads_its_memory(adapter_module, platform):
    adapter = adapter_module("jax")
    adapter.jax, log, device = fake_jax(platform)
    info = adapter.select_device(platform)
    assert (info["kind"], info["id"], info["memory_bytes"]) == (platform, f"{platform}:0", 16 * 2**30)
    placed = adapter.to_device(np.ones(3, dtype=np.float32))
    assert placed.device is device  # committed to the selected device: jit compiles for it
    assert adapter.sync_needed()
    waits = placed.waits
    adapter.sync(placed)  # an array waits through its own method, as users write it
    assert placed.waits == waits + 1 and calls(log, "jax.block_until_ready") == []
    adapter.sync((placed, placed))  # a tuple of results (a training step's) through jax.block_until_ready
    assert calls(log, "jax.block_until_ready") == [(((placed, placed),), {})]

    def function(x):
        return x

    assert adapter.compile(function, "jit") == ("jitted", function)
    assert adapter.device_memory_peak_bytes() == 654_321
    environment = adapter.thread_environment(2, platform)
    assert environment["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"  # workers share the device
    assert "JAX_PLATFORMS" not in environment


@pytest.mark.parametrize("precision", ["highest", "high"])
def test_jax_matmul_precision(adapter_module, precision):
    adapter = adapter_module("jax")
    adapter.jax, log, _ = fake_jax("tpu")
    applied = adapter.set_matmul_precision(precision)
    assert calls(log, "jax.config.update") == [(("jax_default_matmul_precision", precision), {})]
    assert applied["jax_default_matmul_precision"] == precision


# ---------------------------------------------------------------------- TensorFlow on a GPU


class PhysicalDevice:
    name, device_type = "/physical_device:GPU:0", "GPU"


def fake_tensorflow():
    gpu = PhysicalDevice()
    holder: dict[str, list] = {}

    def function(python_function, **options):
        return lambda *args: holder["log"].append(("compiled call", args, options))

    tf, log = fake("tf", {
        "tf.config.list_physical_devices": lambda kind: [gpu] if kind == "GPU" else [],
        "tf.config.experimental.get_device_details": lambda device: {"device_name": "NVIDIA H100 80GB HBM3"},
        "tf.config.experimental.get_memory_info": lambda name: {"current": 1, "peak": 777_777},
        "tf.convert_to_tensor": lambda array: ("tensor", array.shape),
        "tf.identity": lambda value: ("identity", value),
        "tf.function": function,
    })
    holder["log"] = log
    return tf, log, gpu


def test_tensorflow_gpu_places_compiles_and_syncs_under_the_device(adapter_module):
    adapter = adapter_module("tensorflow")
    adapter.tf, log, gpu = fake_tensorflow()
    adapter._sync_devices = adapter.tf.test.experimental.sync_devices
    info = adapter.select_device("gpu")
    assert (info["kind"], info["id"]) == ("gpu", "/GPU:0")
    adapter.to_device(np.ones(3, dtype=np.float32))
    entered = [args for path, args, _ in log if path == "tf.device"]
    assert entered == [("/GPU:0",)]  # the copy happens under the GPU's scope
    assert calls(log, "tf.test.experimental.sync_devices")
    assert adapter.sync_needed()
    compiled = adapter.compile(lambda x: x, "xla")
    compiled("input")
    assert calls(log, "tf.function")[-1][1] == {"jit_compile": True}
    paths = [path for path, _, _ in log]
    call_at = paths.index("compiled call")
    assert paths[call_at - 1] == "tf.device().__enter__" and paths[call_at + 1] == "tf.device().__exit__"
    assert [args for path, args, _ in log if path == "tf.device"][-1] == ("/GPU:0",)  # called under the GPU
    adapter.reset_device_memory_peak()
    assert calls(log, "tf.config.experimental.reset_memory_stats") == [(("GPU:0",), {})]
    assert adapter.device_memory_peak_bytes() == 777_777
    assert info["memory_growth"] is True
    growth_at = [path for path, _, _ in log].index("tf.config.experimental.set_memory_growth")
    assert calls(log, "tf.config.experimental.set_memory_growth") == [((gpu, True), {})]
    assert growth_at < [path for path, _, _ in log].index("tf.device")  # before the GPU was first used


@pytest.mark.parametrize("precision, tf32", [("highest", False), ("high", True)])
def test_tensorflow_matmul_precision(adapter_module, precision, tf32):
    adapter = adapter_module("tensorflow")
    adapter.tf, log, _ = fake_tensorflow()
    applied = adapter.set_matmul_precision(precision)
    assert calls(log, "tf.config.experimental.enable_tensor_float_32_execution") == [((tf32,), {})]
    assert applied["tensor_float_32_execution"] is tf32


def test_numpy_matmul_precision_is_always_full():
    from fwbench.adapters import numpy as adapter

    assert adapter.set_matmul_precision("high")["effective"].startswith("float32")


class FakeEvent:
    def __init__(self, log: list, enable_timing: bool) -> None:
        self.log, self.enable_timing, self.at = log, enable_timing, None

    def record(self) -> None:
        self.log.append(("event.record", (self,), {}))
        self.at = len(self.log)

    def elapsed_time(self, other: "FakeEvent") -> float:
        return 2.5  # milliseconds, as CUDA reports


def test_torch_gpu_device_time_comes_from_cuda_events_and_the_cpu_has_none(adapter_module):
    adapter = adapter_module("torch")
    holder: dict = {}
    adapter.torch, log = fake("torch", {
        "torch.cuda.is_available": lambda: True, "torch.device": lambda name: f"device({name})",
        "torch.cuda.get_device_name": lambda index: "H100",
        "torch.cuda.get_device_properties": lambda index: Properties(),
        "torch.version.cuda": "12.4", "torch.cuda.device_count": lambda: 1,
        "torch.cuda.Event": lambda enable_timing: FakeEvent(holder["log"], enable_timing)})
    holder["log"] = log
    adapter.select_device("gpu")
    timer = adapter.device_timer()
    assert timer.begin.enable_timing and timer.end.enable_timing
    timer.start()
    timer.stop()
    assert timer.begin.at < timer.end.at
    assert timer.elapsed_s() == pytest.approx(0.0025)
    assert "CUDA events" in adapter.DEVICE_TIME
    adapter.select_device("cpu")
    assert adapter.device_timer() is None


def test_jax_and_tensorflow_say_plainly_that_no_device_timer_is_available():
    from fwbench.adapters import jax as jax_adapter
    from fwbench.adapters import tensorflow as tf_adapter

    for adapter in (jax_adapter, tf_adapter):
        assert adapter.device_timer() is None
        assert adapter.DEVICE_TIME.startswith("not available: ")


def test_torch_gpu_cold_cache_zeroes_a_buffer_twice_the_l2(adapter_module):
    adapter = adapter_module("torch")

    class WithL2(Properties):
        L2_cache_size = 50 * 2**20

    buffers = []

    class Buffer:
        def zero_(self):
            buffers.append("zeroed")

    adapter.torch, log = fake("torch", {
        "torch.cuda.is_available": lambda: True, "torch.device": lambda name: f"device({name})",
        "torch.cuda.get_device_name": lambda index: "H100", "torch.cuda.get_device_properties": lambda index: WithL2(),
        "torch.version.cuda": "12.4", "torch.empty": lambda size, **options: Buffer()})
    adapter.select_device("gpu")
    flush, size = adapter.cache_flusher()
    assert size == 100 * 2**20
    (empty,) = calls(log, "torch.empty")
    assert empty[0] == (100 * 2**20,) and empty[1]["device"] == "device(cuda:0)"
    before = len(calls(log, "torch.cuda.synchronize"))
    flush()
    assert buffers == ["zeroed"] and len(calls(log, "torch.cuda.synchronize")) == before + 1
