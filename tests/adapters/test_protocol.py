"""Every adapter module holds the interface fwbench.adapters.protocol states: names, constants, signatures."""

import inspect

import pytest

from fwbench.adapters import FRAMEWORKS, get_adapter
from fwbench.adapters.protocol import Adapter, interface_functions


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_adapter_module_is_an_adapter(framework):
    adapter = get_adapter(framework)
    assert isinstance(adapter, Adapter)
    assert adapter.NAME == framework and set(adapter.MODES) and set(adapter.DEVICE_KINDS) <= {"cpu", "gpu", "tpu"}
    assert isinstance(adapter.SUPPORTS_JIT, bool) and isinstance(adapter.ASYNC_DISPATCH, bool)
    assert isinstance(adapter.CALLER_WORKS, bool)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_function_takes_what_the_interface_says(framework):
    adapter = get_adapter(framework)
    for name, declared in interface_functions().items():
        wanted = [parameter for parameter in inspect.signature(declared).parameters if parameter != "self"]
        found = list(inspect.signature(getattr(adapter, name)).parameters)
        assert found == wanted, (framework, name)


def test_a_module_missing_a_function_is_not_an_adapter():
    import types

    partial = types.ModuleType("partial")
    for name in ("NAME", "IMPORT_NAME", "MODES"):
        setattr(partial, name, "x")
    assert not isinstance(partial, Adapter)
