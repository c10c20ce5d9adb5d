"""The array API's transposes and matmul in expressions: .T, .mT, matrix_transpose, matmul, in all four
frameworks against NumPy float64, with their shapes, FLOPs and bytes."""

import numpy as np
import pytest

from fwbench.adapters import FRAMEWORKS, get_adapter
from fwbench.spec.expression import ExpressionError, analyse, build, parse
from tests.conftest import require_framework

EXPRESSIONS = [
    ("a.T @ b", lambda a, b, c: a.T @ b),
    ("matmul(a.T, b)", lambda a, b, c: a.T @ b),
    ("matrix_transpose(c) + 1", lambda a, b, c: np.swapaxes(c, -1, -2) + 1),
    ("c.mT @ c", lambda a, b, c: np.swapaxes(c, -1, -2) @ c),
    ("exp(a).T", lambda a, b, c: np.exp(a).T),
]
SHAPES = {"a": (5, 3), "b": (5, 4), "c": (2, 3, 4)}


def host_inputs():
    rng = np.random.default_rng(3)
    return [rng.standard_normal(SHAPES[name]).astype(np.float32) for name in ("a", "b", "c")]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("text, expected", EXPRESSIONS, ids=[text for text, _ in EXPRESSIONS])
def test_each_name_in_each_framework_matches_the_float64_reference(framework, text, expected):
    require_framework(framework)
    adapter = get_adapter(framework)
    adapter.load(2)
    adapter.select_device("cpu")
    inputs = host_inputs()
    function = build(parse(text, ["a", "b", "c"]), adapter.ops(), ["a", "b", "c"])
    for mode in adapter.MODES:
        result = adapter.compile(function, mode)(*[adapter.to_device(array) for array in inputs])
        adapter.sync(result)
        reference = expected(*[array.astype(np.float64) for array in inputs])
        np.testing.assert_allclose(adapter.to_host(result), reference, rtol=1e-5, atol=1e-5,
                                   err_msg=f"{framework}/{mode}: {text}")


def test_a_transpose_is_a_view_with_no_flops_and_matmul_counts_as_at():
    itemsize = 4
    transposed = analyse(parse("a.T", ["a"]), {"a": (5, 3)}, itemsize)
    assert (transposed.shape, transposed.flops) == ((3, 5), 0)
    product = analyse(parse("matmul(a.T, b)", ["a", "b"]), {"a": (5, 3), "b": (5, 4)}, itemsize)
    same = analyse(parse("a.T @ b", ["a", "b"]), {"a": (5, 3), "b": (5, 4)}, itemsize)
    assert product == same and product.flops == 2 * 3 * 5 * 4 and product.shape == (3, 4)
    assert analyse(parse("c.mT", ["c"]), {"c": (2, 3, 4)}, itemsize).shape == (2, 4, 3)


@pytest.mark.parametrize("text, shapes, message", [
    ("c.T", {"c": (2, 3, 4)}, "a 2-D array (.T); use .mT for stacks of matrices"),
    ("matrix_transpose(v)", {"v": (4,)}, "an array of 2 or more dimensions"),
])
def test_transposes_of_the_wrong_rank_are_refused(text, shapes, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        analyse(parse(text, list(shapes)), shapes, 4)


def test_other_attributes_stay_refused_and_name_what_is_allowed():
    with pytest.raises(ExpressionError, match=r"attribute access is not allowed except \.T and \.mT, got \.shape"):
        parse("x.shape", ["x"])
    with pytest.raises(ExpressionError, match=r"matmul\(\) takes 2 array argument"):
        parse("matmul(x)", ["x"])
