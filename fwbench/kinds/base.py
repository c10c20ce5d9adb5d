"""The contract every workload kind fulfils (benchopt's Objective/Dataset/Solver split).

A kind is constructed from a validated :class:`~fwbench.spec.loader.Workload`
and, for a given set of sweep parameters, states

* its cost (:meth:`cost`: FLOPs, the bytes a fused and an unfused evaluation
  move, and the host memory the cell needs),
* how to make its inputs on the host from a seed (:meth:`make_inputs`),
* the NumPy float64 reference result (:meth:`reference`),
* an idiomatic implementation for one framework and mode (:meth:`build`
  returns the zero-argument callable the timer calls),
* how to check what that callable computed (:meth:`check`) and what else to
  record (:meth:`extra_fields`),
* why a cell cannot run (:meth:`skip`, a reason shown to the user, or None).

The default :meth:`build` compiles :meth:`implementation` with the adapter's
mode and closes over the device inputs; the default :meth:`check` compares
the last output with the reference.  Stateful kinds (training) override both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from fwbench.adapters.base import DEFAULT_CACHE, DEFAULT_MATMUL_PRECISION

if TYPE_CHECKING:
    import numpy as np

    from fwbench.kinds.fields import FieldReader
    from fwbench.kinds.workload import Workload

# Normwise relative error allowed per dtype (|out - ref|_max / scale).
TOLERANCES = {"float16": 1e-2, "bfloat16": 5e-2, "float32": 1e-4, "float64": 1e-10}
# With matmul_precision "high", float32 products may run in TF32 (10-bit mantissa, about 5e-4 relative per
# product, more after long sums) or three bfloat16 passes: float32 results are checked as float16's are.
HIGH_PRECISION_TOLERANCE = 1e-2
ITEMSIZES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
VERIFY_CHUNK = 1 << 17


@dataclass(frozen=True)
class Cost:
    flops: int
    fused_bytes: int
    unfused_bytes: int
    memory_bytes: int


@dataclass(frozen=True)
class Reference:
    """The float64 result and the magnitude errors are measured against."""

    value: "np.ndarray"
    scale: float


@dataclass(frozen=True)
class Verification:
    max_abs_err: float
    max_rel_err: float
    tolerance: float
    ok: bool
    detail: str = ""


class Kind:
    NAME: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[str, ...]] = ()
    REQUIRED_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, workload: "Workload") -> None:
        self.workload = workload
        self.options = workload.options
        # The run's choice (fwbench.execution.runner applies --matmul-precision and --cache to the workloads),
        # else the default.
        self.matmul_precision = workload.matmul_precision or DEFAULT_MATMUL_PRECISION
        self.cache = workload.cache or DEFAULT_CACHE

    @classmethod
    def parse_options(cls, reader: "FieldReader", sweep: dict[str, list[int]]) -> dict[str, Any]:
        """Validate the kind's own fields; return them as JSON-able data."""
        raise NotImplementedError

    @property
    def dtype(self) -> str:
        raise NotImplementedError

    def describe(self, params: dict[str, int]) -> str:
        return self.workload.description

    def cost(self, params: dict[str, int]) -> Cost:
        raise NotImplementedError

    def make_inputs(self, params: dict[str, int], seed: int) -> list["np.ndarray"]:
        raise NotImplementedError

    def reference(self, params: dict[str, int], inputs: list["np.ndarray"]) -> Reference:
        raise NotImplementedError

    # Kinds whose inputs come from user code that also names them (``kind: python``) make them afresh.
    CACHE_INPUTS: ClassVar[bool] = True
    # Kinds that prepare the worker (import a library after the framework) run in a worker of their own.
    OWN_WORKER: ClassVar[bool] = False

    @classmethod
    def prepare_worker(cls, framework: str) -> dict[str, Any]:
        """In a worker of an ``OWN_WORKER`` kind, after the framework's import and before any cell forks:
        import what every cell would otherwise import afresh; settings to record (the default: nothing)."""
        return {}

    def runtime_cost(self, params: dict[str, int]) -> Cost | None:
        """The cost as the worker can know it (a user module's flops()), where the parent could not."""
        return None

    def implementation(self, params: dict[str, int], framework: str, adapter: Any) -> Callable[..., Any]:
        """A function of the device inputs written with ``framework``'s own API."""
        raise NotImplementedError

    def build(self, params: dict[str, int], framework: str, mode: str, adapter: Any,
              device_inputs: list[Any]) -> Callable[[], Any]:
        """The callable to time: one call of the implementation, compiled for ``mode``."""
        function = adapter.compile(self.implementation(params, framework, adapter), mode)
        return lambda: function(*device_inputs)

    def check(self, params: dict[str, int], adapter: Any, call: Callable[[], Any], last_output: Any,
              reference: Reference) -> Verification:
        return self.verify(adapter.to_host(last_output), reference, params)

    def extra_fields(self, params: dict[str, int], call: Callable[[], Any]) -> dict[str, Any]:
        """Kind-specific fields for the result record (e.g. a loss trajectory)."""
        return {}

    def samples_per_call(self, params: dict[str, int]) -> int | None:
        """Training samples one call processes (for samples_per_s), or None."""
        return None

    def skip(self, params: dict[str, int], framework: str, mode: str, device: str) -> str | None:
        return None

    def tolerance(self, params: dict[str, int]) -> float:
        if self.workload.tolerance is not None:
            return self.workload.tolerance
        if self.matmul_precision == "high" and self.dtype == "float32":
            return max(TOLERANCES[self.dtype], HIGH_PRECISION_TOLERANCE)
        return TOLERANCES[self.dtype]

    def verify(self, output: "np.ndarray", reference: Reference, params: dict[str, int]) -> Verification:
        """Normwise comparison: max |output - reference| divided by the reference's scale."""
        import numpy as np

        tolerance = self.tolerance(params)
        output = np.asarray(output)
        expected = reference.value
        if output.shape != expected.shape:
            return Verification(math.inf, math.inf, tolerance, False,
                                f"shape {list(output.shape)} differs from the reference {list(expected.shape)}")
        max_abs = 0.0
        flat_output, flat_expected = output.reshape(-1), expected.reshape(-1)
        buffer = np.empty(min(VERIFY_CHUNK, flat_output.size), dtype=np.float64)
        for start in range(0, flat_output.size, VERIFY_CHUNK):  # cache-sized chunks: no GB temporaries
            got = flat_output[start:start + VERIFY_CHUNK]
            want = flat_expected[start:start + VERIFY_CHUNK]
            difference = buffer[:got.size]
            with np.errstate(invalid="ignore"):  # inf - inf where both are infinite
                np.subtract(got, want, out=difference, dtype=np.float64)
            np.abs(difference, out=difference)
            largest = float(difference.max()) if difference.size else 0.0
            if not np.isfinite(largest):  # rare: find out whether the reference is non-finite there too
                bad = ~np.isfinite(np.asarray(got, dtype=np.float64)) & np.isfinite(want)
                if bad.any():
                    return Verification(math.inf, math.inf, tolerance, False,
                                        f"{int(bad.sum())} or more non-finite values where the reference is finite")
                largest = float(np.nanmax(np.where(np.isfinite(difference), difference, 0.0)))
            max_abs = max(max_abs, largest)
        scale = reference.scale if reference.scale > 0 else 1.0
        max_rel = max_abs / scale
        return Verification(max_abs, max_rel, tolerance, max_rel <= tolerance)
