"""The run's policy for a combined cell's rounds: disturbed rounds set apart, then an interval from the
cell's spread shrunk toward its group's pooled one.

:func:`fwbench.records.combine.combine_rounds` joins a cell's round records; this module decides what the
rounds are worth together.  For every cell of two rounds or more, grouped by run, framework, mode, device
and method (:func:`pool_round_spreads`): rounds timed while other processes took the run's threshold of
cores or more are set apart (``cause: contended``); then rounds far slower than the cell's others, beyond
the group's pooled round-to-round spread (:func:`fwbench.stats.pooling.disturbed_rounds`: ``cause: slow``);
then the cell's interval of the next run's median is a t prediction interval on the logs of its round
medians, their variance shrunk toward the group's (:func:`fwbench.stats.pooling.shrink`,
:func:`fwbench.stats.intervals.rounds_interval`).  A cell whose rounds found the host allocator in two
states keeps both and borrows nothing.  The cell records are dicts of :mod:`fwbench.records.cell`'s fields;
this module changes them in place, as the combining step that owns them asks.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from fwbench.stats.intervals import rounds_interval
from fwbench.stats.pooling import contended_rounds, disturbed_rounds, estimate_prior, log_variance, shrink
from fwbench.stats.timing import summarize

# Per-second figures follow the median: when it moves, they are scaled with it.
PER_SECOND_FIELDS = ("gflops_per_s", "gbytes_per_s", "pct_of_bandwidth_peak", "pct_of_compute_peak",
                     "samples_per_s")


def sample_statistics(combined: dict[str, Any]) -> None:
    """The cell's median and spread from the samples of its rounds (``samples_s``), as one round's are made
    (:func:`fwbench.stats.timing.summarize`); its interval comes from the rounds instead."""
    summary = summarize(combined["samples_s"])
    combined.update({key: summary[key] for key in ("min_s", "max_s", "median_s", "mean_s", "stdev_s", "iqr_s")},
                    n_samples=len(combined["samples_s"]))


def relative_width(combined: dict[str, Any]) -> None:
    median = combined.get("median_s")
    if combined.get("ci95_low_s") is not None and median:
        combined["rel_ci95"] = (combined["ci95_high_s"] - combined["ci95_low_s"]) / 2 / median
        target = ((combined.get("settings") or {}).get("timer") or {}).get("target_rel_ci")
        if target is not None:
            combined["converged"] = combined["rel_ci95"] <= target


def pool_round_spreads(cells: list[dict[str, Any]]) -> None:
    """Every cell of two rounds or more: its disturbed rounds set apart, then its interval from its spread
    shrunk toward its group's (run, framework, mode, device, method) pooled spread (:mod:`fwbench.stats.pooling`)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for cell in cells:
        if len(cell.get("round_medians_s") or []) >= 2:
            key = tuple(cell.get(name) for name in ("run_id", "framework", "mode", "device", "method"))
            groups.setdefault(key, []).append(cell)

    def prior_of(members: list[dict[str, Any]]):
        steady = [cell for cell in members if not cell.get("allocator_states")]
        return estimate_prior([log_variance(cell["round_medians_s"]) for cell in steady],
                              [len(cell["round_medians_s"]) - 1 for cell in steady])

    for members in groups.values():
        for cell in members:
            if cell.get("allocator_states"):
                continue
            cores = cell.get("other_cpu_cores_by_round") or []
            threshold = (cell.get("settings") or {}).get("contended_cores")
            set_apart(cell, {index: f"other processes took {cores[index]:.2f} of a core on average while it "
                                     f"was timed (the run's threshold: {threshold}): disturbed"
                              for index in contended_rounds(cores, len(cell["round_medians_s"]), threshold)},
                       cause="contended")
        first = prior_of(members)
        for cell in members:
            if first is not None and not cell.get("allocator_states"):
                centre = statistics.median(cell["round_medians_s"])
                set_apart(cell, {
                    index: f"{cell['round_medians_s'][index] / centre:.2f}x the median of the cell's rounds, beyond "
                           f"the run's round-to-round spread ({math.sqrt(first.variance):.1%}): disturbed"
                    for index in disturbed_rounds(cell["round_medians_s"], first.variance)}, cause="slow")
        prior = prior_of(members)
        for cell in members:
            medians = cell["round_medians_s"]
            pooled = shrink(log_variance(medians), len(medians) - 1, prior) if prior else None
            interval = rounds_interval(medians, cell["median_s"], pooled)
            cell.update(ci95_low_s=interval.low, ci95_high_s=interval.high, ci_level=interval.level,
                        ci_method=interval.method)
            if prior is not None:
                cell["pooled_spread"] = {"prior_sd": math.sqrt(prior.variance),
                                         "prior_degrees_of_freedom": prior.degrees_of_freedom,
                                         "cells": prior.cells, "degrees_of_freedom": pooled[1]}
            relative_width(cell)


def set_apart(cell: dict[str, Any], reasons: dict[int, str], cause: str) -> None:
    """Drop the rounds at the indices of ``reasons`` from the cell's samples and medians, and say why in
    ``excluded_rounds`` (``cause``: ``contended``, measured, or ``slow``)."""
    if not reasons:
        return
    indices = sorted(reasons)
    dropped = {cell["round_numbers"][index] for index in indices}
    cell["excluded_rounds"] = cell.get("excluded_rounds", []) + [
        {"round": cell["round_numbers"][index], "median_s": cell["round_medians_s"][index],
         "reason": reasons[index], "cause": cause} for index in indices]
    kept = [index for index in range(len(cell["round_medians_s"])) if index not in indices]
    if cell.get("other_cpu_cores_by_round"):
        cell["other_cpu_cores_by_round"] = [cell["other_cpu_cores_by_round"][index] for index in kept]
    cell["round_medians_s"] = [cell["round_medians_s"][index] for index in kept]
    cell["round_numbers"] = [cell["round_numbers"][index] for index in kept]
    if cell.get("turns"):
        cell["turns"] = [entry for entry in cell["turns"] if entry["round"] not in dropped]
    pairs = [(value, number) for value, number in zip(cell["samples_s"], cell["samples_round"])
             if number not in dropped]
    cell["samples_s"], cell["samples_round"] = [value for value, _ in pairs], [number for _, number in pairs]
    old_median = cell["median_s"]
    sample_statistics(cell)
    for key in PER_SECOND_FIELDS:
        if cell.get(key) is not None:
            cell[key] *= old_median / cell["median_s"]
