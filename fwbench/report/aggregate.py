"""Aggregation of result records with pandas: speedups, leaderboards, scaling, crossovers.

Everything here works on the DataFrame that :func:`fwbench.load_results`
returns (one row per cell) and imports no framework.

* A **series** is one framework/mode on one device (``jax/jit``; ``@gpu`` is
  added when a run has several devices).
* The **size** of a cell is the product of its sweep values (``n`` for a
  sweep over ``n``); scaling slopes are d log(time) / d log(size).
* A **speedup** is baseline median / series median, with the 95% interval of
  :mod:`fwbench.stats.ratios` (paired round by round within a run).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from fwbench.stats.intervals import geometric_mean_interval
from fwbench.stats.ratios import ratio
from fwbench.stats.verdicts import round_pair_priors

DEFAULT_BASELINE = "numpy/eager"
FRAMEWORK_ORDER = ("numpy", "jax", "torch", "tensorflow")


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``series``, ``size`` and ``size_label`` columns; keep the original rows."""
    frame = frame.copy()
    several_devices = frame["device"].nunique() > 1
    frame["series"] = frame["framework"] + "/" + frame["mode"]
    if "replica" in frame:  # copies of a series (--replicas) are series of their own: framework/mode#2
        copies = frame["replica"].fillna(1).astype(int) > 1
        frame.loc[copies, "series"] = (frame.loc[copies, "series"] + "#"
                                       + frame.loc[copies, "replica"].astype(int).astype(str))
    if "side" in frame:  # the two sides of fwbench ab are series of their own: numpy/eager#candidate
        sided = frame["side"].fillna("").astype(str) != ""
        frame.loc[sided, "series"] = frame.loc[sided, "series"] + "#" + frame.loc[sided, "side"].astype(str)
    if several_devices:
        frame["series"] = frame["series"] + "@" + frame["device"]
    if "method" in frame:
        timeit = frame["method"] == "timeit"
        frame.loc[timeit, "series"] = frame.loc[timeit, "series"] + " (timeit best of N)"
    frame["size"] = [_size(params) for params in frame["params"]]
    frame["size_label"] = [_size_label(params) for params in frame["params"]]
    frame["framework_rank"] = [FRAMEWORK_ORDER.index(f) if f in FRAMEWORK_ORDER else 99 for f in frame["framework"]]
    return frame


def _parse_params(params: Any) -> dict[str, int]:
    if isinstance(params, dict):
        return params
    if not isinstance(params, str) or params in ("", "-"):
        return {}
    return {key: int(value) for key, value in (item.split("=") for item in params.split(","))}


def _size(params: Any) -> int:
    return math.prod(_parse_params(params).values()) if _parse_params(params) else 1


def _size_label(params: Any) -> str:
    parsed = _parse_params(params)
    return ",".join(f"{k}={v}" for k, v in parsed.items()) or "-"


def series_order(frame: pd.DataFrame) -> list[str]:
    ranked = frame.drop_duplicates("series").sort_values(["framework_rank", "series"])
    return list(ranked["series"])


# ---------------------------------------------------------------------- speedups


def _measured_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``ok`` rows timed by fwbench itself (``timeit`` best-of rows answer another question)."""
    ok = frame[frame["status"] == "ok"]
    if "method" in ok:
        ok = ok[ok["method"].fillna("fwbench") != "timeit"]
    return ok


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def none_if_nan(value: Any) -> float | None:
    """A number for JSON and the charts: None where the table holds None or NaN (no interval, no value)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def with_speedups(frame: pd.DataFrame, baseline: str = DEFAULT_BASELINE) -> pd.DataFrame:
    """Add ``speedup``, ``speedup_low``, ``speedup_high`` and ``speedup_method`` against ``baseline``.

    The baseline cell has the same workload, params and dtype, and the same
    device unless ``baseline`` names one (``numpy/eager@cpu`` divides every
    device's times into the CPU's).  ``timeit`` rows are never a baseline.  The
    interval is the paired interval over rounds (:mod:`fwbench.stats.ratios`); with
    one round there is none, and the columns say so."""
    frame = prepare(frame) if "series" not in frame else frame.copy()
    for column in ("speedup", "speedup_low", "speedup_high"):
        frame[column] = math.nan
    frame["speedup_method"] = None
    series, _, fixed_device = baseline.partition("@")
    measured = _measured_rows(frame)
    base_rows = measured[(measured["framework"] + "/" + measured["mode"]) == series]
    pairs = []
    for index, row in frame[frame["status"] == "ok"].iterrows():
        candidates = base_rows[(base_rows["workload"] == row["workload"]) & (base_rows["params"] == row["params"])
                               & (base_rows["dtype"] == row["dtype"])
                               & (base_rows["device"] == (fixed_device or row["device"]))]
        if not candidates.empty:
            pairs.append((index, candidates.iloc[0], row))
    priors = round_pair_priors([(base, row) for _, base, row in pairs])
    for index, base, row in pairs:
        itself = base.get("cell_id") is not None and base.get("cell_id") == row.get("cell_id")
        speedup = ratio(base, row, prior=None if itself else priors.get(row.get("run_id")))  # 1 exactly
        frame.loc[index, ["speedup", "speedup_low", "speedup_high"]] = [
            speedup.value, _nan_if_none(speedup.low), _nan_if_none(speedup.high)]
        frame.loc[index, "speedup_method"] = speedup.method
    return frame


# ---------------------------------------------------------------------- leaderboard


def _ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``ok`` rows of ``frame``, prepared (series, size and labels) if it is not already."""
    frame = prepare(frame) if "series" not in frame else frame
    return frame[frame["status"] == "ok"]


def leaderboard(frame: pd.DataFrame) -> pd.DataFrame:
    """Per workload, size, device and dtype: the verdict, the winners, and each runner-up's ratio to the fastest.

    The verdicts are :func:`fwbench.stats.verdicts.size_verdicts`' (each runner-up's time over the fastest's
    with an interval, its spread pooled over the run's pairs; equivalent when two one-sided tests put it
    inside 1/1.05-1.05, slower above 1, else undecided with what would settle it; intervals at the level
    the run's looks spent).
    ``verdict`` is ``fastest``, ``equivalent``, ``undecided`` or ``only``; ``winners`` the fastest and, unless
    it is fastest, every series not shown slower (only its equivalents when the verdict is equivalent);
    ``ratios`` lists each runner-up with its interval, ``standing``, and, when undecided, ``more_rounds``
    and ``more_seconds``; ``looks`` and ``level`` say how the intervals were made.
    """
    from fwbench.stats.verdicts import size_verdicts

    measured = _measured_rows(prepare(frame) if "series" not in frame else frame)
    groups = [(key, group) for key, group in measured.groupby(["workload", "size_label", "device", "dtype"],
                                                              sort=False, dropna=False)]
    verdicts = size_verdicts([[(row["series"], row) for _, row in group.iterrows()] for _, group in groups])
    rows = []
    for ((workload, size_label, device, dtype), _), found in zip(groups, verdicts):
        best = found.best
        runner_up = found.comparisons[0] if found.comparisons else None
        rows.append({
            "workload": workload, "params": size_label, "size": best["size"], "device": device, "dtype": dtype,
            "verdict": found.verdict, "winners": found.winners, "fastest": found.fastest, "median_s": best["median_s"],
            "fastest_by_median": found.fastest_by_median,
            "runner_up": runner_up.series if runner_up else None,
            "margin": runner_up.ratio.value if runner_up else math.nan,
            "margin_low": _nan_if_none(runner_up.ratio.low) if runner_up else math.nan,
            "margin_high": _nan_if_none(runner_up.ratio.high) if runner_up else math.nan,
            "looks": found.looks, "level": found.level,
            "ratios": [item.as_dict() for item in found.comparisons],
        })
    return pd.DataFrame(rows).sort_values(["workload", "size", "device"]) if rows else pd.DataFrame(rows)


def winner_text(row: Any) -> str:
    """``jax/jit``, ``equivalent: jax/jit, torch/compile``, ``undecided: ...`` or ``numpy/eager (only series)``."""
    if row["verdict"] == "fastest":
        return row["fastest"]
    if row["verdict"] == "only":
        return f"{row['fastest']} (only series)"
    return f"{row['verdict']}: " + ", ".join(row["winners"])


def margin_text(row: Any) -> str:
    """The runner-up's time over the fastest's, with its interval."""
    if pd.isna(row["margin"]):
        return "-"
    if pd.isna(row["margin_low"]):
        return f"{row['margin']:.2f}x (no interval: one round)"
    return f"{row['margin']:.2f}x ({row['margin_low']:.2f}-{row['margin_high']:.2f})"


def geometric_mean_speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """Per workload and series: the geometric mean over sizes of the speedup against the baseline."""
    if "speedup" not in frame:
        raise ValueError("call with_speedups first")
    ok = frame[(frame["status"] == "ok") & frame["speedup"].notna() & (frame["speedup"] > 0)]
    rows = []
    for (workload, series), group in ok.groupby(["workload", "series"], sort=False):
        rows.append({"workload": workload, "series": series, "sizes": len(group),
                     "geomean_speedup": geometric_mean_interval(list(group["speedup"]))[0]})
    return pd.DataFrame(rows, columns=["workload", "series", "sizes", "geomean_speedup"])


# ---------------------------------------------------------------------- scaling


def scaling(frame: pd.DataFrame) -> pd.DataFrame:
    """Per workload and series: the least-squares slope of log(median) against log(size)."""
    ok = _ok_rows(frame)
    rows = []
    for (workload, series), group in ok.groupby(["workload", "series"], sort=False):
        group = group.sort_values("size")
        if group["size"].nunique() < 2:
            continue
        slope, _intercept = np.polyfit(np.log(group["size"].astype(float)), np.log(group["median_s"].astype(float)), 1)
        rows.append({"workload": workload, "series": series, "points": len(group), "slope": float(slope),
                     "smallest": int(group["size"].min()), "largest": int(group["size"].max())})
    return pd.DataFrame(rows)


def crossovers(frame: pd.DataFrame) -> pd.DataFrame:
    """Sizes where one series overtakes another, interpolated in log-log space between two sweep points."""
    ok = _ok_rows(frame)
    rows = []
    for workload, group in ok.groupby("workload", sort=False):
        table = group.pivot_table(index="size", columns="series", values="median_s", aggfunc="median").sort_index()
        names = [name for name in series_order(group) if name in table.columns]
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                pair = table[[first, second]].dropna()
                if len(pair) < 2:
                    continue
                log_ratio = np.log(pair[first] / pair[second])
                sizes = list(pair.index)
                for k in range(len(sizes) - 1):
                    a, b = log_ratio.iloc[k], log_ratio.iloc[k + 1]
                    if a == 0 or b == 0 or (a > 0) == (b > 0):
                        continue
                    fraction = a / (a - b)
                    crossing = math.exp(math.log(sizes[k]) + fraction * (math.log(sizes[k + 1]) - math.log(sizes[k])))
                    faster_after = first if b < 0 else second
                    slower_after = second if faster_after == first else first
                    rows.append({"workload": workload, "faster_above": faster_after, "slower_above": slower_after,
                                 "between": f"{sizes[k]} and {sizes[k + 1]}", "size_estimate": crossing})
    return pd.DataFrame(rows)
