"""A cell's rounds combined into one record: the last attempt of each round, their samples, medians and
turns side by side, the worst status, and the run's policy for what the rounds are worth together
(:mod:`fwbench.stats.cell_spreads`).  The fields it adds are :data:`fwbench.records.cell.COMBINED_FIELDS`.
"""

from __future__ import annotations

import statistics
from typing import Any, Iterable

from fwbench.stats.cell_spreads import PER_SECOND_FIELDS, pool_round_spreads, relative_width, sample_statistics
from fwbench.stats.paired import turns_of
from fwbench.stats.pooling import allocator_states


def combine_rounds(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per cell from the per-round lines of ``results.jsonl``, in first-seen order.

    A cell measured in R >= 2 rounds gets: every round's samples
    (``samples_s``, with ``samples_round`` saying which round each came
    from), the per-round medians (``round_medians_s``, their rounds in
    ``round_numbers``), the cell's median (``median_s``: the median of all
    samples, see :func:`fwbench.stats.intervals.rounds_interval` for why), and the
    95% interval of the next run's median (``ci95_low_s``/``ci95_high_s``: a
    t prediction interval on the logarithms of the round medians, their
    spread pooled over the run's cells of the same framework, mode and
    device, see :mod:`fwbench.stats.pooling`); ``first_call_s`` is the first
    round's, and ``page_faults_per_call_by_round`` every round's.  A round
    during whose timing other processes took CPU (``other_cpu_cores`` at or
    above the threshold the run recorded in ``settings.contended_cores``),
    or that ran far slower than the cell's others, is set apart
    (``excluded_rounds``, with its median, the reason and the cause) and
    counts in nothing else; a cell whose rounds found the host allocator in two states
    lists them (``allocator_states``).  Its status is the worst of its
    rounds (a mismatch or an error in any round is the cell's).  A cell with
    one round is returned as it is.
    """
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_cell.setdefault(record["cell_id"], []).append(record)
    cells = [_combine(_latest_attempts(rounds)) for rounds in by_cell.values()]
    pool_round_spreads(cells)
    return cells


_SEVERITY = {"error": 3, "mismatch": 2, "ok": 1, "skipped": 0}
# Errors a process's end caused (not the cell's code): rounds with them give way to the rounds that succeeded.
PROCESS_FAILURES = ("worker died", "cell process died", "timed out")
RETRIED_FAILURES = ("worker died", "cell process died")  # run once more at the end of a run


def _process_failed(record: dict[str, Any]) -> bool:
    """An error that the end of its process caused (:data:`PROCESS_FAILURES`), not the cell's code."""
    return record.get("status") == "error" and record.get("failure") in PROCESS_FAILURES


def _latest_attempts(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cell's rounds in order, a retried round by its last record, unless that record is a failure its
    process's end caused and an earlier attempt measured: a cell retried beside a dead partner (its size's
    round run again whole, :func:`fwbench.execution.retry.with_partners`) whose retry dies too keeps the
    measurement it had.  The superseded failures are noted on the record kept (``failed_rounds``, read by
    :func:`_combine`)."""
    by_round: dict[int, list[dict[str, Any]]] = {}
    for record in rounds:
        by_round.setdefault(record.get("round") or 1, []).append(record)
    latest = []
    for number in sorted(by_round):
        attempts = by_round[number]
        measured = [record for record in attempts if record.get("status") == "ok"]
        kept = measured[-1] if measured and _process_failed(attempts[-1]) else attempts[-1]
        last = dict(kept)
        superseded = [{"round": number, "reason": r.get("reason"), "retried": True} for r in attempts
                      if r is not kept and r.get("status") == "error"]
        if superseded:
            last["_superseded"] = superseded
        latest.append(last)
    return latest


_PER_ROUND_SUMS = ("timed_s", "cell_wall_s", "inputs_s", "reference_s")


def _combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [entry for r in rounds for entry in r.pop("_superseded", [])]
    succeeded = [r for r in rounds if r.get("status") == "ok"]
    if succeeded:  # a round its process's end failed gives way to the rounds that succeeded
        failed += [{"round": r.get("round") or 1, "reason": r.get("reason"), "retried": False}
                   for r in rounds if _process_failed(r)]
        rounds = [r for r in rounds if not _process_failed(r)]
    looks = [r["look"] for r in rounds if isinstance(r.get("look"), int)]
    if len(rounds) == 1:
        return dict(rounds[0], n_rounds=1, **({"failed_rounds": failed} if failed else {}),
                    **({"looks": max(looks)} if looks else {}))
    worst = max(rounds, key=lambda r: _SEVERITY.get(r.get("status"), 3))
    combined = dict(worst if worst.get("status") != "ok" else rounds[0])
    combined["n_rounds"] = len(rounds)
    combined["round"] = None
    combined.pop("attempt", None)
    combined.pop("look", None)
    if looks:
        combined["looks"] = max(looks)
    if failed:
        combined["failed_rounds"] = failed
    measured = [r for r in rounds if r.get("samples_s") and r.get("median_s")]
    for key in _PER_ROUND_SUMS:
        values = [r.get(key) for r in rounds if r.get(key) is not None]
        combined[key] = sum(values) if values else None
    combined["first_call_s"] = rounds[0].get("first_call_s")
    combined["first_call_s_by_round"] = [r.get("first_call_s") for r in rounds]
    combined["process_ids"] = [r.get("process_id") for r in rounds]
    combined["page_faults_per_call_by_round"] = [r.get("page_faults_per_call") for r in rounds]
    if not measured:
        return combined
    samples = [value for r in measured for value in r["samples_s"]]
    combined["samples_s"] = samples
    combined["samples_round"] = [r.get("round") for r in measured for _ in r["samples_s"]]
    device_samples = [value for r in measured for value in r.get("device_samples_s") or []]
    if device_samples:
        combined["device_samples_s"] = device_samples
        combined["device_median_s"] = statistics.median(device_samples)
    combined["round_medians_s"] = [r["median_s"] for r in measured]
    combined["round_numbers"] = [r.get("round") or index for index, r in enumerate(measured, start=1)]
    turns = [(number, turns_of(r)) for number, r in zip(combined["round_numbers"], measured)]
    if any(found is not None for _, found in turns):
        combined["turns"] = [{"round": number, "starts_s": list(found.starts_s), "medians_s": list(found.medians_s)}
                             for number, found in turns if found is not None]
    if any(r.get("other_cpu_cores") is not None for r in measured):
        combined["other_cpu_cores_by_round"] = [r.get("other_cpu_cores") for r in measured]
    combined["n_outliers"] = sum(r.get("n_outliers") or 0 for r in measured)
    sample_statistics(combined)
    if len(measured) >= 2:
        states = allocator_states(combined["round_medians_s"], [r.get("page_faults_per_call") for r in measured])
        if states:
            combined["allocator_states"] = [
                dict(state, rounds=[combined["round_numbers"][index] for index in state["rounds"]])
                for state in states]
    else:
        combined.update(ci95_low_s=measured[0].get("ci95_low_s"), ci95_high_s=measured[0].get("ci95_high_s"),
                        ci_level=measured[0].get("ci_level"), ci_method=measured[0].get("ci_method"))
        relative_width(combined)
    scale = measured[0]["median_s"] / combined["median_s"]  # per-second figures follow the median
    for key in PER_SECOND_FIELDS:
        if measured[0].get(key) is not None:
            combined[key] = measured[0][key] * scale
    return combined
