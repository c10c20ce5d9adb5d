"""NumPy's kernels: the BLAS it loaded, its version and the core type whose kernels it runs (threadpoolctl)."""

from __future__ import annotations

from typing import Any

from fwbench.machine.kernels import named_isa, openblas_isa


def kernel_facts() -> dict[str, Any]:
    """The libraries behind NumPy's matrix products, in the worker after ``load``: each with its version, the
    kernel set it chose and that set's instruction set; ``gemm`` is the one that runs float32 products."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError as error:
        return {"libraries": [], "gemm": None, "unknown": f"threadpoolctl is not installed ({error})"}
    libraries = []
    for entry in threadpool_info():
        if entry.get("user_api") != "blas":
            continue
        internal = entry.get("internal_api")
        architecture = entry.get("architecture")
        isa = openblas_isa(architecture) if internal == "openblas" else named_isa(architecture)
        libraries.append({"library": {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(internal, internal),
                          "version": entry.get("version"), "file": entry.get("filepath"),
                          "kernel": architecture or "chosen at run time", "isa": isa,
                          "threads": entry.get("num_threads"), "role": "BLAS (matrix products)",
                          "source": "threadpoolctl"})
    return {"libraries": libraries, "gemm": libraries[0] if libraries else None}
