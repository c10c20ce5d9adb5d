"""One cell from inputs to record, in the process that times it: prepare, sample, check (:class:`CellRunner`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from fwbench.adapters.base import DEFAULT_ALLOCATOR_REGIME, kernel_facts
from fwbench.machine.contention import OtherWork
from fwbench.machine.kernels import kernel_environment
from fwbench.machine.memory import PeakHostMemory
from fwbench.records.results import add_measurement, base_record
from fwbench.spec.loader import Workload
from fwbench.stats.sampler import Sampler, measure_timeit
from fwbench.stats.timing import TimerSettings, summarize
from fwbench.worker.cache import cache_load, cache_save, inputs_digest, worth_caching
from fwbench.worker.process import (
    allocator_state,
    heap_position,
    minor_page_faults,
    position_heap,
    settle_allocator,
    short_reason,
)


class CellRunner:
    """Runs cells for one adapter.  :meth:`select_device` comes first, in the process that runs the cells
    (the cell's child): the device, and whether calls need a sync, are decided there."""

    def __init__(self, adapter: Any, config: dict[str, Any], info: dict[str, Any], affinity: list[int]) -> None:
        from fwbench.kinds import get_kind_class

        self.adapter = adapter
        self.config = config
        self.info = info
        # the round the next cell belongs to: the worker's first, or the one a prepare command names
        # (--rounds-per-start); it decides where the cell's heap starts (heap_position)
        self.round_index: int = config.get("round") or 1
        self.device: dict[str, Any] = {}
        self.timer = TimerSettings(**config["timer"])
        self.workloads = {name: Workload.from_dict(data) for name, data in config["workloads"].items()}
        self.kinds = {name: get_kind_class(w.kind)(w) for name, w in self.workloads.items()}
        self.sync: Callable[[Any], None] | None = None
        self.settings: dict[str, Any] = {
            "clock": "time.perf_counter",
            "timer": self.timer.to_dict(),
            "sync_method": adapter.SYNC_METHOD,
            "sync_in_timed_region": True,
            "async_dispatch": adapter.ASYNC_DISPATCH,
            "first_call_timed_apart": True,
            "inputs_on_device_before_timing": True,
            "inputs_generated_on_host_from_seed": True,
            "gc_disabled_while_sampling": True,
            "verified_against": "numpy float64 reference",
            "num_threads": config["num_threads"],
            "cpu_affinity": affinity,
            "thread_environment": {k: v for k, v in os.environ.items()
                                   if k.endswith("_THREADS") or k in ("XLA_FLAGS", "JAX_PLATFORMS",
                                                                      "CUDA_VISIBLE_DEVICES")},
            "allocator": allocator_state(),
            "framework": info["settings"],
            "kernels": info.get("kernels") or kernel_facts(adapter.NAME),
            "kernel_environment": kernel_environment(),
            "environment_unset": list(config.get("unset_environment") or []),
        }

    def select_device(self) -> None:
        """Select the configured device in this process; whether calls need a sync depends on it."""
        self.device = self.adapter.select_device(self.config["device"])
        self.sync = self.adapter.sync if self.adapter.sync_needed() else None
        self.settings["sync_every_call"] = self.sync is not None

    def _device_memory_refusal(self, cell: dict[str, Any]) -> str | None:
        """On an accelerator, refuse a cell whose estimated memory exceeds what the device has free (RLIMIT_AS
        cannot guard a device, and CUDA and XLA reserve large address ranges that it would refuse)."""
        if self.config["device"] == "cpu":
            return None
        needed = (cell.get("cost") or {}).get("memory_bytes")
        free = self.adapter.device_memory_free_bytes()
        if needed and free is not None and needed > free:
            return (f"too large for the device: needs about {needed / 2**30:.2f} GiB, "
                    f"{free / 2**30:.2f} GiB free on {self.device.get('name')}")
        return None

    def _cache_key(self, workload: Workload, params: dict[str, int]) -> str:
        return hashlib.sha256(json.dumps([workload.spec_hash, workload.name, workload.seed, sorted(params.items())])
                              .encode()).hexdigest()[:32]

    def _inputs(self, kind: Any, workload: Workload, params: dict[str, int]) -> list[Any]:
        """The host inputs; ones slow to generate are saved once per run for the next workers."""
        directory = self.config.get("cache_dir")
        if not directory or not kind.CACHE_INPUTS:
            return kind.make_inputs(params, workload.seed)
        stem = os.path.join(directory, self._cache_key(workload, params) + "-input")
        cached = cache_load(stem)
        if cached is not None:
            return cached[0]
        started = time.perf_counter()
        inputs = kind.make_inputs(params, workload.seed)
        standard = all(array.dtype.kind in "fiub" and array.dtype.name != "bfloat16" for array in inputs)
        if standard and worth_caching(time.perf_counter() - started, inputs):
            cache_save(stem, inputs, {})
        return inputs

    def _reference(self, kind: Any, workload: Workload, params: dict[str, int], inputs: list[Any]) -> Any:
        """The float64 reference, computed once per run: later workers load what the first one saved."""
        from fwbench.kinds.base import Reference

        directory = self.config.get("cache_dir")
        if not directory:
            return kind.reference(params, inputs)
        stem = os.path.join(directory, self._cache_key(workload, params) + "-reference")
        cached = cache_load(stem, read_only=True)
        if cached is not None:
            (value,), meta = cached
            return Reference(value, meta["scale"])
        started = time.perf_counter()
        reference = kind.reference(params, inputs)
        if worth_caching(time.perf_counter() - started, [reference.value]):
            cache_save(stem, [reference.value], {"scale": reference.scale})
        return reference

    def timer_of(self, cell: dict[str, Any]) -> TimerSettings:
        """The cell's timer: the worker's, with the budget a prepare command named (``budget_s``: an extension
        round of ``fwbench run`` that takes several times the first pass's sampling) where it named one, and
        its most samples scaled alike (a round k times as long may take k times as many turns and samples)."""
        budget = cell.get("budget_s")
        if not budget or not self.timer.budget_s:
            return self.timer
        scale = max(1.0, float(budget) / self.timer.budget_s)
        return dataclasses.replace(self.timer, budget_s=float(budget),
                                   max_samples=math.ceil(self.timer.max_samples * scale))

    def begin(self, cell: dict[str, Any]) -> "CellState | dict[str, Any]":
        """Make the inputs, move them to the device, build, first call and warm-up; a finished record if
        the cell cannot go on.  Nothing else happens before the timing: the reference comes after it."""
        state = CellState(cell=cell, started=time.perf_counter())
        workload = self.workloads[cell["workload"]]
        regime = workload.allocator or DEFAULT_ALLOCATOR_REGIME
        allocator = dict(self.settings["allocator"], **settle_allocator(regime))  # before anything is allocated
        if regime == "steady":  # every series of the round starts its large blocks at one place in a page
            allocator.update(position_heap(heap_position(self.config["run"]["run_id"], self.round_index)))
        timer = self.timer_of(cell)
        state.kind = kind = self.kinds[cell["workload"]]
        state.params = params = cell["params"]
        state.record = record = base_record(cell, workload.to_dict(), self.config["run"])
        record.update({"framework_version": self.info["version"], "device_name": self.device.get("name"),
                       "settings": self.settings, "process_id": os.getpid(), "matmul_precision": kind.matmul_precision})
        try:
            record["settings"] = dict(self.settings, matmul=self.adapter.set_matmul_precision(kind.matmul_precision),
                                      device_memory_peak_scope=self.adapter.DEVICE_MEMORY_PEAK_SCOPE,
                                      headline_time="host: time.perf_counter around the calls and their sync",
                                      device_time=self.adapter.DEVICE_TIME, cache=kind.cache,
                                      allocator=allocator,
                                      **({"timer": timer.to_dict()} if timer is not self.timer else {}))
            record["cache"] = kind.cache
            record["allocator_regime"] = regime
            record.update(dtype=kind.dtype, description=kind.describe(params))
            reason = (kind.skip(params, cell["framework"], cell["mode"], cell["device"])
                      or self._device_memory_refusal(cell))
            if reason:
                record.update(status="skipped", reason=reason)
                return self._stamp(state)
            started = time.perf_counter()
            state.inputs = self._inputs(kind, workload, params)
            record["inputs_s"] = time.perf_counter() - started
            cost = kind.runtime_cost(params)
            if cost is not None:
                record.update(flops=cost.flops, fused_bytes=cost.fused_bytes, unfused_bytes=cost.unfused_bytes)
            state.memory.start()
            self.adapter.reset_device_memory_peak()
            state.device_inputs = [self.adapter.to_device(array) for array in state.inputs]
            state.call = kind.build(params, cell["framework"], cell["mode"], self.adapter, state.device_inputs)
            if cell.get("method") == "timeit":
                return self.conclude(state)
            flush = None
            if kind.cache == "cold":
                flush, flush_bytes = self.adapter.cache_flusher()
                record["settings"]["cache"] = (f"cold: {flush_bytes / 2**20:.0f} MiB written before every call, "
                                               "outside the timed region")
            device_timer = self.adapter.device_timer() if self.sync is not None else None
            # Other processes' CPU is counted from the end of the first call (a compile may start helper
            # processes of its own) through warm-up and sampling.
            state.sampler = Sampler(state.call, self.sync, timer, device_timer=device_timer, flush=flush,
                                    after_first_call=state.other_work.start)
            state.sampler.start()
            state.other_work.stop()
            state.faults_at_start = minor_page_faults()
            return state
        except Exception as error:  # noqa: BLE001 - one cell's failure must not end the run
            return self.fail(state, error)

    def conclude(self, state: "CellState") -> dict[str, Any]:
        """Finish the timing if needed, then make the reference, check the result, and return the record."""
        kind, params, record, cell = state.kind, state.params, state.record, state.cell
        try:
            if cell.get("method") == "timeit":
                state.other_work.start()
                timed = measure_timeit(state.call, self.adapter.sync, cell.get("timeit_repeats") or 5,
                                       cell.get("timeit_loops"))
                state.other_work.stop()
                output = timed.output
                add_measurement(record, summarize(timed.per_loop_s), timed.per_loop_s, first_call_s=None,
                                n_loops=timed.loops, converged=None, timeit_best_s=timed.best_s,
                                timeit_loops=timed.loops, timeit_repeats=timed.repeats,
                                timeit_autoranged=timed.autoranged)
                record["method"] = "timeit"
            else:
                measurement = state.sampler.measurement()
                sampled_calls = len(measurement.samples_s) * measurement.n_loops
                output = measurement.output
                add_measurement(record, measurement.statistics(), measurement.samples_s,
                                first_call_s=measurement.first_call_s, n_loops=measurement.n_loops,
                                warmup_calls=measurement.warmup_calls, converged=measurement.converged,
                                timed_s=measurement.timed_s,
                                page_faults_per_call=(minor_page_faults() - state.faults_at_start) / sampled_calls)
                record["method"] = "fwbench"
                if state.turns:  # --interleave: when each turn began (CLOCK_MONOTONIC, one clock for every
                    # process of the machine) and how many of the samples, in order, it took
                    record["turn_starts_s"] = [started for started, _ in state.turns]
                    record["turn_sample_counts"] = [count for _, count in state.turns]
                if measurement.device_samples_s:
                    record["device_samples_s"] = measurement.device_samples_s
                    record["device_median_s"] = summarize(measurement.device_samples_s)["median_s"]
            record["other_cpu_cores"] = state.other_work.cores
            peak, at_start = state.memory.stop()
            started = time.perf_counter()
            workload = self.workloads[cell["workload"]]
            reference = self._reference(kind, workload, params, state.inputs)
            record.update(reference_s=time.perf_counter() - started, inputs_sha256=inputs_digest(state.inputs),
                          largest_input_bytes=max((int(getattr(array, "nbytes", 0)) for array in state.inputs),
                                                  default=0))
            check = kind.check(params, self.adapter, state.call, output, reference)
            record.update(extra_fields(kind.extra_fields(params, state.call)))
            record.update(peak_host_bytes=peak, host_bytes_at_start=at_start,
                          peak_device_bytes=self.adapter.device_memory_peak_bytes(),
                          max_abs_err=check.max_abs_err, max_rel_err=check.max_rel_err, tolerance=check.tolerance)
            samples = kind.samples_per_call(params)
            if samples and record.get("median_s"):
                record["samples_per_s"] = samples / record["median_s"]
            if check.ok:
                record["status"] = "ok"
            else:
                record["status"] = "mismatch"
                record["reason"] = check.detail or (
                    f"max relative error {check.max_rel_err:.3g} exceeds the tolerance {check.tolerance:.3g}")
        except Exception as error:  # noqa: BLE001
            return self.fail(state, error)
        return self._stamp(state)

    def failed_outside(self, cell: dict[str, Any], cause: str) -> dict[str, Any]:
        """The record of a cell whose process died before it could report."""
        state = CellState(cell=cell, started=time.perf_counter())
        state.record = base_record(cell, self.workloads[cell["workload"]].to_dict(), self.config["run"])
        state.record.update(framework_version=self.info["version"], status="error", reason=cause,
                            settings=self.settings, failure="cell process died")
        return self._stamp(state)

    def fail(self, state: "CellState", error: BaseException) -> dict[str, Any]:
        state.record.update(status="error", reason=short_reason(error),
                            traceback=traceback.format_exc(limit=20)[-4000:])
        return self._stamp(state)

    def _stamp(self, state: "CellState") -> dict[str, Any]:
        state.device_inputs = state.inputs = []
        state.call = state.sampler = None
        state.record["cell_wall_s"] = time.perf_counter() - state.started
        state.record["timestamp"] = datetime.now(timezone.utc).isoformat()
        return state.record

    def run(self, cell: dict[str, Any]) -> dict[str, Any]:
        """One cell from start to record: prepare, sample until the stopping rule, check."""
        state = self.begin(cell)
        if isinstance(state, dict):
            return state
        state.other_work.start()
        try:
            while True:
                state.sampler.sample()
                if state.sampler.done():
                    break
        except Exception as error:  # noqa: BLE001
            return self.fail(state, error)
        finally:
            state.other_work.stop()
        return self.conclude(state)


@dataclass
class CellState:
    """A cell between ``begin`` and ``conclude`` (kept across turns when interleaving)."""

    cell: dict[str, Any]
    started: float
    kind: Any = None
    params: dict[str, int] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    inputs: list[Any] = field(default_factory=list)
    device_inputs: list[Any] = field(default_factory=list)
    faults_at_start: int = 0
    call: Any = None
    sampler: Sampler | None = None
    memory: PeakHostMemory = field(default_factory=PeakHostMemory)
    other_work: OtherWork = field(default_factory=OtherWork)  # other processes' CPU while this cell samples
    turns: list = field(default_factory=list)  # --interleave: (time.monotonic() at its start, samples taken)


def extra_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A kind's own fields for its record: those the record defines (a built-in kind's ``loss_trajectory``) at
    the top, any other (a plugin kind's) under ``extra``, JSON-safe, so no kind can make the writer refuse a
    record (:func:`fwbench.records.cell.check_fields`)."""
    from fwbench.files import json_safe
    from fwbench.records.cell import ROUND_FIELDS

    found = {name: value for name, value in fields.items() if name in ROUND_FIELDS and name != "extra"}
    others = {str(name): value for name, value in fields.items() if name not in found}
    if others:
        found["extra"] = json_safe(others)
    return found
