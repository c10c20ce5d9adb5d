"""Kernel facts on the host side: the CPU's best ISA, the variables that change kernels, ISA names."""

import pytest

from fwbench.machine.kernels import (
    best_isa_of_flags,
    isa_rank,
    kernel_environment,
    named_isa,
    openblas_isa,
    short_version,
    variables_changing_kernels,
)

ZEN4 = ("fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 "
        "avx512_vnni")


@pytest.mark.parametrize("flags, best", [
    (ZEN4, "AVX-512"),
    ("fpu sse sse2 sse4_2 avx avx2 fma", "AVX2"),
    ("fpu sse sse2 sse4_2 avx avx2", "AVX"),  # AVX2 without FMA: no AVX2 GEMM kernels use it
    ("fpu sse sse2 sse4_2 avx avx512f", "AVX"),  # AVX-512F alone (Knights Landing lacks BW/VL)
    ("fpu sse sse2 sse4_2", "SSE4.2"),
    ("fpu sse sse2", "baseline"),
])
def test_the_cpus_best_isa_comes_from_its_flags(flags, best):
    assert best_isa_of_flags(set(flags.split())) == best


def test_openblas_core_names_map_to_their_isa():
    assert openblas_isa("Haswell") == "AVX2"
    assert openblas_isa("SkylakeX") == "AVX-512"
    assert openblas_isa("Zen") == "AVX2"
    assert openblas_isa("SapphireRapids") == "AVX-512"
    assert openblas_isa("Sandybridge") == "AVX"
    assert openblas_isa("Prescott") == "baseline"
    assert openblas_isa("NoSuchCore") is None and openblas_isa(None) is None
    assert isa_rank("AVX2") < isa_rank("AVX-512") and isa_rank("unknown") is None


def test_libraries_own_words_name_their_isa():
    mkl = ("oneMKL 2024.0 Update 2 Product build 20240605 for Intel(R) 64 architecture Intel(R) Advanced Vector "
           "Extensions 512 (Intel(R) AVX-512) with support of Intel(R) Deep Learning Boost (Intel(R) DL Boost)")
    assert named_isa(mkl) == "AVX-512"
    assert named_isa("Intel(R) Advanced Vector Extensions 2 (Intel(R) AVX2) enabled processors") == "AVX2"
    assert named_isa("Intel AVX-512 with Intel DL Boost") == "AVX-512"  # oneDNN's isa line
    assert named_isa("Intel AVX2") == "AVX2"
    assert named_isa("AVX512") == "AVX-512" and named_isa("DEFAULT") == "baseline"  # torch's CPU capability
    assert named_isa("chosen at run time") is None and named_isa(None) is None
    assert short_version("Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605") == "2024.2"
    assert short_version("Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71)") == "3.12.0"


def test_variables_that_change_kernels_are_found_per_framework():
    environment = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512", "OMP_NUM_THREADS": "2",
                   "MKL_ENABLE_INSTRUCTIONS": "AVX2", "XLA_FLAGS": "--xla_dump_to=/tmp/x", "HOME": "/root",
                   "TF_CLI_CONFIG_FILE": "/root/.terraformrc", "TF_ENABLE_ONEDNN_OPTS": "0"}
    recorded = kernel_environment(environment)
    assert list(recorded) == ["MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                              "TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS"]  # not HOME, not Terraform's TF_CLI_*
    assert variables_changing_kernels("numpy", environment) == {"OPENBLAS_CORETYPE": "Haswell",
                                                                "OPENBLAS_L2_SIZE": "512"}
    assert variables_changing_kernels("torch", environment) == {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    assert variables_changing_kernels("tensorflow", environment) == {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert variables_changing_kernels("jax", environment) == {}  # XLA_FLAGS without a CPU flag
    assert variables_changing_kernels("jax", {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}) == {
        "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}
