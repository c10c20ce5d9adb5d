"""What a report says first: findings in sentences, and the same conclusions as a JSON document.

Every sentence is generated from the leaderboard (:func:`fwbench.report.
aggregate.leaderboard`), whose winners are decided on intervals over rounds:
"fastest" only when the interval of each runner-up's ratio lies above 1,
"equivalent" when each runner-up is either that or shown within ±5% (two
one-sided tests: its 90% interval, for a 95% one, inside 1/1.05-1.05),
"undecided" otherwise (and
always where a run had one round).  The JSON document
(``fwbench report RUN --json FILE``) carries the same decisions with their
numbers for CI and scripts; its ``version`` changes when its shape does.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from fwbench.report import fairness
from fwbench.report.aggregate import margin_text, none_if_nan, winner_text
from fwbench.stats.intervals import CONFIDENCE
from fwbench.stats.ratios import EQUIVALENCE_MARGIN
from fwbench.units import format_seconds

# 2: verdicts fastest, equivalent, undecided (no more "tied"); each ratio has a standing.
# 3: each entry's looks and level (the level its intervals are at, after the run's repeated looks); an
#    undecided ratio's more_rounds and more_seconds (about what would settle it)
# 4: ``fastest``, the series every ratio is to, chosen by paired ratios (stats.verdicts.ranked); until 3
#    ``fastest_by_median`` named it, and it now names the least median, which may be another series
CONCLUSIONS_VERSION = 4


def _undecided(row: Any) -> bool:
    """Undecided because the run had one round: no ratio has an interval."""
    return row["verdict"] == "undecided" and all(item["low"] is None for item in row["ratios"])


def _size_sentence(row: Any, where: str) -> str:
    if row["params"] not in ("-", ""):
        where = f"{where} ({row['params']})"
    if row["verdict"] == "only":
        return f"{where} only {row['fastest']} ran."
    if _undecided(row):
        return (f"{where} {row['fastest']} has the lowest median, {margin_text(row)} ahead of "
                f"{row['runner_up']}, but one round cannot decide it.")
    if row["verdict"] == "fastest":
        return f"{where} {row['fastest']} is fastest, {margin_text(row)} ahead of {row['runner_up']}."
    if row["verdict"] == "equivalent":
        return (f"{where} {', '.join(row['winners'])} are equivalent: each within "
                f"±{EQUIVALENCE_MARGIN:.0%} of the fastest by its interval.")
    unclear = [item for item in row["ratios"] if item.get("standing") == "undecided"]
    by_median = row.get("fastest_by_median") or row["fastest"]
    leads = "has the lowest median" if by_median == row["fastest"] else f"leads {by_median} by its paired turns"
    return (f"{where} {row['fastest']} {leads}, but {', '.join(item['series'] for item in unclear)} "
            f"cannot be told apart from it yet: neither slower nor within ±{EQUIVALENCE_MARGIN:.0%} by its "
            "interval" + settle_text(unclear) + ".")


def settle_text(unclear: list[dict]) -> str:
    """', about 4 more rounds (2.4 s of sampling per series) would settle it' for the hardest undecided ratio."""
    needs = [item for item in unclear if item.get("more_rounds")]
    if not needs:
        return ""
    hardest = max(needs, key=lambda item: item["more_rounds"])
    seconds = (f" ({format_seconds(hardest['more_seconds'])} of sampling per series)"
               if hardest.get("more_seconds") else "")
    return f"; about {hardest['more_rounds']} more rounds{seconds} would likely settle it"


# A run's machine probe moving more than this between rounds is worth a sentence: on a quiet machine it moves
# a few percent, and while the machine itself moves, no cell's rounds can agree more closely than it does.
MACHINE_SPREAD = 0.15


def machine_sentences(manifests: list[dict]) -> list[str]:
    """For each run whose machine probe moved by more than :data:`MACHINE_SPREAD` between rounds: how much,
    and what that means for its intervals."""
    sentences = []
    for manifest in manifests:
        probes = [entry["machine_probe_s"] for entry in manifest.get("rounds") or [] if entry.get("machine_probe_s")]
        if len(probes) < 2 or max(probes) / min(probes) - 1 <= MACHINE_SPREAD:
            continue
        sentences.append(
            f"This machine's own speed moved {max(probes) / min(probes) - 1:.0%} between the rounds of run "
            f"{manifest.get('run_id')} (a fixed pure-Python probe timed before each round: "
            f"{format_seconds(min(probes))} to {format_seconds(max(probes))}): "
            + ("each cell's own interval (of its next run's median) is as wide as that, but the verdicts pair "
               "the series' turns in time, so the drift cancels out of their ratios." if manifest.get("interleave")
               else "rounds cannot agree more closely than the machine does, so intervals stay wide and sizes "
               "undecided; pair the series in time (drop --sequential), or see `python bench/noise_floor.py` "
               "for the narrowest interval this machine allows."))
    return sentences


def handoff_sentences(manifests: list[dict]) -> list[str]:
    """For each run whose cross-core hand-off probe found a slow spell before some size-round
    (``run.json``'s ``handoff``, :mod:`fwbench.execution.handoff`): how many, and what it means for ratios."""
    sentences = []
    for manifest in manifests:
        found = manifest.get("handoff") or {}
        slow, total = found.get("slow_size_rounds") or 0, found.get("size_rounds") or 0
        if not slow:
            continue
        both = found.get("sizes_in_both") or []
        where = (f"; {len(both)} sizes had rounds in both spells ({', '.join(both[:3])}"
                 f"{', ...' if len(both) > 3 else ''})" if both else "")
        sentences.append(
            f"The hand-off between cores ran slow before {slow} of {total} size-rounds of run "
            f"{manifest.get('run_id')} (a 256x256 NumPy GEMM ran {found.get('lowest_speedup', 0):.2f}-"
            f"{found.get('highest_speedup', 0):.2f}x as fast on two threads as on one; under "
            f"{found.get('slow_below', 1.4):g}x counts as slow){where}. This machine has spells in which "
            "multi-threaded small kernels run slower, by a different factor per framework, so ratios between them "
            "can move between runs; the probe sees the spell only as a size-round begins (docs/methodology.md, "
            "two speeds of a multi-threaded kernel).")
    return sentences


def findings(board: pd.DataFrame, crossings: pd.DataFrame, frame: pd.DataFrame,
             manifests: list[dict] | None = None) -> list[str]:
    """Sentences per workload family and device: who wins small and large, crossovers, ties, gaps; the
    machine's own noise (``manifests``) right after the count of decided sizes."""
    sentences: list[str] = []
    if board.empty:
        return ["No cell ran successfully, so there is nothing to rank."]
    counts = board["verdict"].value_counts()
    fastest, equivalent, undecided = (int(counts.get(name, 0)) for name in ("fastest", "equivalent", "undecided"))
    compared = fastest + equivalent + undecided
    share = f" ({(fastest + equivalent) / compared:.0%} decided)" if compared else ""
    sentences.append(f"Of {len(board)} workload sizes, {fastest} have a single fastest series, {equivalent} are "
                     f"equivalent (within ±{EQUIVALENCE_MARGIN:.0%}) and {undecided} are undecided{share}: a "
                     f"winner is named only when every runner-up's interval lies above 1.")
    sentences += machine_sentences(manifests or [])
    sentences += handoff_sentences(manifests or [])
    several_devices = board["device"].nunique() > 1
    for (workload, device), rows in board.groupby(["workload", "device"], sort=False):
        rows = rows.sort_values("size")
        prefix = f"{workload}" + (f" on {device}" if several_devices else "")
        smallest, largest = rows.iloc[0], rows.iloc[-1]
        text = prefix + ": " + _size_sentence(smallest, "at the smallest size" if len(rows) > 1 else "at its one size")
        if len(rows) > 1:
            text += " " + _size_sentence(largest, "At the largest size")
        ties = int((rows["verdict"] == "undecided").sum())
        if ties and len(rows) > 2:
            text += f" {ties} of {len(rows)} sizes are undecided."
        sentences.append(text)
        sentences += _lead_changes(prefix, rows, crossings[crossings["workload"] == workload]
                                   if not crossings.empty else crossings)
    sentences += allocator_sentences(frame)
    sentences += fairness.regime_sentences(frame)
    sentences += fairness.kernel_sentences(frame, manifests)
    sentences += disturbed_sentences(frame)
    sentences += failed_round_sentences(frame)
    problems = frame[frame["status"] != "ok"]
    if not problems.empty:
        counts = problems["status"].value_counts()
        sentences.append("Not measured: " + ", ".join(f"{count} {status}" for status, count in counts.items())
                         + " (see the table of cells not ok).")
    return sentences


# A cell whose rounds differ by this many fresh pages a call (1 MiB) was timed in different states of the host
# allocator's heap; it matters when that many faults cost a tenth of the fastest round's time or more, at no
# less than 0.25 µs a fault (zeroing a 4 KiB page at 16 GB/s; about 1.3 µs a fault on the machine of the
# README's allocator table).
def allocator_sentences(frame: pd.DataFrame) -> list[str]:
    """Cells whose rounds found the host allocator in two states (``allocator_states``, see
    :func:`fwbench.stats.pooling.allocator_states`), each state with its rounds, fresh pages and time.

    glibc reuses freed memory or hands out fresh pages depending on what the process allocated before
    (see the README's section on the allocator); when the rounds of a cell disagree by enough fresh pages
    to cost a tenth of its time, its time is a property of the heap's history as much as of the code, and
    one interval over both states would describe neither.
    """
    if "allocator_states" not in frame:
        return []
    sentences = []
    for row in frame.to_dict("records"):
        states = row.get("allocator_states")
        if not isinstance(states, list) or len(states) != 2:
            continue
        faults = [state["page_faults_per_call"] for state in states]
        described = [f"{format_seconds(state['median_s'])} a call in round{'s' if len(state['rounds']) > 1 else ''} "
                     f"{', '.join(map(str, state['rounds']))} ({state['page_faults_per_call']:.0f} fresh pages a call)"
                     for state in states]
        where = f"{row['workload']}" + (f" ({row['params']})" if row.get("params") not in (None, "-", "") else "")
        sentences.append(
            f"{row['framework']}/{row['mode']} on {where}: its rounds faulted in {min(faults):.0f} to "
            f"{max(faults):.0f} fresh pages a call, two states of the host allocator: {described[0]} and "
            f"{described[1]}. It reused freed memory in some rounds and not in others, so this time depends on "
            "what the process allocated before, not only on the code (README: the allocator).")
    return sentences


def failed_round_sentences(frame: pd.DataFrame) -> list[str]:
    """Cells some of whose rounds failed because their process died or timed out (``failed_rounds``): which
    rounds, how they died (the signal), whether a retry replaced them, and what the cell's figures rest on."""
    if "failed_rounds" not in frame:
        return []
    sentences = []
    for row in frame.to_dict("records"):
        failed = row.get("failed_rounds")
        if not isinstance(failed, list) or not failed:
            continue
        where = f"{row['workload']}" + (f" ({row['params']})" if row.get("params") not in (None, "-", "") else "")
        parts = [f"round {entry['round']} failed ({str(entry.get('reason'))[:120].split(';')[0]})"
                 + (" and was run again in a fresh worker" if entry.get("retried") else ", not replaced")
                 for entry in failed]
        kept = row.get("round_numbers") or []
        rests = (f"its figures rest on rounds {', '.join(map(str, kept))}" if kept
                 else f"its status is {row.get('status')}")
        sentences.append(f"{row['framework']}/{row['mode']} on {where}: " + "; ".join(parts) + f"; {rests}.")
    return sentences


def disturbed_sentences(frame: pd.DataFrame) -> list[str]:
    """Rounds set apart as disturbed (``excluded_rounds``): those timed while other processes took CPU
    (measured, :mod:`fwbench.machine.contention`) and those that only ran far slower, each with how many
    cells and the worst few."""
    if "excluded_rounds" not in frame:
        return []
    hit = [(row, item) for row in frame.to_dict("records") if isinstance(row.get("excluded_rounds"), list)
           for item in row["excluded_rounds"]]
    contended = [(row, item) for row, item in hit if item.get("cause") == "contended"]
    slower = [(row, item) for row, item in hit if item.get("cause") != "contended"]
    sentences = []
    if contended:
        sentences.append(f"{_rounds_of_cells(contended)} were timed while other processes took CPU (rounds "
                         f"{_round_list(contended)}; at or above the run's threshold of cores, on average) and were "
                         f"set apart, not averaged in: {_worst(contended)}.")
    if slower:
        sentences.append(f"{_rounds_of_cells(slower)} ran far slower than the same cells' other rounds (rounds "
                         f"{_round_list(slower)}; the machine was busy) and were set apart, not averaged in: "
                         f"{_worst(slower)}.")
    return sentences


def _rounds_of_cells(hit: list) -> str:
    return f"{len(hit)} round{'s' if len(hit) > 1 else ''} of {len({row['cell_id'] for row, _ in hit})} cells"


def _round_list(hit: list) -> str:
    return ", ".join(map(str, sorted({item["round"] for _, item in hit})))


def _worst(hit: list, shown: int = 3) -> str:
    """The ``shown`` rounds furthest above their cells' medians: cell, round and how many times slower."""
    ranked = sorted(hit, key=lambda pair: -pair[1]["median_s"] / pair[0]["median_s"])
    return "; ".join(f"{row['cell_id']} round {item['round']} ({item['median_s'] / row['median_s']:.2f}x)"
                     for row, item in ranked[:shown])


def _lead_changes(prefix: str, rows: pd.DataFrame, crossings: pd.DataFrame) -> list[str]:
    """Where the fastest series changes from one size to the next, with the interpolated crossover."""
    sentences = []
    ordered = rows.to_dict("records")
    for before, after in zip(ordered, ordered[1:]):
        if before["fastest"] == after["fastest"]:
            continue
        text = (f"{prefix}: {after['fastest']} takes the lead from {before['fastest']} between "
                f"{before['params']} and {after['params']}")
        match = crossings[(crossings["faster_above"] == after["fastest"])
                          & (crossings["slower_above"] == before["fastest"])] if not crossings.empty else crossings
        if not match.empty:
            text += f" (the medians cross near size {match.iloc[0]['size_estimate']:.3g})"
        if "fastest" not in (before["verdict"], after["verdict"]):
            text += "; neither side has a single fastest series, so the change is within the noise"
        sentences.append(text + ".")
    return sentences


def conclusions(report: Any) -> dict[str, Any]:
    """The report's conclusions as a JSON-ready document (see the module docstring)."""
    board = report.leaderboard
    leaderboard = []
    for row in board.to_dict("records") if not board.empty else []:
        leaderboard.append({
            "workload": row["workload"], "params": row["params"], "device": row["device"], "dtype": row["dtype"],
            "verdict": row["verdict"], "winners": [] if _undecided(row) else list(row["winners"]),
            "fastest": row["fastest"], "fastest_by_median": row.get("fastest_by_median") or row["fastest"],
            "median_s": none_if_nan(row["median_s"]),
            "looks": int(row.get("looks") or 0), "level": none_if_nan(row.get("level")),
            "ratios_to_fastest": [{key: (none_if_nan(value) if key in ("ratio", "low", "high", "level") else value)
                                   for key, value in item.items()} for item in row["ratios"]],
        })
    speedups = []
    frame = report.frame
    with_speedup = frame[frame["speedup"].notna()] if "speedup" in frame else frame.iloc[0:0]
    for row in with_speedup.to_dict("records"):
        speedups.append({"workload": row["workload"], "params": row["size_label"], "device": row["device"],
                         "dtype": row["dtype"], "series": row["series"], "speedup": none_if_nan(row["speedup"]),
                         "low": none_if_nan(row["speedup_low"]), "high": none_if_nan(row["speedup_high"]),
                         "method": row.get("speedup_method")})
    claims = []
    for manifest in report.manifests:
        summary = manifest.get("claim_summary")
        if summary:
            claims.append({"id": summary["claim"]["id"], "verdict": summary["verdict"],
                           "explanation": summary["explanation"], "numbers": summary["numbers"]})
    return {
        "version": CONCLUSIONS_VERSION,
        "runs": [manifest.get("run_id") for manifest in report.manifests],
        "baseline": report.baseline,
        "interval_level": CONFIDENCE,
        "findings": report.findings,
        "leaderboard": leaderboard,
        "speedups": speedups,
        "claims": claims,
    }


def winner_cell(row: Any) -> str:
    """The leaderboard's winner column: the winner, the tie, or the undecided fastest-by-median."""
    if _undecided(row):
        return f"undecided (one round): {row['fastest']} lowest"
    return winner_text(row)
