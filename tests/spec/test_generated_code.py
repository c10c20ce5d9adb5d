"""The function fwbench builds from an expression is the code a user would write, and costs what it costs."""

import timeit

import numpy as np
import pytest

from fwbench.adapters.numpy import NumpyOps
from fwbench.spec.expression import ExpressionError, build, parse, source

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


def _fastest_of_rounds(functions, x, rounds=7, repeats=3):
    """Per function, the fastest call over ``rounds`` alternating rounds of ``repeats`` timings."""
    best = {name: float("inf") for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            timer = timeit.Timer(lambda f=function: f(x))
            best[name] = min(best[name], min(timer.repeat(repeat=repeats, number=3)) / 3)
    return best


def test_generated_numpy_code_costs_what_hand_written_code_costs():
    # 4 MB temporaries: above glibc's initial mmap threshold, where keeping intermediates alive (and so
    # defeating NumPy's temporary elision and the allocator's reuse) cost 2.5x before code generation.
    x = np.random.default_rng(0).standard_normal((1000, 1000), dtype=np.float32)
    generated = build(parse("x + x*x + x*x*x", ["x"]), NumpyOps, ["x"])
    best = _fastest_of_rounds({"generated": generated, "hand": lambda x: x + x * x + x * x * x}, x)
    assert best["generated"] / best["hand"] == pytest.approx(1.0, abs=0.10), best
