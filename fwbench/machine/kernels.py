"""Which kernels the frameworks can run here: the CPU's best instruction set, the environment variables that
change a framework's kernels or threads, and one scale on which both compare (no framework is imported).

Each framework's worker reports what it loaded (``fwbench/adapters/<framework>/kernels.py``:
``kernel_facts()``): its BLAS/DNN libraries, their versions and the instruction set each runs.  This
module supplies the host side of the comparison:

- :func:`cpu_best_isa`: the widest vector instruction set the CPU offers (``/proc/cpuinfo`` flags);
- :func:`kernel_environment`: every variable that changes kernels or threads (``OPENBLAS_*``, ``MKL_*``,
  ``DNNL_*``/``ONEDNN_*``, ``XLA_FLAGS``, ``TF_*``, ``OMP_*``, ``KMP_*``, ``GOTO*``, ``ATEN_*``, ``BLIS_*``);
- :func:`variables_changing_kernels`: the ones known to change a given framework's kernels
  (``OPENBLAS_CORETYPE`` makes OpenBLAS use the named core's kernels instead of the one it detects);
- :func:`isa_rank` and the library-specific names (:func:`openblas_isa`, :func:`named_isa`).

Facts carried over from the libraries' documentation: OpenBLAS picks its kernels per core type at load time
(``DYNAMIC_ARCH``) unless ``OPENBLAS_CORETYPE`` names one; threadpoolctl reports the chosen one as
``architecture``.  MKL and oneDNN dispatch at run time to the best ISA they support on the CPU, capped by
``MKL_ENABLE_INSTRUCTIONS`` and ``ONEDNN_MAX_CPU_ISA`` (``DNNL_MAX_CPU_ISA``); on non-Intel CPUs MKL may take a
lesser path.  PyTorch's own vectorised kernels are chosen by ``ATEN_CPU_CAPABILITY`` or detection.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Mapping

# From narrowest to widest; a kernel set is compared with the CPU's best on this scale.
ISA_LEVELS = ("baseline", "SSE4.2", "AVX", "AVX2", "AVX-512")

KERNEL_VARIABLE_PREFIXES = ("OPENBLAS_", "GOTO", "MKL_", "KMP_", "DNNL_", "ONEDNN_", "TF_", "OMP_", "ATEN_",
                            "BLIS_")
KERNEL_VARIABLE_NAMES = ("XLA_FLAGS", "LD_PRELOAD")
# Terraform's variables share TensorFlow's prefix and change nothing here.
NOT_KERNEL_PREFIXES = ("TF_CLI_", "TF_VAR_", "TF_LOG", "TF_WORKSPACE", "TF_DATA_DIR", "TF_PLUGIN_CACHE_DIR",
                       "TF_IN_AUTOMATION", "TF_INPUT", "TF_REGISTRY_")

# Variables that change which kernels a framework runs (not only its threads), and whose frameworks.
KERNEL_CHANGING_VARIABLES: dict[str, tuple[str, ...]] = {
    "OPENBLAS_CORETYPE": ("numpy",),
    "OPENBLAS_L2_SIZE": ("numpy",),
    "GOTOBLAS_L2_SIZE": ("numpy",),
    "MKL_ENABLE_INSTRUCTIONS": ("torch",),
    "MKL_DEBUG_CPU_TYPE": ("torch",),
    "MKL_CBWR": ("torch",),
    "ATEN_CPU_CAPABILITY": ("torch",),
    "DNNL_MAX_CPU_ISA": ("torch", "tensorflow"),
    "ONEDNN_MAX_CPU_ISA": ("torch", "tensorflow"),
    "DNNL_CPU_ISA_HINTS": ("torch", "tensorflow"),
    "ONEDNN_CPU_ISA_HINTS": ("torch", "tensorflow"),
    "TF_ENABLE_ONEDNN_OPTS": ("tensorflow",),
    "XLA_FLAGS": ("jax", "tensorflow"),
}

# OpenBLAS core names (threadpoolctl's "architecture") by the widest instruction set their kernels use.
_OPENBLAS_CORES = {
    "AVX-512": ("skylakex", "cooperlake", "sapphirerapids"),
    "AVX2": ("haswell", "zen", "skylake", "excavator", "alderlake"),
    "AVX": ("sandybridge", "bulldozer", "piledriver", "steamroller"),
    "SSE4.2": ("nehalem", "barcelona", "opteron_sse3", "dunnington", "penryn"),
    "baseline": ("core2", "prescott", "atom", "katmai", "coppermine", "northwood", "opteron", "generic"),
}


def isa_rank(isa: str | None) -> int | None:
    """The position of ``isa`` on :data:`ISA_LEVELS` (None when it is not one of them)."""
    return ISA_LEVELS.index(isa) if isa in ISA_LEVELS else None


def best_isa_of_flags(flags: set[str]) -> str:
    """The widest instruction set of :data:`ISA_LEVELS` that a CPU with these ``/proc/cpuinfo`` flags offers."""
    if {"avx512f", "avx512bw", "avx512vl"} <= flags:
        return "AVX-512"
    if {"avx2", "fma"} <= flags:
        return "AVX2"
    if "avx" in flags:
        return "AVX"
    if "sse4_2" in flags:
        return "SSE4.2"
    return "baseline"


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (the first processor in ``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_best_isa() -> str | None:
    """The CPU's widest vector instruction set (None where its flags cannot be read, e.g. not Linux)."""
    flags = cpu_flags()
    return best_isa_of_flags(set(flags)) if flags else None


def kernel_environment(environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every variable of ``environment`` (default: this process's) that changes a framework's kernels or
    threads, sorted by name."""
    environment = os.environ if environment is None else environment
    return {name: environment[name] for name in sorted(environment)
            if (name.startswith(KERNEL_VARIABLE_PREFIXES) and not name.startswith(NOT_KERNEL_PREFIXES))
            or name in KERNEL_VARIABLE_NAMES}


def variables_changing_kernels(framework: str, environment: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environment`` known to change ``framework``'s kernels (``XLA_FLAGS`` only where it
    holds a CPU flag)."""
    found = {}
    for name, frameworks in KERNEL_CHANGING_VARIABLES.items():
        if framework in frameworks and name in environment:
            if name == "XLA_FLAGS" and "xla_cpu" not in environment[name]:
                continue
            found[name] = environment[name]
    return found


def short_version(text: str | None) -> str | None:
    """The version number in a library's own banner ('... Library Version 2024.2-Product Build ...' ->
    '2024.2', 'Intel(R) MKL-DNN v3.12.0 (Git Hash ...)' -> '3.12.0'); the text itself when it has none."""
    if not text:
        return text
    found = re.search(r"(?:Version |\bv)(\d+(?:\.\d+)+)", text)
    return found.group(1) if found else text


def openblas_isa(core_name: str | None) -> str | None:
    """The instruction set of an OpenBLAS core's kernels (``Haswell`` -> ``AVX2``); None if unknown."""
    if not core_name:
        return None
    lowered = core_name.strip().lower()
    for isa, cores in _OPENBLAS_CORES.items():
        if lowered in cores:
            return isa
    return None


_NAMED_ISAS = (
    (re.compile(r"avx[-_ ]?512|avx512", re.I), "AVX-512"),
    (re.compile(r"avx[-_ ]?2|avx2", re.I), "AVX2"),
    (re.compile(r"\bavx\b|advanced vector extensions \(", re.I), "AVX"),
    (re.compile(r"sse4[._]?2", re.I), "SSE4.2"),
    (re.compile(r"^default$", re.I), "baseline"),
)


def named_isa(text: str | None) -> str | None:
    """The instruction set a library names in its own words (MKL's and oneDNN's verbose lines, PyTorch's CPU
    capability ``AVX512``/``AVX2``/``DEFAULT``); None when the text names none of :data:`ISA_LEVELS`."""
    if not text:
        return None
    for pattern, isa in _NAMED_ISAS:
        if pattern.search(text):
            return isa
    return None
