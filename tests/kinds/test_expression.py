"""The expression kind's float64 reference: block by block for large element-wise work, exactly as a whole."""

import numpy as np

from fwbench.kinds import get_kind_class
from fwbench.kinds.expression import CHUNK_ELEMENTS
from fwbench.spec.loader import load_spec

SPEC = """
version: 1
workloads:
  - name: two_inputs
    kind: expression
    expr: |
      t = tanh(x) * y
      exp(-abs(t)) - t - x*x*y
    inputs:
      x: {shape: [3, 70, 50]}
      y: {shape: [3, 70, 50], init: uniform}
"""


def test_blockwise_reference_equals_the_whole_array_evaluation(write_spec):
    workload = load_spec(write_spec(SPEC)).workloads[0]
    kind = get_kind_class("expression")(workload)
    inputs = kind.make_inputs({}, workload.seed)
    assert inputs[0].size > CHUNK_ELEMENTS and inputs[0].size % CHUNK_ELEMENTS  # several blocks, a ragged last one
    reference = kind.reference({}, inputs)
    x, y = (np.asarray(array, dtype=np.float64) for array in inputs)
    t = np.tanh(x) * y
    expected = np.exp(-np.abs(t)) - t - x * x * y
    assert reference.value.shape == expected.shape
    assert np.array_equal(reference.value, expected)
    assert reference.scale == np.max(np.abs(expected)) > np.max(expected)  # the largest magnitude is negative
