"""The sync waits for the real framework's result, checked without a clock.

Each test wraps the real framework's own wait (JAX's ``ArrayImpl.block_until_ready``
and ``jax.block_until_ready``, TensorFlow's device sync) in a spy that still
waits, then calls the adapter's ``sync`` on a real result: a no-op sync, or
one that waits on something else, fails the test.  How much the sync matters
in time is printed by ``bench/sync.py``, not asserted here.
"""

import numpy as np

from fwbench.adapters import get_adapter
from fwbench.stats.sampler import measure
from fwbench.stats.timing import TimerSettings
from tests.conftest import require_framework

SETTINGS = TimerSettings(min_samples=3, max_samples=3, min_sample_s=0.0, warmup_s=0.0, min_warmup_calls=1)


def spy(monkeypatch, owner, name):
    """Replace ``owner.name`` by a wrapper that records each call and then calls the original."""
    calls = []
    original = getattr(owner, name)

    def wrapper(*arguments, **keywords):
        calls.append(arguments)
        return original(*arguments, **keywords)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def jax_adapter_and_matmuls():
    require_framework("jax")
    adapter = get_adapter("jax")
    adapter.load(2)
    adapter.select_device("cpu")
    x = adapter.to_device(np.random.default_rng(0).standard_normal((64, 64), dtype=np.float32))
    return adapter, adapter.compile(lambda a: ((a @ a) @ a) @ a, "jit"), x


def test_jax_sync_waits_on_the_real_result_and_the_timer_calls_it_every_sample(monkeypatch):
    from jax._src.array import ArrayImpl

    adapter, function, x = jax_adapter_and_matmuls()
    result = function(x)
    waits = spy(monkeypatch, ArrayImpl, "block_until_ready")
    adapter.sync(result)
    assert [arguments[0] for arguments in waits] == [result]
    assert result.is_ready()
    waits.clear()
    measurement = measure(lambda: function(x), adapter.sync, SETTINGS)
    # at least one wait per timed call (the first call and the warm-up wait too)
    assert len(waits) >= 1 + len(measurement.samples_s) * measurement.n_loops


def test_jax_sync_waits_for_a_tuple_of_results_too(monkeypatch):
    """An array waits through its own method; a training step's tuple through jax.block_until_ready."""
    adapter, function, x = jax_adapter_and_matmuls()
    waits = spy(monkeypatch, adapter.jax, "block_until_ready")
    results = (function(x), x.sum())
    adapter.sync(results)
    assert len(waits) == 1 and waits[0][0] is results
    assert all(item.is_ready() for item in results)


def test_tensorflow_sync_waits_on_the_device_when_execution_is_asynchronous(monkeypatch):
    require_framework("tensorflow")
    adapter = get_adapter("tensorflow")
    adapter.load(2)
    adapter.select_device("cpu")
    tf = adapter.tf
    # TensorFlow on a CPU finishes each call before returning; asynchronous execution (a GPU's normal
    # behaviour) is what makes the sync necessary, so the test switches it on.
    tf.config.experimental.set_synchronous_execution(False)
    try:
        x = adapter.to_device(np.random.default_rng(0).standard_normal((64, 64), dtype=np.float32))
        function = adapter.compile(lambda a: tf.linalg.matmul(tf.linalg.matmul(a, a), a), "function")
        result = function(x)
        waits = spy(monkeypatch, adapter, "_sync_devices")
        adapter.sync(result)
        assert len(waits) == 1
        np.testing.assert_allclose(result.numpy(), np.linalg.matrix_power(x.numpy().astype(np.float64), 3),
                                   rtol=1e-3, atol=1e-3)
    finally:
        tf.config.experimental.set_synchronous_execution(True)


def test_tensorflow_syncs_only_where_calls_can_return_unfinished():
    require_framework("tensorflow")
    adapter = get_adapter("tensorflow")
    adapter.load(2)
    adapter.select_device("cpu")
    assert adapter.sync_needed() is False  # synchronous CPU execution: a sync would only add ~12 us per call
    adapter.tf.config.experimental.set_synchronous_execution(False)
    try:
        assert adapter.sync_needed() is True
    finally:
        adapter.tf.config.experimental.set_synchronous_execution(True)
