"""What a run measured for a claim: the baseline's and the subject's timings per size (with their rounds,
for the ratio's interval) and, for a fusion claim, the bandwidth the run found (:func:`collect`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fwbench.claims.claim import Claim
from fwbench.stats.ratios import Ratio, ratio


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
        largest = max(measured.by_size, key=lambda label: size_value(label))
        measured.timings = measured.by_size[largest]
    return measured


def size_value(label: str) -> int:
    return math.prod(int(item.split("=")[1]) for item in label.split(",")) if label != "-" else 1
