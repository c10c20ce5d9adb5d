"""PyTorch's kernels: its vectorised ATen kernels (CPU capability), the BLAS behind its matrix products (MKL in
the x86 wheels) with the instruction set MKL itself says it dispatched to, and oneDNN."""

from __future__ import annotations

import re
from typing import Any

from fwbench.adapters.base import verbose_output_in_child
from fwbench.adapters.torch import config_value
from fwbench.machine.kernels import named_isa, short_version


def _mkl_verbose_line() -> str | None:
    """MKL's own first verbose line ('... Intel(R) Advanced Vector Extensions 512 (Intel(R) AVX-512) ...'),
    from one small product in a throwaway child."""
    import torch

    def body() -> None:
        torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON).__enter__()
        matrix = torch.ones(64, 64)
        torch.mm(matrix, matrix)

    output = verbose_output_in_child(body, {})
    lines = [line for line in output.splitlines() if line.startswith("MKL_VERBOSE") and "SGEMM" not in line]
    if not lines:
        return None
    line = lines[0].replace("MKL_VERBOSE", "").strip()
    instructions = re.search(r"architecture (.*?)(?: enabled processors)?, Lnx", line)
    return instructions.group(1) if instructions else line


def kernel_facts() -> dict[str, Any]:
    """The libraries behind PyTorch's CPU kernels, in the worker after ``load``; ``gemm`` runs float32 products."""
    import torch

    report = torch.__config__.show()
    lines = [line.strip(" -") for line in report.splitlines()]
    capability = torch.backends.cpu.get_cpu_capability()
    libraries = [{"library": "ATen vectorised kernels", "version": torch.__version__, "kernel": capability,
                  "isa": named_isa(capability), "role": "element-wise and reductions",
                  "source": "torch.backends.cpu.get_cpu_capability()"}]
    blas = config_value(report, "BLAS_INFO=")
    gemm = None
    if blas == "mkl":
        version = next((line for line in lines if "Math Kernel Library" in line), None)
        verbose = _mkl_verbose_line()
        gemm = {"library": "MKL", "version": short_version(version),
                "kernel": verbose or "chosen at run time (MKL said nothing)",
                "isa": named_isa(verbose), "role": "BLAS (matrix products)", "source": "MKL_VERBOSE"}
        libraries.append(gemm)
    elif blas != "unknown":
        gemm = {"library": blas, "version": None, "kernel": "unknown", "isa": None, "role": "BLAS (matrix products)",
                "source": "torch.__config__.show()"}
        libraries.append(gemm)
    onednn = next((line for line in lines if "MKL-DNN" in line or "oneDNN" in line), None)
    if onednn and torch.backends.mkldnn.is_available():
        libraries.append({"library": "oneDNN", "version": short_version(onednn), "kernel": "chosen at run time",
                          "isa": None, "role": "convolutions and low-precision products",
                          "source": "torch.__config__.show()"})
    return {"libraries": libraries, "gemm": gemm}
