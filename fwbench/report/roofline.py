"""Machine limits that reports draw results against (filled in by calibration, when recorded)."""

from __future__ import annotations

from typing import Any


def bandwidth_bounds(manifests: list[dict[str, Any]]) -> dict[str, float]:
    """Device kind -> achievable GB/s, from the calibration a run recorded (empty if none)."""
    bounds: dict[str, float] = {}
    for manifest in manifests:
        for device, values in (manifest.get("calibration") or {}).get("devices", {}).items():
            if values.get("copy_gbytes_per_s"):
                bounds[device] = float(values["copy_gbytes_per_s"])
    return bounds
