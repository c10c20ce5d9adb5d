import numpy as np
import pytest

from fwbench.adapters.numpy import NumpyOps
from fwbench.language.expression import ExpressionError, parse
from fwbench.language.expression_code import build
from fwbench.language.expression_cost import analyse


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os').system('x')", "only calls of the whitelisted functions by name"),
        ("x.__class__", "attribute access is not allowed except .T and .mT"),
        ("(lambda: x)()", "only calls of the whitelisted functions"),
        ("lambda: x", "lambdas are not allowed"),
        ("[v for v in x]", "comprehensions are not allowed"),
        ("sum(v for v in x)", "comprehensions are not allowed"),
        ("os", "unknown name 'os'; the inputs are: x, y"),
        ("x + z", "unknown name 'z'"),
        ("x[0]", "only slices with constant bounds are allowed in subscripts"),
        ("f'{x}'", "f-strings are not allowed"),
        ("(y := x)", "assignment expressions"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("eval('1')", "unknown function 'eval'"),
        ("x if x else y", "conditional expressions are not allowed"),
        ("x < y", "a comparison is allowed only as where()'s condition"),
        ("'text'", "only numeric constants"),
        ("x // y", "the operator FloorDiv is not allowed"),
        ("exp(x, y)", "exp() takes 1 argument(s), got 2"),
        ("sum(x, axis=y)", "must be an integer constant"),
        ("sum(x, where=1)", "accepts only the keywords axis and keepdims"),
        ("x +", "not a valid expression"),
        ("", "the expression is empty"),
        ("x" + "+x" * 1200, "at most 2000 are allowed"),
        ("(" * 100 + "x" + ")" * 100 + "+(" * 0, None),
    ],
)
def test_parser_refuses_with_a_clear_message(text, message):
    if message is None:  # parentheses alone add no depth: this one is fine
        parse(text, ["x", "y"])
        return
    with pytest.raises(ExpressionError, match=None) as caught:
        parse(text, ["x", "y"])
    assert message in str(caught.value)


def test_deep_nesting_is_refused():
    text = "exp(" * 80 + "x" + ")" * 80
    with pytest.raises(ExpressionError, match="nested more than"):
        parse(text, ["x"])


def test_parsing_never_runs_code(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ExpressionError):
        parse(f"__import__('pathlib').Path({str(marker)!r}).touch()", ["x"])
    assert not marker.exists()


def test_whitelisted_expression_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    text = "-x + x*y - y/2 + x**3 + exp(x) + log(abs(y) + 1) + sqrt(abs(x)) + tanh(x) + sin(y) + cos(x)"
    text += " + maximum(x, y) + minimum(x, y) + mean(x, axis=1, keepdims=True) + max(y) + sum(x, axis=0)"
    function = build(parse(text, ["x", "y"]), NumpyOps, ["x", "y"])
    expected = (-x + x * y - y / 2 + x**3 + np.exp(x) + np.log(np.abs(y) + 1) + np.sqrt(np.abs(x))
                + np.tanh(x) + np.sin(y) + np.cos(x) + np.maximum(x, y) + np.minimum(x, y)
                + x.mean(axis=1, keepdims=True) + y.max() + x.sum(axis=0))
    np.testing.assert_allclose(function(x, y), expected)


def test_reducing_a_constant_along_an_axis_is_refused():
    with pytest.raises(ExpressionError, match="of a constant has no axis"):
        analyse(parse("x + mean(1.5, axis=0)", ["x"]), {"x": (3,)}, itemsize=8)


@pytest.mark.parametrize("text", ["pow(2, 3) * x", "x + exp(1)", "atan2(1, 2) + x", "sum(2) + x"])
def test_a_function_of_numbers_only_is_refused(text):
    """torch.atan2(1, 2) and tf.math.exp(1) have no tensor to take a dtype from: refused before anything runs."""
    with pytest.raises(ExpressionError, match=r"\(\) of numbers only is a number: write the number"):
        analyse(parse(text, ["x"]), {"x": (3,)}, itemsize=4)


def test_matmul_flops_and_shapes():
    tree = parse("a @ b", ["a", "b"])
    result = analyse(tree, {"a": (8, 16), "b": (16, 4)}, itemsize=4)
    assert result.shape == (8, 4)
    assert result.flops == 2 * 8 * 16 * 4


def test_power_sum_flops_and_bytes():
    tree = parse("x + x*x + x*x*x", ["x"])
    n = 1000
    result = analyse(tree, {"x": (n, n)}, itemsize=4)
    assert result.flops == 5 * n * n  # x*x, x*x*x (two multiplies), two additions
    assert result.fused_bytes == 2 * 4 * n * n  # read x once, write the result once
    # five binary ops, each reading two arrays and writing one
    assert result.unfused_bytes == 5 * 3 * 4 * n * n


def test_shape_mismatch_is_reported():
    tree = parse("a @ b", ["a", "b"])
    with pytest.raises(ExpressionError, match="inner dimensions"):
        analyse(tree, {"a": (8, 16), "b": (8, 4)}, itemsize=4)
    with pytest.raises(ExpressionError, match="cannot be broadcast"):
        analyse(parse("a + b", ["a", "b"]), {"a": (3, 4), "b": (5, 4)}, itemsize=4)


def test_integer_power_counts_multiplies():
    tree = parse("x ** 3", ["x"])
    assert analyse(tree, {"x": (10,)}, itemsize=8).flops == 20
