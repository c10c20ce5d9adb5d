"""The function fwbench builds from an expression is the code a user would write, and costs what it costs."""

import tracemalloc

import numpy as np
import pytest

from fwbench.adapters.numpy import NumpyOps
from fwbench.language.expression import ExpressionError, parse
from fwbench.language.expression_code import build, source

SOFTMAX = "m = max(x, axis=-1, keepdims=True)\ne = exp(x - m)\ne / sum(e, axis=-1, keepdims=True)"


def test_the_generated_source_is_the_hand_written_expression():
    text = source(parse("x + x*x + x*x*x", ["x"]), ["x"])
    assert text == "def expression_function(x):\n    return x + x * x + x * x * x"


def test_bindings_are_locals_computed_once_in_line_order():
    lines = source(parse(SOFTMAX, ["x"]), ["x"]).splitlines()
    assert lines[1].strip() == "m = __fwbench_max(x, axis=-1, keepdims=True)"
    assert lines[2].strip() == "e = __fwbench_exp(x - m)"
    assert lines[3].strip() == "return e / __fwbench_sum(e, axis=-1, keepdims=True)"


def test_a_bound_value_is_computed_once_per_call():
    calls = []

    class CountingOps:
        def exp(self, value):
            calls.append("exp")
            return np.exp(value)

        sum = staticmethod(np.sum)
        max = staticmethod(np.max)

    function = build(parse(SOFTMAX, ["x"]), CountingOps(), ["x"])
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(function(x).sum(axis=-1), [1.0, 1.0])
    assert calls == ["exp"]


def test_the_magnitude_function_bounds_every_term():
    function = build(parse("x - y * -2 + exp(x)", ["x", "y"]), NumpyOps, ["x", "y"], magnitude=True)
    x, y = np.array([-1.0, 2.0]), np.array([3.0, -4.0])
    np.testing.assert_allclose(function(x, y), np.abs(x) + np.abs(y) * 2 + np.exp(np.abs(x)))


def test_the_generated_function_reaches_nothing_but_the_ops():
    function = build(parse("x + 1", ["x"]), NumpyOps, ["x"])
    assert function.__globals__["__builtins__"] == {}
    assert sorted(function.__globals__) == ["__builtins__", "expression_function"]


def test_reserved_names_are_refused():
    with pytest.raises(ExpressionError, match="reserved"):
        build(parse("__fwbench_exp + 1", ["__fwbench_exp"]), NumpyOps, ["__fwbench_exp"])


def _peak_traced_bytes(function, x):
    """The most memory NumPy held at once during one call (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        function(x)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_generated_numpy_code_holds_no_more_memory_than_hand_written_code():
    """Intermediates die at their last use, as in the hand-written expression: NumPy's temporary elision
    and the allocator's reuse then work as in user code.  Keeping every intermediate alive (the evaluator
    before code generation) held 5 arrays at the peak and cost up to 2.5x in time; hand-written code holds 2.
    The time itself is compared by bench/parity.py, not here: timings flake on a shared machine."""
    x = np.random.default_rng(0).standard_normal((1000, 1000), dtype=np.float32)
    generated = build(parse("x + x*x + x*x*x", ["x"]), NumpyOps, ["x"])

    def keeps_every_intermediate(x):
        square = x * x
        square_again = x * x
        cube = square_again * x
        partial = x + square
        return partial + cube

    array_bytes = x.nbytes
    hand = _peak_traced_bytes(lambda x: x + x * x + x * x * x, x)
    assert _peak_traced_bytes(generated, x) <= hand + 4096
    assert hand < 2.5 * array_bytes < 4.5 * array_bytes < _peak_traced_bytes(keeps_every_intermediate, x)
