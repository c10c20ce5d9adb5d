"""The fields of a result record: every one is defined here, and nowhere else.

A *round record* is one line of ``results.jsonl``: one cell measured in one
worker process (one round).  A *cell result* is what readers make of a
cell's rounds (:func:`fwbench.records.results.combine_rounds`): the round
record's fields, pooled, plus :data:`COMBINED_FIELDS`.  The writer refuses a
record with a field not defined here (:func:`check_fields`), so a new field is
added in one place, with what it means.  ``version`` is
:data:`RESULTS_VERSION`; readers refuse other versions with a clear error
(there has been one so far).
"""

from __future__ import annotations

from typing import Any, Mapping

RESULTS_VERSION = 1

IDENTITY_FIELDS = {
    "version": "the record format's version",
    "run_id": "the run that measured it",
    "timestamp": "when the round finished (UTC, ISO 8601)",
    "cell_id": "workload, parameters, framework, mode, device and method in one string",
    "spec_file": "the spec file the workload came from",
    "spec_hash": "a hash of the workload's definition",
    "spec_git_commit": "the spec file's git commit, where it is in a repository",
    "workload": "the workload's name",
    "kind": "the workload kind",
    "description": "the workload at these parameters, in words",
    "params": "the sweep parameters of this cell",
    "framework": "numpy, jax, torch or tensorflow",
    "framework_version": "the framework's version",
    "mode": "how the framework ran it (eager, jit, compile, function, xla)",
    "device": "cpu, gpu or tpu",
    "device_name": "the device's name",
    "dtype": "the element type",
    "num_threads": "threads every framework was given",
    "seed": "the seed the inputs were made from",
    "method": "fwbench (the sampler) or timeit",
    "replica": "2 and up: a copy of its series measured as another series (--replicas, A/A self-checks)",
    "side": "fwbench ab: baseline or candidate (each side's workers its own interpreter, environment and path)",
    "round": "which round (fresh worker process) measured it",
    "status": "ok, mismatch, error or skipped",
    "reason": "why a cell is not ok",
    "traceback": "the end of the traceback of an error",
    "failure": "how an error came about where a process ended it: worker died, cell process died or timed out",
    "extra": "a kind's own fields that no record defines (a plugin kind's Kind.extra_fields), by name",
    "look": "the look that judges this round (1: the first pass; 2 and up: rounds given to sizes still open)",
    "attempt": "2 when this round is a retry of a round whose process died (it supersedes that record)",
    "settings": "every fairness setting of the measurement (clock, sync, threads, allocator, framework)",
    "host": "the host facts (fwbench.machine.envinfo.host_info)",
    "executor": "ray, where --executor ray ran it (absent: the local executor)",
    "node": "the Ray node that ran it (--executor ray)",
    "process_id": "the process that timed it",
    "matmul_precision": "highest or high",
    "cache": "warm or cold",
    "allocator_regime": "steady (freed memory reused, the default) or fresh (as a fresh script): --allocator",
}
TIMING_FIELDS = {
    "median_s": "median seconds per call",
    "mean_s": "mean seconds per call",
    "stdev_s": "standard deviation of the samples",
    "min_s": "fastest sample",
    "max_s": "slowest sample",
    "iqr_s": "interquartile range of the samples",
    "ci95_low_s": "lower end of the 95% interval of the median",
    "ci95_high_s": "upper end of the 95% interval of the median",
    "rel_ci95": "half-width of that interval over the median",
    "ci_level": "the interval's level (0.95)",
    "ci_method": "how the interval was made",
    "n_outliers": "samples beyond the MAD outlier threshold (kept)",
    "samples_s": "every sample, seconds per call",
    "n_samples": "number of samples",
    "n_loops": "calls per sample",
    "converged": "whether the interval met the target before the budget ran out",
    "first_call_s": "the first call (compile and trace included)",
    "warmup_calls": "untimed calls before the samples",
    "timed_s": "seconds spent calling the workload",
    "cell_wall_s": "seconds the cell took, from inputs to verification",
    "inputs_s": "seconds to make the inputs",
    "reference_s": "seconds to make or load the float64 reference",
    "device_samples_s": "samples timed by device events (accelerators)",
    "device_median_s": "their median",
    "timeit_best_s": "timeit's best repeat, per call (method timeit)",
    "timeit_loops": "timeit's calls per repeat",
    "timeit_repeats": "timeit's repeats",
    "timeit_autoranged": "whether timeit chose its loop count",
    "interleave_turns": "turns the cell took under --interleave",
    "turn_starts_s": "under --interleave, when each turn began (time.monotonic, one clock for the machine)",
    "turn_sample_counts": "under --interleave, how many of samples_s (in order) each turn took",
    "other_cpu_cores": "at least this many cores went to other processes, on average, while the cell warmed up and "
                       "sampled (fwbench.machine.contention)",
}
WORK_FIELDS = {
    "flops": "floating-point operations per call",
    "fused_bytes": "bytes one fused pass must move",
    "unfused_bytes": "bytes an op-by-op evaluation moves",
    "gflops_per_s": "flops over the median",
    "gbytes_per_s": "fused bytes over the median",
    "arithmetic_intensity": "flops per fused byte",
    "pct_of_compute_peak": "share of the calibrated GEMM peak",
    "pct_of_bandwidth_peak": "share of the calibrated memory bandwidth",
    "bound": "memory or compute, by the roofline",
    "samples_per_s": "training samples per second",
    "batch_size": "training samples per call",
    "loss_trajectory": "the losses of the first steps (mlp_train)",
    "final_loss": "the loss after the last step",
    "steps_taken": "training steps taken in the cell",
}
CHECK_FIELDS = {
    "max_abs_err": "largest absolute difference from the float64 reference",
    "max_rel_err": "largest relative difference",
    "tolerance": "the relative tolerance for this dtype",
    "inputs_sha256": "hash of the host inputs: every framework got the same data",
    "peak_host_bytes": "peak resident memory growth during the cell",
    "host_bytes_at_start": "resident memory when the cell started",
    "peak_device_bytes": "peak device memory (accelerators)",
    "page_faults_per_call": "minor page faults per timed call",
    "largest_input_bytes": "the largest input array: temporaries of element-wise work are this size",
}
ROUND_FIELDS: dict[str, str] = {**IDENTITY_FIELDS, **TIMING_FIELDS, **WORK_FIELDS, **CHECK_FIELDS}

COMBINED_FIELDS = {
    "n_rounds": "rounds combined",
    "looks": "how many looks judged the cell's size: its intervals are at that look's level (stats.verdicts)",
    "round_medians_s": "each round's median",
    "round_numbers": "the rounds those medians came from",
    "samples_round": "the round of each sample",
    "first_call_s_by_round": "each round's first call",
    "process_ids": "each round's process",
    "page_faults_per_call_by_round": "each round's page faults per call",
    "other_cpu_cores_by_round": "each kept round's other_cpu_cores, in the order of round_numbers",
    "excluded_rounds": "rounds set apart as disturbed, with their medians",
    "allocator_states": "two allocator states, when the rounds fall into two (their medians and rounds)",
    "pooled_spread": "the run-wide spread the interval borrowed (prior sd and degrees of freedom)",
    "turns": "under --interleave, each kept round's turns: when each began and its median (stats.paired)",
    "failed_rounds": "rounds whose process died or timed out while other rounds succeeded: round, reason, "
                     "whether a retry replaced it",
}
CELL_FIELDS: dict[str, str] = {**ROUND_FIELDS, **COMBINED_FIELDS}


def check_fields(record: Mapping[str, Any], defined: Mapping[str, str] = ROUND_FIELDS) -> None:
    """Raise ValueError naming any field of ``record`` that is not defined here."""
    unknown = sorted(set(record) - set(defined))
    if unknown:
        raise ValueError(f"record fields not defined in fwbench.records.cell: {', '.join(unknown)}")

