"""The matrix-powers family on a tiny size in every framework, checked against the reference."""

import numpy as np
import pytest

from fwbench.adapters import FRAMEWORKS
from fwbench.execution.plan import Selection, plan_cells
from fwbench.kinds.matrix_power import power_by_squaring, product_count
from fwbench.spec.loader import load_spec
from tests.conftest import run_in_process

SPEC = """
version: 1
workloads:
  - name: mpow5
    kind: matrix_power
    power: 5
    size: n
    sweep: {n: [24]}
  - name: poly
    kind: expression
    expr: "A + A@A + A@A@A"
    inputs:
      A: {shape: [n, n], init: scaled_normal}
    sweep: {n: [24]}
  - name: order5_f64
    kind: expression
    expr: "x + x*x + x*x*x + x*x*x*x + x*x*x*x*x"
    inputs:
      x: {shape: [n, n], dtype: float64}
    sweep: {n: [32]}
  - name: order3_f16
    kind: expression
    expr: "x + x*x + x*x*x"
    inputs:
      x: {shape: [n, n], dtype: float16}
    sweep: {n: [32]}
  - name: order3_bf16
    kind: expression
    expr: "x + x*x + x*x*x"
    inputs:
      x: {shape: [n, n], dtype: bfloat16}
    sweep: {n: [32]}
    frameworks: [jax, torch, tensorflow]
"""


@pytest.mark.parametrize("power, products", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (13, 5)])
def test_product_count(power, products):
    assert product_count(power) == products
    calls = []

    def counting_matmul(a, b):
        calls.append(1)
        return a @ b

    matrix = np.random.default_rng(0).standard_normal((5, 5)) / 3
    np.testing.assert_allclose(power_by_squaring(matrix, power, counting_matmul),
                               np.linalg.matrix_power(matrix, power), rtol=1e-12, atol=1e-12)
    assert len(calls) == products


def test_flops_are_exact(write_spec):
    spec = load_spec(write_spec(SPEC))
    costs = {c.workload.name: c.cost["flops"] for c in plan_cells([spec], Selection(frameworks=["numpy"],
                                                                                     devices=["cpu"]))}
    assert costs["mpow5"] == 3 * 2 * 24**3
    assert costs["poly"] == 3 * 2 * 24**3 + 2 * 24 * 24  # three products, two additions


def test_numpy_bfloat16_is_skipped_with_a_reason(write_spec):
    spec = load_spec(write_spec(SPEC.replace("    frameworks: [jax, torch, tensorflow]\n", "")))
    cells = plan_cells([spec], Selection(frameworks=["numpy"], devices=["cpu"]))
    bf16 = next(c for c in cells if c.workload.name == "order3_bf16")
    assert "NumPy has no native bfloat16" in bf16.skip_reason


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_family_matches_reference(write_spec, framework):
    records = run_in_process(write_spec(SPEC), framework)
    assert records
    for record in records:
        assert record["status"] == "ok", (record["cell_id"], record.get("reason"), record.get("traceback"))
        assert record["max_rel_err"] <= record["tolerance"]
    dtypes = {record["workload"]: record["dtype"] for record in records}
    assert dtypes["order3_f16"] == "float16" and dtypes["order5_f64"] == "float64"
