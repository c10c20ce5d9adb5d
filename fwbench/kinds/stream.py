"""The ``stream`` kind: STREAM-style memory-bandwidth kernels, the machine's memory limit.

Example::

    - name: bandwidth_scale
      kind: stream
      operation: scale        # scale: a = 3*b (reads N, writes N); triad: a = b + 3*c (reads 2N, writes N)
      elements: n
      sweep: {n: [100000000]}

NumPy and PyTorch write into a preallocated output (``np.multiply(b, 3, out=a)``,
``torch.mul(b, 3, out=a)``), as STREAM does, so page faults of fresh
allocations are not counted; JAX and TensorFlow allocate from their own
memory pools, which reuse the same buffers after the first calls.  The bytes
moved are exact: ``fused_bytes`` / median time is the achieved bandwidth.
"""

from __future__ import annotations

from typing import Any, Callable

from fwbench.kinds.base import ITEMSIZES, Cost, Kind, Reference
from fwbench.kinds.fields import FieldReader, check_sweep_used, take_size

OPERATIONS = {"scale": 2, "triad": 3}  # arrays touched per element
SCALAR = 3.0


class StreamKind(Kind):
    NAME = "stream"
    FIELDS = ("operation", "elements", "dtype")
    REQUIRED_FIELDS = ("elements",)

    @classmethod
    def parse_options(cls, reader: FieldReader, sweep: dict[str, list[int]]) -> dict[str, Any]:
        elements = take_size(reader, "elements", sweep)
        check_sweep_used(reader, sweep, {elements}, "'elements'")
        return {"operation": reader.take_choice("operation", tuple(OPERATIONS), "scale"),
                "elements": elements, "dtype": reader.take_choice("dtype", tuple(ITEMSIZES), "float32")}

    @property
    def dtype(self) -> str:
        return self.options["dtype"]

    def elements(self, params: dict[str, int]) -> int:
        value = self.options["elements"]
        return params[value] if isinstance(value, str) else value

    def cost(self, params: dict[str, int]) -> Cost:
        n, itemsize = self.elements(params), ITEMSIZES[self.dtype]
        arrays = OPERATIONS[self.options["operation"]]
        moved = arrays * n * itemsize
        return Cost(flops=n * (arrays - 1), fused_bytes=moved, unfused_bytes=moved,
                    memory_bytes=n * (arrays * itemsize * 2 + 16))

    def describe(self, params: dict[str, int]) -> str:
        formula = "a = 3*b" if self.options["operation"] == "scale" else "a = b + 3*c"
        return self.workload.description or f"STREAM {self.options['operation']}: {formula}"

    def make_inputs(self, params: dict[str, int], seed: int) -> list[Any]:
        import numpy as np

        from fwbench.kinds.expression import host_dtype

        generator = np.random.default_rng(np.random.SeedSequence([seed, 0]))
        count = OPERATIONS[self.options["operation"]] - 1
        return [generator.random(self.elements(params), dtype=np.float32).astype(host_dtype(self.dtype))
                for _ in range(count)]

    def reference(self, params: dict[str, int], inputs: list[Any]) -> Reference:
        import numpy as np

        wide = [np.asarray(a, dtype=np.float64) for a in inputs]
        value = SCALAR * wide[0] if len(wide) == 1 else wide[0] + SCALAR * wide[1]
        return Reference(value, float(np.max(np.abs(value))))

    def skip(self, params: dict[str, int], framework: str, mode: str, device: str) -> str | None:
        if framework == "numpy" and self.dtype == "bfloat16":
            return "NumPy has no native bfloat16 arithmetic"
        return None

    def build(self, params: dict[str, int], framework: str, mode: str, adapter: Any,
              device_inputs: list[Any]) -> Callable[[], Any]:
        triad = self.options["operation"] == "triad"
        if framework == "numpy":
            np = adapter.np
            out = np.empty_like(device_inputs[0])
            b = device_inputs[0]
            if triad:
                c = device_inputs[1]
                # Two passes over a preallocated output, as NumPy users write a fused triad.
                def numpy_triad() -> Any:
                    np.multiply(c, SCALAR, out=out)
                    return np.add(out, b, out=out)
                return numpy_triad
            return lambda: np.multiply(b, SCALAR, out=out)
        if framework == "torch":
            torch = adapter.torch
            out = torch.empty_like(device_inputs[0])
            if triad:
                return lambda: torch.add(device_inputs[0], device_inputs[1], alpha=SCALAR, out=out)
            return lambda: torch.mul(device_inputs[0], SCALAR, out=out)
        function = (lambda b, c: b + SCALAR * c) if triad else (lambda b: SCALAR * b)
        compiled = adapter.compile(function, mode)
        return lambda: compiled(*device_inputs)
