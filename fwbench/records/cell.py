"""The fields of a result record: every one is defined here, and nowhere else, with its type and unit.

A *round record* is one line of ``results.jsonl``: one cell measured in one
worker process (one round).  A *cell result* is what readers make of a
cell's rounds (:func:`fwbench.records.combine.combine_rounds`): the round
record's fields, pooled, plus :data:`COMBINED_FIELDS`.  Each field is a
:class:`Field`: what it means, the JSON types its value takes, its unit and
how to show a value (pyperf keeps its metadata the same way).  The writer
refuses a record with a field not defined here, or a value of another type
(:func:`check_fields`), so a new field is added in one place, with what it
means.  ``version`` is :data:`RESULTS_VERSION`; readers refuse other
versions with a clear error (there has been one so far).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Mapping

from fwbench.units import format_bytes, format_number, format_seconds

RESULTS_VERSION = 1


@dataclass(frozen=True)
class Field:
    """One field of a record: its meaning, the kinds of JSON value it takes (``text``, ``integer``,
    ``number``, ``flag``, ``listing``, ``mapping``; a missing value, None, is always accepted) and its unit
    (``s``, ``bytes``, ``%``...; for a listing, its items')."""

    meaning: str
    kind: str
    unit: str | None = None

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is of this field's kind (None always is)."""
        if value is None:
            return True
        if self.kind == "flag":
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind == "text":
            return isinstance(value, str)
        if self.kind == "integer":
            return isinstance(value, numbers.Integral)
        if self.kind == "number":
            return isinstance(value, numbers.Real)
        if self.kind == "listing":
            return isinstance(value, (list, tuple))
        return isinstance(value, Mapping)

    def format(self, value: Any) -> str:
        """``value`` for a person: seconds and bytes in their units, numbers to three digits with the unit."""
        if value is None:
            return "-"
        if self.kind in ("number", "integer") and self.unit == "s":
            return format_seconds(value)
        if self.kind in ("number", "integer") and self.unit == "bytes":
            return format_bytes(value)
        if self.kind == "number":
            return format_number(value) + (f" {self.unit}" if self.unit and self.unit != "fraction" else "")
        return str(value)


def text(meaning: str) -> Field:
    return Field(meaning, "text")


def integer(meaning: str, unit: str | None = None) -> Field:
    return Field(meaning, "integer", unit)


def number(meaning: str, unit: str | None = None) -> Field:
    return Field(meaning, "number", unit)


def seconds(meaning: str) -> Field:
    return Field(meaning, "number", "s")


def flag(meaning: str) -> Field:
    return Field(meaning, "flag")


def listing(meaning: str, unit: str | None = None) -> Field:
    return Field(meaning, "listing", unit)


def mapping(meaning: str) -> Field:
    return Field(meaning, "mapping")


IDENTITY_FIELDS: dict[str, Field] = {
    "version": integer("the record format's version"),
    "run_id": text("the run that measured it"),
    "timestamp": text("when the round finished (UTC, ISO 8601)"),
    "cell_id": text("workload, parameters, framework, mode, device and method in one string"),
    "spec_file": text("the spec file the workload came from"),
    "spec_hash": text("a hash of the workload's definition"),
    "spec_git_commit": text("the spec file's git commit, where it is in a repository"),
    "workload": text("the workload's name"),
    "kind": text("the workload kind"),
    "description": text("the workload at these parameters, in words"),
    "params": mapping("the sweep parameters of this cell"),
    "framework": text("numpy, jax, torch or tensorflow"),
    "framework_version": text("the framework's version"),
    "mode": text("how the framework ran it (eager, jit, compile, function, xla)"),
    "device": text("cpu, gpu or tpu"),
    "device_name": text("the device's name"),
    "dtype": text("the element type"),
    "num_threads": integer("threads every framework was given"),
    "seed": integer("the seed the inputs were made from"),
    "method": text("fwbench (the sampler) or timeit"),
    "replica": integer("2 and up: a copy of its series measured as another series (--replicas, A/A self-checks)"),
    "side": text("fwbench ab: baseline or candidate (each side's workers its own interpreter, environment and path)"),
    "round": integer("which round (a fresh process for the cell) measured it"),
    "worker_round": integer("--rounds-per-start: the first round of the worker start that served this round (its "
                            "fork); each round is still a cluster of paired ratios"),
    "status": text("ok, mismatch, error or skipped"),
    "reason": text("why a cell is not ok"),
    "traceback": text("the end of the traceback of an error"),
    "failure": text("how an error came about where a process ended it: worker died, cell process died or timed out"),
    "extra": mapping("a kind's own fields that no record defines (a plugin kind's Kind.extra_fields), by name"),
    "look": integer("the look that judges this round (1: the first pass; 2 and up: rounds given to sizes still open)"),
    "attempt": integer("2 when this round is a retry of a round whose process died (it supersedes that record)"),
    "settings": mapping("every fairness setting of the measurement (clock, sync, threads, allocator, framework)"),
    "host": mapping("the host facts (fwbench.machine.envinfo.host_info)"),
    "executor": text("ray, where --executor ray ran it (absent: the local executor)"),
    "node": text("the Ray node that ran it (--executor ray)"),
    "process_id": integer("the process that timed it"),
    "matmul_precision": text("highest or high"),
    "cache": text("warm or cold"),
    "allocator_regime": text("steady (freed memory reused, the default) or fresh (as a fresh script): --allocator"),
}
TIMING_FIELDS: dict[str, Field] = {
    "median_s": seconds("median seconds per call"),
    "mean_s": seconds("mean seconds per call"),
    "stdev_s": seconds("standard deviation of the samples"),
    "min_s": seconds("fastest sample"),
    "max_s": seconds("slowest sample"),
    "iqr_s": seconds("interquartile range of the samples"),
    "ci95_low_s": seconds("lower end of the 95% interval of the median"),
    "ci95_high_s": seconds("upper end of the 95% interval of the median"),
    "rel_ci95": number("half-width of that interval over the median", unit="fraction"),
    "ci_level": number("the interval's level (0.95)", unit="fraction"),
    "ci_method": text("how the interval was made"),
    "n_outliers": integer("samples beyond the MAD outlier threshold (kept)"),
    "samples_s": listing("every sample, seconds per call", unit="s"),
    "n_samples": integer("number of samples"),
    "n_loops": integer("calls per sample"),
    "converged": flag("whether the interval met the target before the budget ran out"),
    "first_call_s": seconds("the first call (compile and trace included)"),
    "warmup_calls": integer("untimed calls before the samples"),
    "timed_s": seconds("seconds spent calling the workload"),
    "cell_wall_s": seconds("seconds the cell took, from inputs to verification"),
    "inputs_s": seconds("seconds to make the inputs"),
    "reference_s": seconds("seconds to make or load the float64 reference"),
    "device_samples_s": listing("samples timed by device events (accelerators)", unit="s"),
    "device_median_s": seconds("their median"),
    "timeit_best_s": seconds("timeit's best repeat, per call (method timeit)"),
    "timeit_loops": integer("timeit's calls per repeat"),
    "timeit_repeats": integer("timeit's repeats"),
    "timeit_autoranged": flag("whether timeit chose its loop count"),
    "interleave_turns": integer("turns the cell took under --interleave"),
    "turn_starts_s": listing(
        "under --interleave, when each turn began (time.monotonic, one clock for the machine)", unit="s"),
    "turn_sample_counts": listing("under --interleave, how many of samples_s (in order) each turn took"),
    "turn_cores": listing("under --interleave, the core each turn ran the cell's main thread on"),
    "handoff_speedup": number(
        "under --interleave, a 256x256 NumPy GEMM's one-thread time over its two-thread time just before the "
        "size-round's turns: under 1.4, a slow spell of the hand-off between cores (fwbench.execution.handoff)"),
    "other_cpu_cores": number(
        "at least this many cores went to other processes, on average, while the cell warmed up and sampled "
        "(fwbench.machine.contention)", unit="cores"),
}
WORK_FIELDS: dict[str, Field] = {
    "flops": number("floating-point operations per call", unit="flop"),
    "fused_bytes": number("bytes one fused pass must move", unit="bytes"),
    "unfused_bytes": number("bytes an op-by-op evaluation moves", unit="bytes"),
    "gflops_per_s": number("flops over the median", unit="GFLOP/s"),
    "gbytes_per_s": number("fused bytes over the median", unit="GB/s"),
    "arithmetic_intensity": number("flops per fused byte", unit="flop/byte"),
    "pct_of_compute_peak": number("share of the calibrated GEMM peak", unit="%"),
    "pct_of_bandwidth_peak": number("share of the calibrated memory bandwidth", unit="%"),
    "bound": text("memory or compute, by the roofline"),
    "samples_per_s": number("training samples per second", unit="samples/s"),
    "batch_size": integer("training samples per call"),
    "loss_trajectory": listing("the losses of the first steps (mlp_train)"),
    "final_loss": number("the loss after the last step"),
    "steps_taken": integer("training steps taken in the cell"),
}
CHECK_FIELDS: dict[str, Field] = {
    "max_abs_err": number("largest absolute difference from the float64 reference"),
    "max_rel_err": number("largest relative difference", unit="fraction"),
    "tolerance": number("the relative tolerance for this dtype", unit="fraction"),
    "inputs_sha256": text("hash of the host inputs: every framework got the same data"),
    "peak_host_bytes": number("peak resident memory growth during the cell", unit="bytes"),
    "host_bytes_at_start": number("resident memory when the cell started", unit="bytes"),
    "peak_device_bytes": number("peak device memory (accelerators)", unit="bytes"),
    "page_faults_per_call": number("minor page faults per timed call", unit="faults/call"),
    "largest_input_bytes": number(
        "the largest input array: temporaries of element-wise work are this size", unit="bytes"),
}
COMBINED_FIELDS: dict[str, Field] = {
    "n_rounds": integer("rounds combined"),
    "looks": integer("how many looks judged the cell's rounds: a comparison's interval is at the level of the "
                     "fewer of its two series' looks (stats.verdicts)"),
    "round_medians_s": listing("each round's median", unit="s"),
    "round_numbers": listing("the rounds those medians came from"),
    "samples_round": listing("the round of each sample"),
    "first_call_s_by_round": listing("each round's first call", unit="s"),
    "process_ids": listing("each round's process"),
    "page_faults_per_call_by_round": listing("each round's page faults per call", unit="faults/call"),
    "other_cpu_cores_by_round": listing(
        "each kept round's other_cpu_cores, in the order of round_numbers", unit="cores"),
    "excluded_rounds": listing("rounds set apart as disturbed, with their medians"),
    "allocator_states": listing("two allocator states, when the rounds fall into two (their medians and rounds)"),
    "pooled_spread": mapping("the run-wide spread the interval borrowed (prior sd and degrees of freedom)"),
    "turns": listing("under --interleave, each kept round's turns: when each began and its median (stats.paired)"),
    "failed_rounds": listing(
        "rounds whose process died or timed out while other rounds succeeded: round, reason, whether a retry "
        "replaced it"),
}

ROUND_FIELDS: dict[str, Field] = {**IDENTITY_FIELDS, **TIMING_FIELDS, **WORK_FIELDS, **CHECK_FIELDS}
CELL_FIELDS: dict[str, Field] = {**ROUND_FIELDS, **COMBINED_FIELDS}


def check_fields(record: Mapping[str, Any], defined: Mapping[str, Field] = ROUND_FIELDS) -> None:
    """Raise ValueError naming any field of ``record`` that is not defined here, or whose value is not of
    its field's kind."""
    unknown = sorted(set(record) - set(defined))
    if unknown:
        raise ValueError(f"record fields not defined in fwbench.records.cell: {', '.join(unknown)}")
    wrong = [f"{name} ({type(value).__name__}, not {defined[name].kind})" for name, value in record.items()
             if not defined[name].accepts(value)]
    if wrong:
        raise ValueError(f"record fields of the wrong type in fwbench.records.cell's terms: {', '.join(wrong)}")
