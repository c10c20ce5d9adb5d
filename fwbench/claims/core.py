"""Published claims: their specs, and verdicts computed from measurements.

A claim spec is a normal spec file with a ``claim:`` mapping beside
``workloads:`` (see ``workloads/claims/``).  Two evaluations exist:

* ``speedup`` ("JAX is 86x faster than NumPy"): the claimed ratio between a
  baseline series on one device and a subject series on another;
* ``fusion`` ("XLA fuses x + y*z and the reduction into one kernel"): the
  compiled series against eager, and whether its time is below what moving
  the unfused bytes would take at the measured bandwidth (proof it fused).

Verdicts: ``reproduced``, ``holds in direction``, ``not reproduced``,
``undecided``, ``not testable here``; each comes with the numbers and a
paragraph built from them.  Verdicts are decided on the 95% interval of the
measured ratio over rounds (:mod:`fwbench.stats.ratios`), and the paragraph quotes
it: ``reproduced`` when the interval reaches the claimed ratio's tolerance
band, ``holds in direction`` when it lies above 1 but short of the band,
``not reproduced`` when it excludes both, ``undecided`` when there is no
interval (one round) or it straddles 1 where no ratio was claimed.  Nothing
here imports a framework.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fwbench.errors import UserError
from fwbench.kinds.fields import FieldReader
from fwbench.spec.loader import DEVICE_KINDS, Spec, load_spec
from fwbench.stats.ratios import Ratio, ratio
from fwbench.units import format_milliseconds

CLAIMS_DIRECTORY = Path("workloads") / "claims"
EVALUATIONS = ("speedup", "fusion")
VERDICTS = ("reproduced", "holds in direction", "not reproduced", "undecided", "not testable here")
CLAIM_KEYS = ("id", "statement", "source", "evaluation", "workload", "bandwidth_workload", "baseline", "subject",
              "ratio", "tolerance", "setup", "timeit", "context")
DEVICE_NAMES = {"cpu": "CPU", "gpu": "GPU", "tpu": "TPU"}


@dataclass
class Claim:
    id: str
    statement: str
    source: dict[str, str]
    evaluation: str
    workload: str
    bandwidth_workload: str | None
    baseline: dict[str, Any]
    subject: dict[str, Any]
    ratio: float | None
    tolerance: float
    setup: dict[str, str]
    timeit: dict[str, Any]
    context: list[str]
    spec: Spec = field(repr=False)


def _series_entry(reader: FieldReader, key: str) -> dict[str, Any]:
    entry = reader.child(key, reader.raw(key), f"the {key} (series, device, seconds)")
    entry.check_keys(("series", "device", "seconds"), required=("series", "device"))
    series = entry.take_str("series", pattern=None)
    if series.count("/") != 1:
        raise entry.error("series", f"got {series!r}, expected framework/mode such as numpy/eager")
    return {"series": series, "device": entry.take_choice("device", DEVICE_KINDS),
            "seconds": entry.take_float("seconds", None)}


def load_claim(path: str | Path) -> Claim:
    spec = load_spec(path, extra_keys=("claim",))
    reader = FieldReader(spec.document["claim"], file=spec.path, prefix="claim.", what="the claim")
    reader.check_keys(CLAIM_KEYS, required=("id", "statement", "source", "evaluation", "workload", "baseline",
                                            "subject"))
    source = reader.child("source", reader.raw("source"), "the source (title, url)")
    source.check_keys(("title", "url", "publisher", "date"), required=("title", "url"))
    source_fields = {key: source.take_str(key, "") for key in ("title", "url", "publisher", "date")}
    if not source_fields["title"].strip() or not source_fields["url"].strip():
        raise reader.error("source", "the source needs a non-empty title and url",
                           "cite where the claim was published")
    names = {w.name for w in spec.workloads}
    workload = reader.take_str("workload")
    if workload not in names:
        raise reader.error("workload", f"got {workload!r}, expected one of this file's workloads: "
                                       f"{', '.join(sorted(names))}")
    bandwidth = reader.take_str("bandwidth_workload", None)
    if bandwidth is not None and bandwidth not in names:
        raise reader.error("bandwidth_workload", f"got {bandwidth!r}, expected one of: {', '.join(sorted(names))}")
    setup = reader.raw("setup", {})
    if not isinstance(setup, dict) or not all(isinstance(v, str) for v in setup.values()):
        raise reader.error("setup", "expected a mapping of descriptions (text)")
    timeit = reader.raw("timeit", {})
    if not isinstance(timeit, dict):
        raise reader.error("timeit", "expected a mapping: {repeats: 5, loops: {numpy/eager: 5}}")
    context = reader.raw("context", [])
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        raise reader.error("context", "expected a list of framework/mode series")
    return Claim(
        id=reader.take_str("id"),
        statement=reader.take_str("statement"),
        source=source_fields,
        evaluation=reader.take_choice("evaluation", EVALUATIONS),
        workload=workload,
        bandwidth_workload=bandwidth,
        baseline=_series_entry(reader, "baseline"),
        subject=_series_entry(reader, "subject"),
        ratio=reader.take_float("ratio", None),
        tolerance=reader.take_float("tolerance", 0.25),
        setup=dict(setup),
        timeit=dict(timeit),
        context=list(context),
        spec=spec,
    )


def available_claims(directory: Path = CLAIMS_DIRECTORY) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {path.stem: path for path in sorted(directory.glob("*.yaml"))}


def find_claim(name: str, directory: Path = CLAIMS_DIRECTORY) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    claims = available_claims(directory)
    if name not in claims:
        known = ", ".join(claims) or "(none found)"
        raise UserError(f"unknown claim '{name}'; known claims: {known}", hint="see 'fwbench reproduce --list'")
    return claims[name]


# ---------------------------------------------------------------------- measurements


@dataclass
class Timing:
    """One series on one device at the claim's size: fwbench's median and CI, and %timeit's best."""

    median_s: float | None = None
    ci95_low_s: float | None = None
    ci95_high_s: float | None = None
    timeit_best_s: float | None = None
    fused_bytes: int | None = None
    unfused_bytes: int | None = None
    device_name: str | None = None
    round_medians_s: list[float] = field(default_factory=list)
    round_numbers: list[int] = field(default_factory=list)
    run_id: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {"median_s": self.median_s, "round_medians_s": self.round_medians_s or None,
                "round_numbers": self.round_numbers or None, "run_id": self.run_id}


def speedup(base: Timing, subject: Timing) -> Ratio:
    """base / subject (how many times faster the subject is), with its interval over rounds."""
    return ratio(base.as_row(), subject.as_row())


@dataclass
class Measurements:
    """What the claim's cells measured, keyed by (series, device), plus the bandwidth per device."""

    timings: dict[tuple[str, str], Timing] = field(default_factory=dict)
    bandwidth_gbytes_per_s: dict[str, float] = field(default_factory=dict)
    devices_present: list[str] = field(default_factory=list)
    by_size: dict[str, dict[tuple[str, str], Timing]] = field(default_factory=dict)
    cpu_name: str = ""
    num_threads: int | None = None


def collect(claim: Claim, records: list[dict[str, Any]], devices_present: list[str]) -> Measurements:
    measured = Measurements(devices_present=list(devices_present))
    for record in records:
        if record.get("status") != "ok":
            continue
        series, device = f"{record['framework']}/{record['mode']}", record["device"]
        if record["workload"] == claim.bandwidth_workload:
            rate = record.get("gbytes_per_s") or 0.0
            measured.bandwidth_gbytes_per_s[device] = max(measured.bandwidth_gbytes_per_s.get(device, 0.0), rate)
            continue
        if record["workload"] != claim.workload:
            continue
        size = ",".join(f"{k}={v}" for k, v in record["params"].items()) or "-"
        timing = measured.by_size.setdefault(size, {}).setdefault((series, device), Timing())
        timing.fused_bytes, timing.unfused_bytes = record.get("fused_bytes"), record.get("unfused_bytes")
        timing.device_name = record.get("device_name")
        if record.get("method") == "timeit":
            timing.timeit_best_s = record.get("timeit_best_s")
        else:
            timing.median_s = record.get("median_s")
            timing.ci95_low_s, timing.ci95_high_s = record.get("ci95_low_s"), record.get("ci95_high_s")
            timing.round_medians_s = list(record.get("round_medians_s") or [])
            timing.round_numbers = list(record.get("round_numbers") or [])
            timing.run_id = record.get("run_id")
        measured.num_threads = record.get("num_threads")
        if device == "cpu" and record.get("device_name"):
            measured.cpu_name = record["device_name"]
    if measured.by_size:
        largest = max(measured.by_size, key=lambda label: _size_value(label))
        measured.timings = measured.by_size[largest]
    return measured


def _size_value(label: str) -> int:
    return math.prod(int(item.split("=")[1]) for item in label.split(",")) if label != "-" else 1


# ---------------------------------------------------------------------- verdicts


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
    for size in sorted(measured.by_size, key=_size_value):
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
