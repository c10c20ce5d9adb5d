"""Fusion cases: bindings are computed once, and fused/unfused byte counts follow the tree."""

import pytest

from fwbench.adapters import FRAMEWORKS
from fwbench.language.expression import parse
from fwbench.language.expression_cost import analyse
from tests.conftest import REPO_ROOT, run_in_process


def test_bound_names_are_counted_once():
    softmax = parse("m = max(x, axis=-1, keepdims=True)\ne = exp(x - m)\ne / sum(e, axis=-1, keepdims=True)", ["x"])
    rows, cols, item = 8, 1024, 4
    result = analyse(softmax, {"x": (rows, cols)}, itemsize=item)
    big, small = rows * cols * item, rows * item
    # max: read x, write m; x - m: read both, write; exp: read, write; sum: read e, write s; e / s: read both, write
    assert result.unfused_bytes == (big + small) + (big + small + big) + (2 * big) + (big + small) + (big + small + big)
    assert result.fused_bytes == 2 * big
    assert result.shape == (rows, cols)


@pytest.mark.parametrize("text, message", [
    ("y = x\ny = x\ny", "already an input or bound"),
    ("x = 1\nx", "already an input or bound"),
    ("exp = x\nexp", "is a function"),
    ("y = x\nz = y", "the last line must be an expression"),
    ("import os\nx", "a import is not allowed"),
    ("x\nx", "only the last line may be a bare expression"),
    ("a, b = x, x\na", "a binding assigns one plain name"),
])
def test_bindings_are_checked(text, message):
    from fwbench.language.expression import ExpressionError

    with pytest.raises(ExpressionError, match=message):
        parse(text, ["x"])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fusion_cases_match_reference(framework):
    records = run_in_process(REPO_ROOT / "workloads" / "fusion.yaml", framework)
    names = {r["workload"] for r in records}
    assert names == {"xla_sum", "softmax", "gelu_tanh", "layer_norm", "bias_relu_sum", "fusion_power_sum"}
    for record in records:
        assert record["status"] == "ok", (record["cell_id"], record.get("reason"), record.get("traceback"))
        assert record["unfused_bytes"] > record["fused_bytes"]
