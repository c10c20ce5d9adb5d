"""JAX's kernels: XLA:CPU compiles every function for this host's CPU (LLVM), unless XLA_FLAGS say otherwise."""

from __future__ import annotations

import os
from typing import Any


def kernel_facts() -> dict[str, Any]:
    """The compiler behind JAX's CPU kernels, in the worker after ``load``; it also runs float32 products."""
    import jaxlib

    flags = os.environ.get("XLA_FLAGS")
    gemm = {"library": "XLA:CPU", "version": f"jaxlib {jaxlib.__version__}",
            "kernel": "code generated for this host's CPU" + (f" (XLA_FLAGS={flags})" if flags else ""),
            "isa": None, "role": "every operation, matrix products included", "source": "XLA_FLAGS"}
    return {"libraries": [gemm], "gemm": gemm}
