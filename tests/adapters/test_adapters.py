"""Each adapter drives its real framework (in this test process, not a fwbench parent)."""

import numpy as np
import pytest

from fwbench.adapters import FRAMEWORKS, get_adapter
from fwbench.language.expression import parse
from fwbench.language.expression_code import build
from tests.conftest import require_framework

EXPRESSION = "x + x*x + x*x*x + sum(exp(-abs(y)), axis=1, keepdims=True) - max(y) + mean(x)"


def loaded(name):
    require_framework(name)
    adapter = get_adapter(name)
    adapter.load(2)
    adapter.select_device("cpu")
    return adapter


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_capabilities_are_constants(name):
    adapter = get_adapter(name)
    assert adapter.MODES[0] == "eager"
    assert "cpu" in adapter.DEVICE_KINDS
    assert isinstance(adapter.SUPPORTS_JIT, bool)
    assert adapter.SYNC_METHOD


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_every_mode_computes_the_expression(name):
    adapter = loaded(name)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 16), dtype=np.float32)
    y = rng.standard_normal((32, 16), dtype=np.float32)
    tree = parse(EXPRESSION, ["x", "y"])
    expected = (x + x * x + x * x * x + np.exp(-np.abs(y)).sum(axis=1, keepdims=True) - y.max() + x.mean())
    devices = [adapter.to_device(x), adapter.to_device(y)]
    for mode in adapter.MODES:
        function = adapter.compile(build(tree, adapter.ops(), ["x", "y"]), mode)
        result = function(*devices)
        adapter.sync(result)
        host = adapter.to_host(result)
        assert host.dtype == np.float32, (name, mode)
        np.testing.assert_allclose(host, expected, rtol=1e-5, atol=1e-5, err_msg=f"{name}/{mode}")


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_devices_report_the_cpu(name):
    adapter = loaded(name)
    listed = adapter.devices()
    assert "cpu" in [device["kind"] for device in listed]
    assert {device["kind"] for device in listed} == framework_device_kinds(name)
    for device in listed:
        assert device["kind"] in adapter.DEVICE_KINDS
        adapter.select_device(device["kind"])
        placed = adapter.to_device(np.ones(4, dtype=np.float32))
        assert placement(name, placed) == device["kind"], (name, device)
    adapter.select_device("cpu")


def framework_device_kinds(name):
    """What the framework itself says it can run on, asked without the adapter."""
    if name == "numpy":
        return {"cpu"}
    if name == "jax":
        import jax

        return {{"cuda": "gpu", "rocm": "gpu"}.get(device.platform, device.platform) for device in jax.devices()} \
            | {"cpu"}
    if name == "torch":
        import torch

        return {"cpu"} | ({"gpu"} if torch.cuda.is_available() else set())
    import tensorflow as tf

    return {"cpu"} | ({"gpu"} if tf.config.list_physical_devices("GPU") else set())


def placement(name, array):
    """The device kind an array lives on, read from the array."""
    if name == "numpy":
        return "cpu" if isinstance(array, np.ndarray) else type(array).__name__
    if name == "jax":
        (device,) = array.devices()
        return {"cuda": "gpu", "rocm": "gpu"}.get(device.platform, device.platform)
    if name == "torch":
        return {"cuda": "gpu"}.get(array.device.type, array.device.type)
    return "gpu" if "GPU" in array.device.upper() else "cpu"


def test_numpy_refuses_gpu():
    from fwbench.adapters.base import DeviceUnavailable

    adapter = loaded("numpy")
    with pytest.raises(DeviceUnavailable, match="CPU only"):
        adapter.select_device("gpu")
    adapter.select_device("cpu")


def test_torch_on_a_cpu_build_explains_missing_gpu():
    from fwbench.adapters.base import DeviceUnavailable

    adapter = loaded("torch")
    if adapter.torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(DeviceUnavailable, match="PyTorch cannot use a GPU here"):
        adapter.select_device("gpu")
    adapter.select_device("cpu")


def test_torch_probes_inductors_vector_isa_in_the_worker_for_later_rounds_only(monkeypatch):
    require_framework("torch")
    from torch._inductor import cpu_vec_isa

    from fwbench.adapters import get_adapter

    torch_adapter = get_adapter("torch")
    probes = []
    monkeypatch.setattr(cpu_vec_isa, "pick_vec_isa", lambda: probes.append(1) or "avx512")
    assert torch_adapter.warm_worker(1, {"compile", "eager"}, "cpu") == {}  # round 1: every cell pays it
    assert torch_adapter.warm_worker(2, {"eager"}, "cpu") == {}  # nothing compiles
    assert torch_adapter.warm_worker(2, {"compile"}, "gpu") == {}
    assert probes == []
    assert torch_adapter.warm_worker(3, {"compile"}, "cpu") == {"inductor_vector_isa_probed_in_worker": "avx512"}
    assert probes == [1]


def test_torch_imports_compiles_modules_only_in_a_worker_with_compile_cells():
    require_framework("torch")
    import subprocess
    import sys

    script = ("import sys; from fwbench.adapters import get_adapter; adapter = get_adapter('torch'); "
              "adapter.load(1); adapter.warm_worker(1, set(sys.argv[1].split(',')), 'cpu'); "
              "print('torch._dynamo' in sys.modules, 'torch._inductor.compile_fx' in sys.modules)")
    for modes, expected in (("eager", "False False"), ("eager,compile", "True True")):
        completed = subprocess.run([sys.executable, "-c", script, modes], capture_output=True, text=True, check=True)
        assert completed.stdout.strip() == expected, (modes, completed.stderr[-500:])
