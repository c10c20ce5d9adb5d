"""The expression kind's float64 reference: block by block for large element-wise work, exactly as a whole;
whole for trees that move elements, with an error scale that admits every framework's float32 result."""

import numpy as np
import pytest

from fwbench.adapters import FRAMEWORKS, get_adapter
from fwbench.kinds import get_kind_class
from fwbench.kinds.expression import CHUNK_ELEMENTS
from fwbench.spec.loader import load_spec
from tests.conftest import require_framework

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


MANIPULATIONS = """
version: 1
workloads:
  - name: manipulations
    kind: expression
    expr: |
      s = sort(x, axis=0) - where(x > 0, x, 0)
      s + permute_dims(x, (0, 2, 1)).mT * var(x, axis=-1, keepdims=True, correction=1) - std(x)
    inputs:
      x: {shape: [3, 70, 50]}
"""


def test_a_tree_that_moves_elements_is_never_evaluated_block_by_block(write_spec):
    """sort along axis 0 of flat blocks would sort the wrong elements: the whole array is evaluated."""
    no_reductions = MANIPULATIONS.replace(" * var(x, axis=-1, keepdims=True, correction=1) - std(x)", "")
    workload = load_spec(write_spec(no_reductions)).workloads[0]
    kind = get_kind_class("expression")(workload)
    inputs = kind.make_inputs({}, workload.seed)
    assert inputs[0].size > CHUNK_ELEMENTS
    x = np.asarray(inputs[0], dtype=np.float64)
    expected = np.sort(x, axis=0) - np.where(x > 0, x, 0) + x
    assert np.array_equal(kind.reference({}, inputs).value, expected)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_manipulations_and_statistics_pass_verification_in_every_framework_and_mode(framework, write_spec):
    """The reference's error scale (the mean of squares for std and var, the larger value for where) admits
    each framework's float32 result, and a wrong one still fails."""
    require_framework(framework)
    workload = load_spec(write_spec(MANIPULATIONS)).workloads[0]
    kind = get_kind_class("expression")(workload)
    inputs = kind.make_inputs({}, workload.seed)
    reference = kind.reference({}, inputs)
    adapter = get_adapter(framework)
    adapter.load(2)
    adapter.select_device("cpu")
    device_inputs = [adapter.to_device(array) for array in inputs]
    for mode in adapter.MODES:
        output = adapter.to_host(adapter.compile(kind.implementation({}, framework, adapter), mode)(*device_inputs))
        verification = kind.verify(output, reference, {})
        assert verification.ok, f"{framework}/{mode}: {verification}"
        wrong = np.array(output, dtype=np.float64)
        wrong[0, 0, 0] += 1e-3 * reference.scale
        assert not kind.verify(wrong, reference, {}).ok
