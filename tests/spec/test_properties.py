"""Property-based tests: the loader and the parser raise nothing but their own errors, and valid
generated expressions compute what NumPy computes."""

import re

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwbench.adapters.numpy import NumpyOps
from fwbench.errors import SpecError, UserError
from fwbench.language.expression import ExpressionError, parse
from fwbench.language.expression_code import build
from fwbench.language.expression_cost import analyse
from fwbench.spec.loader import parse_spec_text

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(st.one_of(st.sampled_from(
        ["version", "workloads", "name", "kind", "expr", "inputs", "sweep", "shape", "dtype", "x", "n",
         "modes", "frameworks", "seed"]), st.text(max_size=8)), children, max_size=6)), max_leaves=30)
KEYS = st.sampled_from(["expression", "matrix_power", "mlp_train", "stream", "nope"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(documents)
def test_random_documents_raise_only_spec_errors(document):
    try:
        parse_spec_text(yaml.safe_dump(document), file="random.yaml")
    except (SpecError, UserError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({
    "version": st.sampled_from([1, 1, 2, "1"]),
    "workloads": st.lists(st.fixed_dictionaries({
        "name": st.sampled_from(["a", "b", "a b", 3]),
        "kind": KEYS,
        "expr": st.sampled_from(["x + 1", "x @ x", "sum(x, axis=5)", "exp(", "y", 4]),
        "inputs": st.one_of(st.just({"x": {"shape": ["n", "n"]}}), documents),
        "sweep": st.one_of(st.just({"n": [4]}), documents),
    }), max_size=3),
}))
def test_near_valid_documents_raise_only_spec_errors(document):
    try:
        spec = parse_spec_text(yaml.safe_dump(document), file="near.yaml")
        assert spec.workloads
    except (SpecError, UserError):
        pass


TOKENS = ["x", "y", "1", "2.5", "+", "-", "*", "/", "**", "@", "(", ")", ",", "exp", "log", "sum", "axis=", "=",
          "[", "]", ".", "lambda", ":", "__import__", "'os'", "if", "else", "for", "in", "not", "\n", "f'", "{", "}"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(" ".join))
def test_random_expressions_raise_only_expression_errors(text):
    try:
        parse(text, ["x", "y"])
    except ExpressionError:
        pass


UNARY = ["exp", "tanh", "sin", "cos", "abs", "relu"]


def expressions():
    leaves = st.sampled_from(["x", "y", "1.5", "2"])

    def extend(children):
        return st.one_of(
            st.tuples(children, st.sampled_from(["+", "-", "*"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(UNARY), children).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(st.sampled_from(["maximum", "minimum"]), children, children).map(
                lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(st.sampled_from(["sum", "mean", "max"]), children, st.sampled_from(["", ", axis=0", ", axis=-1"]))
            .map(lambda t: f"{t[0]}({t[1]}{t[2]}, keepdims=True)" if t[2] else f"{t[0]}({t[1]})"),
        )

    return st.recursive(leaves, extend, max_leaves=8).filter(lambda text: re.search(r"\b[xy]\b", text) is not None)


NUMPY_NAMES = {"exp": np.exp, "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "abs": np.abs,
               "relu": lambda a: np.maximum(a, 0), "maximum": np.maximum, "minimum": np.minimum,
               "sum": np.sum, "mean": np.mean, "max": np.max}


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_valid_expressions_match_numpy(text):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    tree = parse(text, ["x", "y"])
    try:
        analyse(tree, {"x": (3, 4), "y": (3, 4)}, itemsize=8)
    except ExpressionError:
        return  # refused at validation (e.g. a reduction of a constant): never reaches a framework
    ours = build(tree, NumpyOps, ["x", "y"])(x, y)
    # The test (not fwbench) may evaluate: the text comes from the generator above.
    expected = eval(text, {"__builtins__": {}, **NUMPY_NAMES}, {"x": x, "y": y})  # noqa: S307
    with np.errstate(over="ignore", invalid="ignore"):
        if np.all(np.isfinite(expected)):
            np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    # where NumPy itself overflows, the builder overflows in the same places
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(expected))
