"""A claim's verdict from what was measured: ``reproduced``, ``holds in direction``, ``not reproduced``,
``undecided``, ``not testable here``; each comes with the numbers and a paragraph built from them.

Verdicts are decided on the 95% interval of the measured ratio over rounds (:mod:`fwbench.stats.ratios`),
and the paragraph quotes it: ``reproduced`` when the interval reaches the claimed ratio's tolerance band,
``holds in direction`` when it lies above 1 but short of the band, ``not reproduced`` when it excludes both,
``undecided`` when there is no interval (one round) or it straddles 1 where no ratio was claimed.
``claim.json`` (:func:`claim_summary`) is what ``fwbench reproduce`` writes beside the run's results.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fwbench.claims.claim import DEVICE_NAMES, Claim
from fwbench.claims.measured import Measurements, size_value, speedup
from fwbench.stats.ratios import Ratio
from fwbench.units import format_milliseconds


@dataclass
class Verdict:
    verdict: str
    explanation: str
    numbers: dict[str, Any]




def _within(measured: float, claimed: float, tolerance: float) -> bool:
    return abs(math.log(measured / claimed)) <= math.log(1 + tolerance)


def _ratio_text(value: Ratio) -> str:
    if not value.has_interval:
        return f"{value.value:.3g}x (no interval: one round cannot decide; run with --rounds 3)"
    return f"{value.value:.3g}x (95% interval {value.low:.3g}-{value.high:.3g}, {value.method})"


_VERDICT_SENTENCES = {
    "reproduced": "the interval reaches the claimed {claimed} (within {tolerance}).",
    "holds in direction": "{series} is faster (the interval lies above 1), but not by the claimed {claimed}.",
    "not reproduced": "the interval excludes the claim: {series} is not shown to be faster by {claimed}.",
    "undecided": "the interval cannot tell whether {series} is faster.",
}


def _speedup_verdict(value: Ratio, claimed: float | None, tolerance: float) -> str:
    """The verdict on a measured speed-up: decided on its interval, never on the point estimate alone."""
    if not value.has_interval:
        return "undecided"
    band_low, band_high = (claimed / (1 + tolerance), claimed * (1 + tolerance)) if claimed else (None, None)
    if value.above(1):
        if claimed and value.high >= band_low and value.low <= band_high:
            return "reproduced"
        return "holds in direction"
    if value.below(1) or (claimed and value.high < band_low):
        return "not reproduced"
    return "undecided"


def judge(claim: Claim, measured: Measurements) -> Verdict:
    if claim.evaluation == "fusion":
        return judge_fusion(claim, measured)
    return judge_speedup(claim, measured)


def judge_speedup(claim: Claim, measured: Measurements) -> Verdict:
    base_series, base_device = claim.baseline["series"], claim.baseline["device"]
    subject_series, subject_device = claim.subject["series"], claim.subject["device"]
    base = measured.timings.get((base_series, base_device))
    numbers: dict[str, Any] = {"claimed_ratio": claim.ratio, "claimed_baseline_s": claim.baseline["seconds"],
                               "claimed_subject_s": claim.subject["seconds"], "ratios": {}, "bound_fraction": {}}
    subject_name = DEVICE_NAMES[subject_device]
    base_name = DEVICE_NAMES[base_device]
    source = f"{claim.source.get('publisher') or claim.source['title']}"
    if base is None or base.median_s is None:
        return Verdict("not testable here", f"The baseline {base_series} on the {base_name} could not be measured "
                                            "here, so there is nothing to compare.", numbers)
    ratios, intervals = {}, {}
    for device in measured.devices_present:
        subject = measured.timings.get((subject_series, device))
        if subject is None or subject.median_s is None:
            continue
        measured_ratio = speedup(base, subject)
        timeit_ratio = (base.timeit_best_s / subject.timeit_best_s
                        if base.timeit_best_s and subject.timeit_best_s else None)
        intervals[device] = measured_ratio
        ratios[device] = {"fwbench": measured_ratio.value, "low": measured_ratio.low, "high": measured_ratio.high,
                          "interval_method": measured_ratio.method, "timeit": timeit_ratio,
                          "subject_median_s": subject.median_s, "subject_timeit_s": subject.timeit_best_s}
    numbers["ratios"] = ratios
    numbers["baseline_median_s"], numbers["baseline_timeit_s"] = base.median_s, base.timeit_best_s
    for (series, device), timing in measured.timings.items():
        bandwidth = measured.bandwidth_gbytes_per_s.get(device)
        if bandwidth and timing.median_s and timing.fused_bytes:
            numbers["bound_fraction"][f"{series}@{device}"] = timing.fused_bytes / (bandwidth * 1e9) / timing.median_s

    sentences = [f"The claim ({source}) timed {subject_series} on a {subject_name} against {base_series} on a "
                 f"{base_name}: {format_milliseconds(claim.subject['seconds'])} against "
                 f"{format_milliseconds(claim.baseline['seconds'])}, {claim.ratio:g}x."]
    if subject_device != base_device:
        sentences.append("That ratio mixes what the compiler does (one fused pass over memory instead of several) "
                         "with a different, faster device.")
    same = ratios.get(base_device)
    if same:
        machine = f"this machine's {base_name}" + (f" ({measured.cpu_name}, {measured.num_threads} threads)"
                                                   if base_device == "cpu" and measured.cpu_name else "")
        sentences.append(f"On {machine}, {subject_series} takes {format_milliseconds(same['subject_median_s'])} "
                         f"(median) and {base_series} {format_milliseconds(base.median_s)}: "
                         f"{_ratio_text(intervals[base_device])}, which is what the compiler alone buys on one device.")
        if same["timeit"]:
            sentences.append(f"By the source's own method (best of {claim.timeit.get('repeats', 5)}, compile hidden) "
                             f"the same pair gives {same['timeit']:.2f}x.")
    bandwidth = measured.bandwidth_gbytes_per_s.get(base_device)
    subject_here = measured.timings.get((subject_series, base_device))
    if bandwidth and base.fused_bytes:
        bound_s = base.fused_bytes / (bandwidth * 1e9)
        text = (f"A fused kernel must move {base.fused_bytes / 1e6:.0f} MB; at the {bandwidth:.3g} GB/s this "
                f"{base_name} reached in the same run, that takes at least {format_milliseconds(bound_s)}, so "
                f"{base_series} reaches {bound_s / base.median_s:.0%} of the bound")
        if subject_here and subject_here.median_s:
            text += f" and {subject_series} {bound_s / subject_here.median_s:.0%}"
        if base.unfused_bytes:
            text += (f"; evaluated op by op the expression moves {base.unfused_bytes / 1e9:.2g} GB, "
                     f"{base.unfused_bytes / base.fused_bytes:.1f} times as much")
        sentences.append(text + ".")

    claimed_here = intervals.get(subject_device) if subject_device in measured.devices_present else None
    if claimed_here:
        verdict = _speedup_verdict(claimed_here, claim.ratio, claim.tolerance)
        sentences.append(f"With a {subject_name} here, the claimed pairing gives {_ratio_text(claimed_here)}: "
                         + _VERDICT_SENTENCES[verdict].format(series=subject_series, claimed=f"{claim.ratio:g}x",
                                                              tolerance=f"{claim.tolerance:.0%}"))
        return Verdict(verdict, " ".join(sentences), numbers)
    others = {d: r for d, r in intervals.items() if d not in (base_device, subject_device)}
    if others:
        device, other = next(iter(others.items()))
        verdict = _speedup_verdict(other, None, claim.tolerance)
        sentences.append(f"This machine has no {subject_name}, but it has a {DEVICE_NAMES[device]}: there "
                         f"{subject_series} against {base_series} on the {base_name} gives {_ratio_text(other)} "
                         f"(the claim said {claim.ratio:g}x on a {subject_name}): "
                         + _VERDICT_SENTENCES[verdict].format(series=subject_series, claimed=f"{claim.ratio:g}x",
                                                              tolerance=""))
        return Verdict(verdict, " ".join(sentences), numbers)
    sentences.append(f"This machine has no {subject_name}, so the claimed pairing cannot be re-run here: the "
                     f"{claim.ratio:g}x is not testable on it; what holds here is the same-device ratio above.")
    return Verdict("not testable here", " ".join(sentences), numbers)


def judge_fusion(claim: Claim, measured: Measurements) -> Verdict:
    base_series, subject_series = claim.baseline["series"], claim.subject["series"]
    device = claim.subject["device"]
    numbers: dict[str, Any] = {"sizes": {}}
    bandwidth = measured.bandwidth_gbytes_per_s.get(device)
    rows = []
    for size in sorted(measured.by_size, key=size_value):
        timings = measured.by_size[size]
        base, subject = timings.get((base_series, device)), timings.get((subject_series, device))
        if not base or not subject or not base.median_s or not subject.median_s:
            continue
        unfused_bound = subject.unfused_bytes / (bandwidth * 1e9) if bandwidth and subject.unfused_bytes else None
        measured_speedup = speedup(base, subject)
        entry = {"speedup": measured_speedup.value, "low": measured_speedup.low, "high": measured_speedup.high,
                 "interval_method": measured_speedup.method, "base_s": base.median_s, "subject_s": subject.median_s,
                 "fused_bytes": subject.fused_bytes, "unfused_bytes": subject.unfused_bytes,
                 "unfused_bound_s": unfused_bound,
                 "faster_than_unfused_bound": unfused_bound is not None and subject.median_s < unfused_bound}
        entry["series_s"] = {series: timing.median_s for (series, _device), timing in timings.items()}
        numbers["sizes"][size] = entry
        rows.append((size, entry, measured_speedup))
    if not rows:
        return Verdict("not testable here", f"{base_series} and {subject_series} could not both be measured on the "
                                            f"{DEVICE_NAMES[device]} here.", numbers)
    size, largest, largest_speedup = rows[-1]
    sentences = [f"The claim ({claim.source.get('publisher') or claim.source['title']}): {claim.statement}."]
    sentences.append(f"At {size}, {subject_series} takes {format_milliseconds(largest['subject_s'])} and {base_series} "
                     f"{format_milliseconds(largest['base_s'])}: {_ratio_text(largest_speedup)}; across the sizes "
                     "measured the speed-up is "
                     + ", ".join(f"{entry['speedup']:.2f}x at {label}" for label, entry, _ in rows) + ".")
    if largest["unfused_bytes"]:
        sentences.append(f"Evaluated op by op the expression moves {largest['unfused_bytes'] / 1e6:.0f} MB, fused "
                         f"{largest['fused_bytes'] / 1e6:.0f} MB.")
    if largest["unfused_bound_s"] is not None:
        relation = "below" if largest["faster_than_unfused_bound"] else "above"
        sentences.append(f"At the {bandwidth:.3g} GB/s measured in the same run, moving the unfused bytes takes at "
                         f"least {format_milliseconds(largest['unfused_bound_s'])}; {subject_series} is {relation} "
                         "that, so "
                         + ("it cannot have written the intermediates to memory: it fused them."
                            if largest["faster_than_unfused_bound"] else "the time alone does not prove fusion."))
    if claim.setup.get("not_testable"):
        sentences.append(claim.setup["not_testable"])
    verdict = _speedup_verdict(largest_speedup, None, 0.0)
    if verdict == "holds in direction" and largest["faster_than_unfused_bound"]:
        verdict = "reproduced"
    return Verdict(verdict, " ".join(sentences), numbers)


CLAIM_FILE = "claim.json"  # what 'fwbench reproduce' writes beside the run's results


def claim_summary(claim: Claim, verdict: Verdict, run_id: str) -> dict[str, Any]:
    return {
        "version": 1,
        "run_id": run_id,
        "claim": {"id": claim.id, "statement": claim.statement, "source": claim.source,
                  "evaluation": claim.evaluation, "baseline": claim.baseline, "subject": claim.subject,
                  "ratio": claim.ratio, "tolerance": claim.tolerance, "setup": claim.setup},
        "verdict": verdict.verdict,
        "explanation": verdict.explanation,
        "numbers": verdict.numbers,
    }


def load_claim_summary(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / CLAIM_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
