"""The array API's names in expressions: .T, .mT, matrix_transpose, matmul, einsum, slices with constant
bounds, more element-wise functions, clip, prod, the index reductions and cumulative_sum, the manipulation
functions (permute_dims, reshape, expand_dims, squeeze, concat, stack), where with a comparison, std, var,
sort and the binary element-wise functions with a number on either side, in all four frameworks and every
mode against NumPy float64, with their shapes, FLOPs and bytes."""

import numpy as np
import pytest

from fwbench.adapters import FRAMEWORKS, get_adapter
from fwbench.language.expression import ExpressionError, parse
from fwbench.language.expression_code import build
from fwbench.language.expression_cost import analyse
from tests.conftest import require_framework

EXPRESSIONS = [
    ("a.T @ b", lambda a, b, c: a.T @ b),
    ("matmul(a.T, b)", lambda a, b, c: a.T @ b),
    ("matrix_transpose(c) + 1", lambda a, b, c: np.swapaxes(c, -1, -2) + 1),
    ("c.mT @ c", lambda a, b, c: np.swapaxes(c, -1, -2) @ c),
    ("exp(a).T", lambda a, b, c: np.exp(a).T),
    ("einsum('ij,ik->jk', a, b)", lambda a, b, c: np.einsum("ij,ik->jk", a, b)),
    ("einsum('bij,bkj->bik', c, c)", lambda a, b, c: np.einsum("bij,bkj->bik", c, c)),
    ("a[:, :2] * 2", lambda a, b, c: a[:, :2] * 2),
    ("b[::2] + 1", lambda a, b, c: b[::2] + 1),
    ("sum(c[1:, :, 1:3], axis=-1)", lambda a, b, c: c[1:, :, 1:3].sum(axis=-1)),
    ("tan(a / 4) + asin(a / 10) + acos(a / 10) + atan(a)",
     lambda a, b, c: np.tan(a / 4) + np.arcsin(a / 10) + np.arccos(a / 10) + np.arctan(a)),
    ("sinh(a) - cosh(a) + expm1(a / 2) + log1p(abs(a))",
     lambda a, b, c: np.sinh(a) - np.cosh(a) + np.expm1(a / 2) + np.log1p(np.abs(a))),
    ("log2(abs(a) + 1) + log10(abs(a) + 1) + square(a)",
     lambda a, b, c: np.log2(np.abs(a) + 1) + np.log10(np.abs(a) + 1) + a * a),
    ("sign(a) + floor(a * 3) - ceil(a * 3)", lambda a, b, c: np.sign(a) + np.floor(a * 3) - np.ceil(a * 3)),
    ("clip(a, -0.5, 0.5)", lambda a, b, c: np.clip(a, -0.5, 0.5)),
    ("prod(clip(c, 0.5, 1.5), axis=1)", lambda a, b, c: np.prod(np.clip(c, 0.5, 1.5), axis=1)),
    ("prod(clip(a, 0.9, 1.1), keepdims=True)", lambda a, b, c: np.prod(np.clip(a, 0.9, 1.1), keepdims=True)),
    ("cumulative_sum(c, axis=1)", lambda a, b, c: np.cumsum(c, axis=1)),
    ("cumulative_sum(sum(a, axis=1))", lambda a, b, c: np.cumsum(a.sum(axis=1))),
    ("argmax(a, axis=1) + argmin(c, axis=-1, keepdims=True)",
     lambda a, b, c: np.argmax(a, axis=1) + np.argmin(c, axis=-1, keepdims=True)),
    ("argmax(c) + argmin(a)", lambda a, b, c: np.argmax(c) + np.argmin(a)),
    ("permute_dims(c, (2, 0, 1)) * 2", lambda a, b, c: np.transpose(c, (2, 0, 1)) * 2),
    ("permute_dims(a, axes=(1, 0)) @ b", lambda a, b, c: a.T @ b),
    ("reshape(c, (4, -1)) + 1", lambda a, b, c: c.reshape(4, -1) + 1),
    ("reshape(exp(a), shape=(15,))", lambda a, b, c: np.exp(a).reshape(15)),
    ("expand_dims(sum(a, axis=0), axis=1) * a.T", lambda a, b, c: a.sum(axis=0)[:, None] * a.T),
    ("expand_dims(b) + 1", lambda a, b, c: b[None] + 1),
    ("squeeze(sum(c, axis=1, keepdims=True), axis=1)", lambda a, b, c: c.sum(axis=1)),
    ("squeeze(c[:1], 0) - 1", lambda a, b, c: c[0] - 1),
    ("concat((a, b), axis=1)", lambda a, b, c: np.concatenate((a, b), axis=1)),
    ("concat([a, -a, a * 2])", lambda a, b, c: np.concatenate((a, -a, a * 2))),
    ("stack((a, a * 2, exp(a)), axis=-1)", lambda a, b, c: np.stack((a, a * 2, np.exp(a)), axis=-1)),
    ("stack((b, b))", lambda a, b, c: np.stack((b, b))),
    ("where(a > 0, a, 0)", lambda a, b, c: np.where(a > 0, a, 0)),
    ("where(a <= b[:, :3], a * 2, b[:, :3])", lambda a, b, c: np.where(a <= b[:, :3], a * 2, b[:, :3])),
    ("where(-0.25 < c, exp(c), -1)", lambda a, b, c: np.where(-0.25 < c, np.exp(c), -1)),
    ("where(a == a, 1.5, a) + where(a != a, a, 2)", lambda a, b, c: np.full(a.shape, 3.5)),
    ("where(b >= 0, 1, 0) + where(b < 0, 0, 1)", lambda a, b, c: 2.0 * (b >= 0)),
    ("std(c, axis=1)", lambda a, b, c: np.std(c, axis=1)),
    ("var(a, axis=0, keepdims=True, correction=1)", lambda a, b, c: np.var(a, axis=0, keepdims=True, ddof=1)),
    ("std(a) + var(b, correction=1)", lambda a, b, c: np.std(a) + np.var(b, ddof=1)),
    ("std(c, axis=-1, keepdims=True, correction=1)", lambda a, b, c: np.std(c, axis=-1, keepdims=True, ddof=1)),
    ("std(b, keepdims=True) * var(b, keepdims=True)",
     lambda a, b, c: np.std(b, keepdims=True) * np.var(b, keepdims=True)),
    ("sort(a)", lambda a, b, c: np.sort(a)),
    ("sort(c, axis=0) * 2", lambda a, b, c: np.sort(c, axis=0) * 2),
    ("sort(b, 0) + sort(b, axis=1)", lambda a, b, c: np.sort(b, axis=0) + np.sort(b, axis=1)),
    ("asinh(a) + acosh(abs(a) + 1) + atanh(a / 4)",
     lambda a, b, c: np.arcsinh(a) + np.arccosh(np.abs(a) + 1) + np.arctanh(a / 4)),
    ("round(a * 4) + trunc(a * 3) - negative(a) + positive(b[:, :3])",
     lambda a, b, c: np.round(a * 4) + np.trunc(a * 3) + a + b[:, :3]),
    ("reciprocal(abs(a) + 0.5)", lambda a, b, c: 1 / (np.abs(a) + 0.5)),
    ("atan2(a, b[:, 1:]) + atan2(2, a) + hypot(a, b[:, :3]) + hypot(a, 3)",
     lambda a, b, c: np.arctan2(a, b[:, 1:]) + np.arctan2(2, a) + np.hypot(a, b[:, :3]) + np.hypot(a, 3)),
    ("logaddexp(a, b[:, :3]) + logaddexp(0, a)", lambda a, b, c: np.logaddexp(a, b[:, :3]) + np.logaddexp(0, a)),
    ("pow(abs(a) + 1, b[:, :3]) + pow(2, a) + pow(a, 2)",
     lambda a, b, c: (np.abs(a) + 1) ** b[:, :3] + 2.0 ** a + a ** 2),
    ("remainder(a * 5, 1.5) + remainder(b[:, :3] * 5, b[:, :1] + 3)",
     lambda a, b, c: np.remainder(a * 5, 1.5) + np.remainder(b[:, :3] * 5, b[:, :1] + 3)),
    ("copysign(a, b[:, :3]) + copysign(2, a)", lambda a, b, c: np.copysign(a, b[:, :3]) + np.copysign(2, a)),
    ("flip(a) + flip(a, axis=0) * 2 + flip(b, 1)[:, :3]",
     lambda a, b, c: np.flip(a) + np.flip(a, axis=0) * 2 + np.flip(b, 1)[:, :3]),
    ("roll(a, 2) + roll(a, -1, axis=1)", lambda a, b, c: np.roll(a, 2) + np.roll(a, -1, axis=1)),
    ("roll(c, shift=1, axis=0)", lambda a, b, c: np.roll(c, 1, axis=0)),
    ("argsort(a) + argsort(b, axis=0)[:, :3]", lambda a, b, c: np.argsort(a) + np.argsort(b, axis=0)[:, :3]),
    ("moveaxis(c, 0, -1)", lambda a, b, c: np.moveaxis(c, 0, -1)),
    ("moveaxis(c, source=2, destination=0) * 2", lambda a, b, c: np.moveaxis(c, 2, 0) * 2),
    ("broadcast_to(sum(a, axis=0), (4, 3)) + 1", lambda a, b, c: np.broadcast_to(a.sum(axis=0), (4, 3)) + 1),
    ("vecdot(a, b[:, :3])", lambda a, b, c: np.sum(a * b[:, :3], axis=-1)),
    ("vecdot(c, c[:1], axis=1)", lambda a, b, c: np.sum(c * c[:1], axis=1)),
    ("cumulative_prod(clip(c, 0.5, 1.5), axis=2)", lambda a, b, c: np.cumprod(np.clip(c, 0.5, 1.5), axis=2)),
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
    tree = parse(text, ["a", "b", "c"])
    function = build(tree, adapter.ops(), ["a", "b", "c"])
    reference = np.asarray(expected(*[array.astype(np.float64) for array in inputs]))
    assert analyse(tree, SHAPES, 4).shape == reference.shape
    for mode in adapter.MODES:
        result = adapter.compile(function, mode)(*[adapter.to_device(array) for array in inputs])
        adapter.sync(result)
        host = np.asarray(adapter.to_host(result))
        assert host.shape == reference.shape, f"{framework}/{mode}: {text}"
        np.testing.assert_allclose(host, reference, rtol=1e-5, atol=1e-5, err_msg=f"{framework}/{mode}: {text}")


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


def test_einsum_and_slices_have_their_shapes_and_flops():
    contraction = analyse(parse("einsum('ij,ik->jk', a, b)", ["a", "b"]), {"a": (5, 3), "b": (5, 4)}, 4)
    assert (contraction.shape, contraction.flops) == ((3, 4), 2 * 5 * 3 * 4)
    assert analyse(parse("x[:, :64]", ["x"]), {"x": (10, 100)}, 4).shape == (10, 64)
    assert analyse(parse("x[::2]", ["x"]), {"x": (9, 4)}, 4).shape == (5, 4)
    assert analyse(parse("x[-3:]", ["x"]), {"x": (9, 4)}, 4).shape == (3, 4)


@pytest.mark.parametrize("text, shapes, message", [
    ("x[0]", {"x": (4, 4)}, "integer indices and index arrays are not"),
    ("x[::-1]", {"x": (4, 4)}, "a slice step must be positive"),
    ("x[5:]", {"x": (4, 4)}, "the slice of axis 0 is empty"),
    ("x[:, :, :]", {"x": (4, 4)}, "3 slices for an array of shape"),
    ("einsum('ij->', x, x)", {"x": (4, 4)}, "needs 1 arrays, got 2"),
    ("einsum('ij,jk', x, x)", {"x": (4, 4)}, "subscripts with an explicit output"),
    ("einsum('ij,jk->ik', x, y)", {"x": (4, 4), "y": (3, 4)}, "index 'j' is 4 in one array and 3 in another"),
])
def test_bad_slices_and_einsums_are_refused_with_the_reason(text, shapes, message):
    with pytest.raises(ExpressionError, match=message):
        analyse(parse(text, list(shapes)), shapes, 4)


def test_a_cumulative_sum_of_a_matrix_needs_its_axis():
    with pytest.raises(ExpressionError, match="needs axis="):
        analyse(parse("cumulative_sum(x)", ["x"]), {"x": (3, 4)}, 4)
    assert analyse(parse("cumulative_sum(x, axis=0)", ["x"]), {"x": (3, 4)}, 4).shape == (3, 4)


def test_manipulations_have_their_shapes_flops_and_bytes():
    shapes = {"a": (5, 3), "b": (5, 4)}

    def of(text):
        return analyse(parse(text, list(shapes)), shapes, 4)

    # A view moves nothing: its unfused bytes are the fused ones, both inputs read once and 15 elements written.
    for view in ("permute_dims(a, (1, 0))", "reshape(a, (3, 5))", "expand_dims(a, axis=2)",
                 "squeeze(expand_dims(a), axis=0)"):
        assert (of(view).flops, of(view).unfused_bytes, of(view).fused_bytes) == (0, (35 + 15) * 4, (35 + 15) * 4)
    assert of("reshape(a, (3, 5))").shape == (3, 5) and of("expand_dims(a, axis=-1)").shape == (5, 3, 1)
    joined = of("concat((a, b), axis=1)")
    assert (joined.shape, joined.flops, joined.unfused_bytes) == ((5, 7), 0, (15 + 20 + 35) * 4)
    stacked = of("stack((a, a), axis=1)")
    assert (stacked.shape, stacked.flops, stacked.unfused_bytes) == ((5, 2, 3), 0, (15 + 15 + 30) * 4)
    chosen = of("where(a > 0, a, 0)")
    # the comparison: 15 FLOPs, reads a, writes 15 booleans; the select: 15, reads the booleans and a, writes 15
    assert (chosen.flops, chosen.unfused_bytes) == (30, (60 + 15) + (15 + 60 + 60))
    assert of("sort(a)").flops == 15 * 2 and of("sort(a, axis=0)").flops == 15 * 3  # log2 of 3 and of 5, rounded up
    assert of("std(a, axis=0)").flops == 4 * 15 + 2 * 3 and of("var(a, axis=0)").flops == 4 * 15 + 3
    assert of("var(a, keepdims=True)").shape == (1, 1)
    assert (of("moveaxis(a, 0, 1)").shape, of("moveaxis(a, 0, 1)").flops) == ((3, 5), 0)
    assert of("broadcast_to(a, (2, 5, 3))").unfused_bytes == (35 + 30) * 4  # a view: nothing moved
    assert (of("flip(a)").flops, of("flip(a)").unfused_bytes) == (0, (15 + 15) * 4)  # a copy
    assert (of("roll(a, 1)").flops, of("argsort(a)").flops) == (0, 15 * 2)
    dotted = of("vecdot(a, b[:, :3])")
    assert (dotted.shape, dotted.flops, dotted.unfused_bytes) == ((5,), 2 * 15, (15 + 15 + 5) * 4)


@pytest.mark.parametrize("text, message", [
    ("permute_dims(a, (0, 0))", "a permutation of"),
    ("permute_dims(a)", r"needs its axes, like permute_dims\(x, \(1, 0\)\)"),
    ("reshape(a, (4, -1))", r"cannot reshape an array of shape \[5, 3\] \(15 elements\) into \(4, -1\)"),
    ("reshape(a, (-1, -1))", "at most one -1"),
    ("reshape(a, 15)", "must be a tuple of integers"),
    ("squeeze(a, axis=0)", "needs that axis to have size 1"),
    ("squeeze(a)", "needs its axis"),
    ("expand_dims(a, axis=3)", r"out of range for an array of shape \[5, 3\]: the axis must lie in -3..2"),
    ("concat((a, c))", "needs arrays of one rank"),
    ("concat((a, b), axis=0)", "agree on every other axis"),
    ("concat(a, b)", "takes a tuple of arrays"),
    ("concat((a, 1))", "takes arrays, not constants"),
    ("stack((a, b))", "needs arrays of one shape"),
    ("where(a, a, 0)", "must be a comparison"),
    ("where(0 < a < 1, a, 0)", "one comparison; chains"),
    ("where(a > 0, a)", "takes a condition and two values"),
    ("a > 0", r"a comparison is allowed only as where\(\)'s condition, like where\(x > 0, x, 0\)"),
    ("var(a, axis=0, correction=5)", "N is 5 here"),
    ("std(a, correction=-1)", "must be a number of at least 0"),
    ("sort(a, descending=True)", "accepts only the keyword axis, got 'descending'"),
    ("sum(a, correction=1)", "accepts only the keywords axis and keepdims, got 'correction'"),
    ("moveaxis(a, 2, 0)", r"moveaxis\(source=2\) is out of range"),
    ("moveaxis(a, 0)", "needs its destination"),
    ("broadcast_to(a, (3, 5))", r"cannot broadcast an array of shape \[5, 3\] to \(3, 5\)"),
    ("roll(a)", r"needs its shift, like roll\(x, 1, axis=0\)"),
    ("flip(a, axis=2)", r"flip\(axis=2\) is out of range"),
    ("vecdot(a, a[:, :1])", "needs both arrays to have that axis at one size"),
    ("vecdot(a, 2)", "takes arrays, not constants"),
])
def test_bad_manipulations_are_refused_with_the_reason(text, message):
    shapes = {"a": (5, 3), "b": (5, 4), "c": (2, 3, 4)}
    with pytest.raises(ExpressionError, match=message):
        analyse(parse(text, list(shapes)), shapes, 4)
