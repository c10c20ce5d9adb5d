"""% of the machine's measured peaks and the roofline bound of one result record (pure arithmetic)."""

from __future__ import annotations

from typing import Any


def roofline_fields(record: dict[str, Any], calibration: dict[str, Any] | None) -> dict[str, Any]:
    """% of the measured peaks and the roofline bound for one result record."""
    if not calibration or record.get("status") != "ok":
        return {}
    device = (calibration.get("devices") or {}).get(record.get("device"), {})
    bandwidth = device.get("copy_gbytes_per_s")
    gemm = (device.get("gemm_gflops_per_s") or {})
    compute = gemm.get(record.get("dtype")) or gemm.get("float32")
    fields: dict[str, Any] = {}
    if bandwidth and record.get("gbytes_per_s") is not None:
        fields["pct_of_bandwidth_peak"] = 100 * record["gbytes_per_s"] / bandwidth
    if compute and record.get("gflops_per_s") is not None:
        fields["pct_of_compute_peak"] = 100 * record["gflops_per_s"] / compute
    if bandwidth and compute and record.get("flops") and record.get("fused_bytes"):
        intensity = record["flops"] / record["fused_bytes"]
        fields["arithmetic_intensity"] = intensity
        fields["bound"] = "memory" if intensity < compute / bandwidth else "compute"
    return fields
