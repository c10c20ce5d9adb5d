"""TensorFlow's kernels: whether its oneDNN operations are on, the instruction set oneDNN says it dispatched
to, Eigen elsewhere, and XLA for ``jit_compile`` (the ``xla`` mode)."""

from __future__ import annotations

import os
from typing import Any

from fwbench.adapters.base import verbose_output_in_child
from fwbench.machine.kernels import named_isa, short_version


def _onednn_enabled() -> bool | None:
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # noqa: BLE001 - a private module: absent in some builds
        return None


def _onednn_verbose() -> tuple[str | None, str | None]:
    """oneDNN's version and ISA lines ('oneDNN v3.7.3', 'Intel AVX-512 with Intel DL Boost'), from one small
    product in a throwaway child with ONEDNN_VERBOSE=1."""
    import tensorflow as tf

    def body() -> None:
        matrix = tf.ones((64, 64))
        tf.linalg.matmul(matrix, matrix).numpy()

    version = isa = None
    # The child hides every GPU, so the product runs on the CPU and no device runtime starts on a GPU host.
    for line in verbose_output_in_child(body, {"ONEDNN_VERBOSE": "1", "CUDA_VISIBLE_DEVICES": ""}).splitlines():
        if not line.startswith("onednn_verbose") or ",info," not in line:
            continue
        if "oneDNN v" in line and version is None:
            version = short_version(line[line.index("oneDNN v"):].strip())
        if ",isa:" in line and isa is None:
            isa = line.split(",isa:", 1)[1].strip()
    return version, isa


def kernel_facts() -> dict[str, Any]:
    """The libraries behind TensorFlow's CPU kernels, in the worker after ``load``; ``gemm`` runs float32
    products in its eager and function modes."""
    import tensorflow as tf

    enabled = _onednn_enabled()
    switch = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    libraries = []
    gemm = None
    if enabled and switch not in ("0", "false", "False"):
        version, isa_text = _onednn_verbose()
        gemm = {"library": "oneDNN", "version": version, "kernel": isa_text or "chosen at run time (oneDNN said "
                "nothing: its operations may not have run)", "isa": named_isa(isa_text),
                "role": "matrix products and convolutions (TF_ENABLE_ONEDNN_OPTS "
                        + (f"={switch}" if switch is not None else "on by default") + ")",
                "source": "ONEDNN_VERBOSE"}
        libraries.append(gemm)
    else:
        gemm = {"library": "Eigen", "version": tf.__version__, "kernel": "compiled into TensorFlow", "isa": None,
                "role": "matrix products (oneDNN operations off)", "source": "TF_ENABLE_ONEDNN_OPTS"}
        libraries.append(gemm)
    libraries.append({"library": "XLA:CPU", "version": tf.__version__,
                      "kernel": "code generated for this host's CPU" + (
                          f" (XLA_FLAGS={os.environ['XLA_FLAGS']})" if os.environ.get("XLA_FLAGS") else ""),
                      "isa": None, "role": "the xla mode (jit_compile=True)", "source": "XLA_FLAGS"})
    return {"libraries": libraries, "gemm": gemm}
