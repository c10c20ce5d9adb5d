"""Findings about unequal conditions, from recorded rows: allocator regimes that differ between the series of
one workload size, and kernels below the CPU's best or under variables that change them."""

import pandas as pd

from fwbench.records.combine import combine_rounds
from fwbench.records.results import records_to_frame
from fwbench.report import aggregate
from fwbench.report.fairness import kernel_sentences, kernel_shortfall, regime_sentences
from tests.report.test_aggregate import record

HASWELL = {"gemm": {"library": "OpenBLAS", "version": "0.3.31", "kernel": "Haswell", "isa": "AVX2"},
           "libraries": [{"library": "OpenBLAS", "version": "0.3.31", "kernel": "Haswell", "isa": "AVX2"}]}
SKYLAKEX = {"gemm": {"library": "OpenBLAS", "version": "0.3.31", "kernel": "SkylakeX", "isa": "AVX-512"},
            "libraries": []}
OVERRIDE = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512", "OMP_NUM_THREADS": "2"}


def series(framework, mode, median_s, faults_by_round, workload="power_sum", n=1000, **fields):
    """One cell's round records, as results.jsonl holds them."""
    base = record(workload, n, framework, mode, median_s)
    return [dict(base, round=index, samples_s=[median_s] * 5, page_faults_per_call=faults, **fields)
            for index, faults in enumerate(faults_by_round, start=1)]


def frame_of(*cells):
    return aggregate.prepare(records_to_frame(combine_rounds([r for cell in cells for r in cell])))


def test_series_of_one_size_in_different_regimes_are_named_with_both_numbers():
    # The numbers: numpy's temporaries from fresh pages, torch's reused, at n=1000.
    frame = frame_of(series("numpy", "eager", 2.99e-3, [1926, 1925, 1927], allocator_regime="fresh"),
                     series("torch", "eager", 0.313e-3, [3.7, 3.6, 3.8], allocator_regime="fresh"))
    (sentence,) = regime_sentences(frame)
    assert sentence.startswith("power_sum (n=1000): the series ran in different allocator states (fresh regime)")
    assert "numpy/eager 1926 (2.99 ms) took their temporaries from fresh pages" in sentence
    assert "torch/eager 4 (313 µs) reused memory" in sentence


def test_series_in_one_regime_or_with_faults_too_cheap_to_matter_are_not():
    steady = frame_of(series("numpy", "eager", 0.5e-3, [0.2, 0.3, 0.2]), series("torch", "eager", 0.4e-3, [4, 5, 6]))
    assert regime_sentences(steady) == []
    # 1900 fresh pages a call (0.48 ms at 0.25 µs) are under a tenth of 10 ms calls
    slow = frame_of(series("numpy", "eager", 10e-3, [1900] * 3), series("torch", "eager", 11e-3, [4] * 3))
    assert regime_sentences(slow) == []
    # different sizes are never compared with each other
    sizes = frame_of(series("numpy", "eager", 3e-3, [1900] * 3, n=1000),
                     series("torch", "eager", 0.3e-3, [4] * 3, n=16))
    assert regime_sentences(sizes) == []


def test_a_framework_on_lesser_kernels_because_of_a_variable_is_explained_with_its_cells_peak():
    settings = {"kernels": HASWELL, "kernel_environment": OVERRIDE}
    host = {"cpu_best_isa": "AVX-512"}
    frame = frame_of(
        series("numpy", "eager", 9e-3, [0] * 3, workload="matmul", n=1024, settings=settings, host=host,
               bound="compute", pct_of_compute_peak=44.6, flops=2 * 1024**3),
        series("numpy", "eager", 1e-3, [0] * 3, workload="power_sum", n=1000, settings=settings, host=host,
               bound="memory", pct_of_compute_peak=1.0, flops=3e6),
        series("jax", "jit", 4.6e-3, [0] * 3, workload="matmul", n=1024, host=host, bound="compute",
               settings={"kernels": {"gemm": {"library": "XLA:CPU", "isa": None}}, "kernel_environment": OVERRIDE}))
    (sentence,) = kernel_sentences(frame)
    assert sentence.startswith("Kernels: numpy's matrix products run OpenBLAS 0.3.31, kernels Haswell (AVX2) on a "
                               "CPU whose best is AVX-512, because the environment sets OPENBLAS_CORETYPE=Haswell, "
                               "OPENBLAS_L2_SIZE=512")
    assert "--unset-env OPENBLAS_CORETYPE --unset-env OPENBLAS_L2_SIZE runs the workers without them" in sentence
    assert "eager matmul (n=1024) 45% of the measured GEMM peak" in sentence
    assert "power_sum" not in sentence  # a memory-bound cell is not affected by GEMM kernels


def test_best_kernels_and_no_variable_make_no_finding_and_a_cap_alone_does():
    assert kernel_shortfall("numpy", SKYLAKEX, {"OMP_NUM_THREADS": "2"}, "AVX-512") is None
    assert kernel_shortfall("numpy", HASWELL, {}, "AVX2") is None  # Haswell kernels are this CPU's best
    assert kernel_shortfall("jax", {"gemm": {"library": "XLA:CPU", "isa": None}}, OVERRIDE, "AVX-512") is None
    below = kernel_shortfall("torch", {"gemm": {"library": "MKL", "kernel": "AVX2 path", "isa": "AVX2"}}, {}, "AVX-512")
    assert below.endswith("on a CPU whose best is AVX-512: the library does not use the CPU's best instruction "
                          "set here")
    capped = kernel_shortfall("numpy", SKYLAKEX, {"OPENBLAS_L2_SIZE": "512"}, "AVX-512")
    assert "under OPENBLAS_L2_SIZE=512, which changes its kernels; --unset-env OPENBLAS_L2_SIZE" in capped


def test_rows_without_kernel_facts_make_no_finding():
    frame = frame_of(series("numpy", "eager", 9e-3, [0] * 3, workload="matmul", n=1024))
    assert kernel_sentences(frame) == []
    assert kernel_sentences(pd.DataFrame()) == []


def test_arrays_above_glibcs_reuse_limit_make_a_sentence_about_the_frameworks_not_the_conditions():
    # make bench's power sum at n=4000 (64 MB arrays), steady regime: torch eager maps fresh pages every call
    big = 4000 * 4000 * 4
    frame = frame_of(series("torch", "eager", 100e-3, [78157] * 3, n=4000, allocator_regime="steady",
                            largest_input_bytes=big),
                     series("tensorflow", "eager", 35.8e-3, [16] * 3, n=4000, allocator_regime="steady",
                            largest_input_bytes=big))
    (sentence,) = regime_sentences(frame)
    assert sentence.startswith("At 1 size whose arrays are larger than the 32 MiB glibc ever reuses (power_sum "
                               "(n=4000) (61 MiB)), fresh pages a call differ between the series (torch/eager 78157, "
                               "tensorflow/eager 16)")
    assert "different allocator states" not in sentence
