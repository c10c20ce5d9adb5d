"""The ``expression`` kind: an element-wise/array expression over named inputs.

Example::

    - name: power_sum
      kind: expression
      expr: "x + x*x + x*x*x"
      inputs:
        x: {shape: [n, n], dtype: float32, init: normal}
      sweep: {n: [1000, 4000, 10000]}

The expression is parsed once by :mod:`fwbench.language.expression` and built per
framework from that framework's own ops, so JAX gets ``jax.numpy``, PyTorch
``torch`` and TensorFlow ``tf.math``.  FLOPs and bytes come from the parsed
tree and the concrete shapes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from fwbench.errors import SpecError
from fwbench.kinds.base import ITEMSIZES, Cost, Kind, Reference
from fwbench.kinds.fields import IDENTIFIER, FieldReader
from fwbench.language import expression as expr_module
from fwbench.language.expression_code import build
from fwbench.language.expression_cost import Analysis, analyse

INPUT_KEYS = ("shape", "dtype", "init")
INITS = ("normal", "scaled_normal", "uniform", "positive", "ones", "zeros")
DTYPES = tuple(ITEMSIZES)


class ExpressionKind(Kind):
    NAME = "expression"
    FIELDS = ("expr", "inputs")
    REQUIRED_FIELDS = ("expr", "inputs")

    def __init__(self, workload) -> None:
        super().__init__(workload)
        self.input_names = list(self.options["inputs"])
        self.tree = expr_module.parse(self.options["expr"], self.input_names)

    # ------------------------------------------------------------------ spec

    @classmethod
    def parse_options(cls, reader: FieldReader, sweep: dict[str, list[int]]) -> dict[str, Any]:
        raw_inputs = reader.raw("inputs")
        inputs_reader = reader.child("inputs", raw_inputs, "the inputs (name: {shape, dtype, init})")
        if not inputs_reader.mapping:
            raise reader.error("inputs", "got an empty mapping, expected at least one input",
                               "add e.g. 'x: {shape: [n, n], dtype: float32}'")
        inputs: dict[str, dict[str, Any]] = {}
        used_symbols: set[str] = set()
        for name, value in inputs_reader.mapping.items():
            if not isinstance(name, str) or not IDENTIFIER.match(name):
                raise reader.error("inputs", f"got the input name {name!r}, expected a name like x")
            item = inputs_reader.child(name, value, f"input {name}")
            item.check_keys(INPUT_KEYS, required=("shape",))
            shape = item.raw("shape")
            if not isinstance(shape, list):
                raise item.error("shape", f"got {shape!r}, expected a list of sizes or sweep symbols like [n, n]")
            for dimension in shape:
                if isinstance(dimension, str):
                    if dimension not in sweep:
                        known = ", ".join(sweep) or "(no sweep)"
                        raise item.error("shape", f"the symbol '{dimension}' is not defined in the sweep "
                                                  f"(sweep symbols: {known})",
                                         f"add 'sweep: {{{dimension}: [...]}}' or use a number")
                    used_symbols.add(dimension)
                elif isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
                    raise item.error("shape", f"got the dimension {dimension!r}, expected a positive "
                                              "integer or a sweep symbol")
            inputs[name] = {
                "shape": list(shape),
                "dtype": item.take_choice("dtype", DTYPES, "float32"),
                "init": item.take_choice("init", INITS, "normal"),
            }
        dtypes = {spec["dtype"] for spec in inputs.values()}
        if len(dtypes) > 1:
            raise reader.error("inputs", f"the inputs mix dtypes {sorted(dtypes)}; all inputs of a "
                                         "workload share one dtype so every framework computes in it")
        unused = [symbol for symbol in sweep if symbol not in used_symbols]
        if unused:
            raise reader.error("sweep", f"the symbol '{unused[0]}' is not used by any input shape",
                               "remove it from the sweep or use it in a shape")
        text = reader.take_str("expr")
        try:
            tree = expr_module.parse(text, list(inputs))
            for params in _all_parameter_sets(sweep):
                analyse(tree, _shapes(inputs, params), ITEMSIZES[next(iter(dtypes))])
        except expr_module.ExpressionError as error:
            shown = text if len(text) <= 80 else text[:60] + "..."
            raise reader.error("expr", f"{error} in {shown!r}") from None
        return {"expr": text, "inputs": inputs}

    # ------------------------------------------------------------------ cost

    @property
    def dtype(self) -> str:
        return next(iter(self.options["inputs"].values()))["dtype"]

    def shapes(self, params: dict[str, int]) -> dict[str, tuple[int, ...]]:
        return _shapes(self.options["inputs"], params)

    def analysis(self, params: dict[str, int]) -> Analysis:
        try:
            return analyse(self.tree, self.shapes(params), ITEMSIZES[self.dtype])
        except expr_module.ExpressionError as error:
            raise SpecError(f"{error} for {params}", file=self.workload.spec_file,
                            workload=self.workload.name, field="expr") from None

    def cost(self, params: dict[str, int]) -> Cost:
        analysis = self.analysis(params)
        itemsize = ITEMSIZES[self.dtype]
        input_elements = sum(math.prod(shape) for shape in self.shapes(params).values())
        output_elements = math.prod(analysis.shape)
        largest_elements = analysis.max_intermediate_bytes // itemsize
        # host inputs + device copies + float64 copies for the reference,
        # float64 reference temporaries, and the framework's own intermediates.
        memory = (
            input_elements * (2 * itemsize + 8)
            + output_elements * (itemsize + 16)
            + largest_elements * (8 * 2 + itemsize * 2)
        )
        return Cost(analysis.flops, analysis.fused_bytes, analysis.unfused_bytes, memory)

    def describe(self, params: dict[str, int]) -> str:
        return self.workload.description or self.options["expr"]

    # ------------------------------------------------------------------ data

    def make_inputs(self, params: dict[str, int], seed: int) -> list[Any]:
        import numpy as np

        arrays = []
        for index, (name, spec) in enumerate(self.options["inputs"].items()):
            generator = np.random.default_rng(np.random.SeedSequence([seed, index]))
            shape = tuple(self.shapes(params)[name])
            init = spec["init"]
            if init == "normal":
                array = generator.standard_normal(shape, dtype=np.float32)
            elif init == "scaled_normal":
                # normal / sqrt(last dimension): matrix powers keep a spectral radius near 1
                array = generator.standard_normal(shape, dtype=np.float32) / np.float32(np.sqrt(shape[-1]))
            elif init == "uniform":
                array = generator.random(shape, dtype=np.float32)
            elif init == "positive":
                array = generator.random(shape, dtype=np.float32) + np.float32(0.5)
            elif init == "ones":
                array = np.ones(shape, dtype=np.float32)
            else:
                array = np.zeros(shape, dtype=np.float32)
            arrays.append(array.astype(host_dtype(spec["dtype"]), copy=False))
        return arrays

    def _elementwise_same_shape(self, inputs: list[Any]) -> bool:
        """Whether the expression can be evaluated block by block on flat views (same shapes, no reductions)."""
        shapes = {tuple(array.shape) for array in inputs}
        return (len(shapes) == 1 and len(next(iter(shapes))) >= 1
                and not expr_module.has_reduction_or_matmul(self.tree) and not expr_module.moves_elements(self.tree))

    def reference(self, params: dict[str, int], inputs: list[Any]) -> Reference:
        import numpy as np

        from fwbench.adapters.numpy import NumpyOps

        function = build(self.tree, NumpyOps, self.input_names)
        if self._elementwise_same_shape(inputs) and inputs[0].size > CHUNK_ELEMENTS:
            # Block by block: the float64 temporaries stay in cache, and below glibc's mmap threshold,
            # instead of costing GBs of page faults.
            value = np.empty(inputs[0].shape, dtype=np.float64)
            flat_value = value.reshape(-1)  # a view: value is contiguous
            flat_inputs = [np.ascontiguousarray(array).reshape(-1) for array in inputs]
            scale = 0.0
            for start in range(0, flat_value.size, CHUNK_ELEMENTS):
                wide = [np.asarray(array[start:start + CHUNK_ELEMENTS], dtype=np.float64) for array in flat_inputs]
                block = flat_value[start:start + CHUNK_ELEMENTS]
                block[...] = function(*wide)
                scale = max(scale, float(np.max(block)), -float(np.min(block)))  # while the block is in cache
            return Reference(value, scale)
        wide = [np.asarray(array, dtype=np.float64) for array in inputs]
        value = np.asarray(function(*wide), dtype=np.float64)
        if expr_module.has_reduction_or_matmul(self.tree):
            # Rounding errors of sums grow with the sum of |terms|, not with the result.
            magnitude = build(self.tree, NumpyOps, self.input_names, magnitude=True)(*wide)
            scale = float(np.max(np.abs(magnitude)))
        else:
            scale = float(np.max(np.abs(value))) if value.size else 0.0
        return Reference(value, scale)

    def implementation(self, params: dict[str, int], framework: str, adapter: Any) -> Callable[..., Any]:
        return build(self.tree, adapter.ops(), self.input_names)

    def skip(self, params: dict[str, int], framework: str, mode: str, device: str) -> str | None:
        if framework == "numpy" and self.dtype == "bfloat16":
            return ("NumPy has no native bfloat16 arithmetic (ml_dtypes emulates it element by element, "
                    "which no NumPy user would benchmark)")
        return None


# 64 KB of float64 per temporary: in L2, and under glibc's 128 KB mmap threshold (above it, every
# temporary is a fresh mapping whose pages fault in: four times slower on this kind of work).
CHUNK_ELEMENTS = 1 << 13


def host_dtype(name: str) -> Any:
    """The NumPy dtype for ``name`` (bfloat16 comes from ml_dtypes)."""
    import numpy as np

    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def _shapes(inputs: dict[str, dict[str, Any]], params: dict[str, int]) -> dict[str, tuple[int, ...]]:
    return {
        name: tuple(params[d] if isinstance(d, str) else d for d in spec["shape"])
        for name, spec in inputs.items()
    }


def _all_parameter_sets(sweep: dict[str, list[int]]) -> list[dict[str, int]]:
    import itertools

    symbols = list(sweep)
    return [dict(zip(symbols, values)) for values in itertools.product(*(sweep[s] for s in symbols))]
