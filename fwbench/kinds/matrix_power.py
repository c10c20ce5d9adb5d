"""The ``matrix_power`` kind: ``A**k`` for a square matrix, by repeated squaring.

Example::

    - name: matrix_power_4
      kind: matrix_power
      power: 4
      size: n
      dtype: float32
      sweep: {n: [64, 256, 1024, 4096]}

Each framework uses its own routine: ``np.linalg.matrix_power``,
``jnp.linalg.matrix_power``, ``torch.linalg.matrix_power``; TensorFlow has
none, so it squares with ``tf.linalg.matmul`` in the same binary order.  The
number of products is ``floor(log2 k) + popcount(k) - 1`` (2 for k=4, 3 for
k=5), each costing exactly ``2 n**3`` FLOPs.  ``A`` is a standard normal
matrix scaled by ``1/sqrt(n)``, so its spectral radius is about 1 and the
powers stay in range.
"""

from __future__ import annotations

from typing import Any, Callable

from fwbench.kinds.base import ITEMSIZES, Cost, Kind, Reference
from fwbench.kinds.fields import FieldReader, check_sweep_used, take_size

MAX_POWER = 64


def product_count(power: int) -> int:
    return power.bit_length() - 1 + bin(power).count("1") - 1


class MatrixPowerKind(Kind):
    NAME = "matrix_power"
    FIELDS = ("power", "size", "dtype")
    REQUIRED_FIELDS = ("power", "size")

    @classmethod
    def parse_options(cls, reader: FieldReader, sweep: dict[str, list[int]]) -> dict[str, Any]:
        power = reader.take_int("power", minimum=1, maximum=MAX_POWER)
        size = take_size(reader, "size", sweep)
        check_sweep_used(reader, sweep, {size}, "'size'")
        return {"power": power, "size": size, "dtype": reader.take_choice("dtype", tuple(ITEMSIZES), "float32")}

    @property
    def dtype(self) -> str:
        return self.options["dtype"]

    def size(self, params: dict[str, int]) -> int:
        size = self.options["size"]
        return params[size] if isinstance(size, str) else size

    def cost(self, params: dict[str, int]) -> Cost:
        n, itemsize = self.size(params), ITEMSIZES[self.dtype]
        products = product_count(self.options["power"])
        matrix_bytes = n * n * itemsize
        return Cost(
            flops=products * 2 * n**3,
            fused_bytes=2 * matrix_bytes,
            unfused_bytes=max(products * 3, 2) * matrix_bytes,
            memory_bytes=n * n * (5 * itemsize + 4 * 8),
        )

    def describe(self, params: dict[str, int]) -> str:
        return self.workload.description or f"A**{self.options['power']} by repeated squaring"

    def make_inputs(self, params: dict[str, int], seed: int) -> list[Any]:
        import numpy as np

        from fwbench.kinds.expression import host_dtype

        n = self.size(params)
        generator = np.random.default_rng(np.random.SeedSequence([seed, 0]))
        matrix = generator.standard_normal((n, n), dtype=np.float32) / np.float32(np.sqrt(n))
        return [matrix.astype(host_dtype(self.dtype), copy=False)]

    def reference(self, params: dict[str, int], inputs: list[Any]) -> Reference:
        import numpy as np

        matrix = np.asarray(inputs[0], dtype=np.float64)
        value = np.linalg.matrix_power(matrix, self.options["power"])
        # Rounding error of a product grows with |A| @ |B|, not with the result.
        magnitude = np.linalg.matrix_power(np.abs(matrix), self.options["power"])
        return Reference(value, float(np.max(magnitude)))

    def skip(self, params: dict[str, int], framework: str, mode: str, device: str) -> str | None:
        if framework == "numpy" and self.dtype == "bfloat16":
            return "NumPy has no native bfloat16 matrix product (ml_dtypes emulates it element by element)"
        return None

    def implementation(self, params: dict[str, int], framework: str, adapter: Any) -> Callable[..., Any]:
        power = self.options["power"]
        if framework == "numpy":
            linalg = adapter.np.linalg
            return lambda matrix: linalg.matrix_power(matrix, power)
        if framework == "jax":
            linalg = adapter.jnp.linalg
            return lambda matrix: linalg.matrix_power(matrix, power)
        if framework == "torch":
            linalg = adapter.torch.linalg
            return lambda matrix: linalg.matrix_power(matrix, power)
        if framework == "tensorflow":
            matmul = adapter.tf.linalg.matmul
            return lambda matrix: power_by_squaring(matrix, power, matmul)
        raise ValueError(f"no matrix_power implementation for {framework}")


def power_by_squaring(matrix: Any, power: int, matmul: Callable[[Any, Any], Any]) -> Any:
    """``matrix**power`` with the same products, in the same order, as ``np.linalg.matrix_power``."""
    result = square = None
    while power > 0:
        square = matrix if square is None else matmul(square, square)
        power, bit = divmod(power, 2)
        if bit:
            result = square if result is None else matmul(result, square)
    return result
