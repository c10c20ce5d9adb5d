"""Aggregation of result records with pandas: speedups, leaderboards, scaling, crossovers.

Everything here works on the DataFrame that :func:`fwbench.load_results`
returns (one row per cell) and imports no framework.

* A **series** is one framework/mode on one device (``jax/jit``; ``@gpu`` is
  added when a run has several devices).
* The **size** of a cell is the product of its sweep values (``n`` for a
  sweep over ``n``); scaling slopes are d log(time) / d log(size).
* A **speedup** is baseline median / series median, with a 95% interval from
  a bootstrap of the two sets of raw samples (seeded, so reports are stable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

DEFAULT_BASELINE = "numpy/eager"
BOOTSTRAP_RESAMPLES = 2000
FRAMEWORK_ORDER = ("numpy", "jax", "torch", "tensorflow")


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``series``, ``size`` and ``size_label`` columns; keep the original rows."""
    frame = frame.copy()
    several_devices = frame["device"].nunique() > 1
    frame["series"] = frame["framework"] + "/" + frame["mode"]
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


@dataclass(frozen=True)
class Ratio:
    value: float
    low: float
    high: float


def bootstrap_ratio(numerator: Iterable[float], denominator: Iterable[float], seed: int = 0,
                    resamples: int = BOOTSTRAP_RESAMPLES) -> Ratio:
    """median(numerator) / median(denominator), with a 95% percentile-bootstrap interval."""
    top = np.asarray(list(numerator), dtype=float)
    bottom = np.asarray(list(denominator), dtype=float)
    if top.size == 0 or bottom.size == 0:
        return Ratio(math.nan, math.nan, math.nan)
    value = float(np.median(top) / np.median(bottom))
    generator = np.random.default_rng(seed)
    top_medians = np.median(generator.choice(top, size=(resamples, top.size)), axis=1)
    bottom_medians = np.median(generator.choice(bottom, size=(resamples, bottom.size)), axis=1)
    ratios = top_medians / bottom_medians
    low, high = np.percentile(ratios, [2.5, 97.5])
    return Ratio(value, float(low), float(high))


def _samples(row: pd.Series) -> list[float]:
    samples = row.get("samples_s")
    if isinstance(samples, (list, tuple)) and samples:
        return list(samples)
    median = row.get("median_s")
    return [float(median)] if median is not None and not pd.isna(median) else []


def with_speedups(frame: pd.DataFrame, baseline: str = DEFAULT_BASELINE) -> pd.DataFrame:
    """Add ``speedup``, ``speedup_low`` and ``speedup_high`` against ``baseline`` (same workload, params,
    dtype and device where the baseline has it, else the baseline on any device)."""
    frame = prepare(frame) if "series" not in frame else frame.copy()
    frame["speedup"] = math.nan
    frame["speedup_low"] = math.nan
    frame["speedup_high"] = math.nan
    ok = frame[frame["status"] == "ok"]
    base_rows = ok[(ok["framework"] + "/" + ok["mode"]) == baseline.split("@")[0]]
    for index, row in ok.iterrows():
        candidates = base_rows[(base_rows["workload"] == row["workload"]) & (base_rows["params"] == row["params"])]
        if candidates.empty:
            continue
        base = candidates.iloc[0]
        ratio = bootstrap_ratio(_samples(base), _samples(row))
        frame.loc[index, ["speedup", "speedup_low", "speedup_high"]] = [ratio.value, ratio.low, ratio.high]
    return frame


# ---------------------------------------------------------------------- leaderboard


def _ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``ok`` rows of ``frame``, prepared (series, size and labels) if it is not already."""
    frame = prepare(frame) if "series" not in frame else frame
    return frame[frame["status"] == "ok"]


def leaderboard(frame: pd.DataFrame) -> pd.DataFrame:
    """For each workload and size: the fastest series, the runner-up, and by how much."""
    ok = _ok_rows(frame)
    rows = []
    for (workload, size_label), group in ok.groupby(["workload", "size_label"], sort=False):
        ranked = group.sort_values("median_s")
        best = ranked.iloc[0]
        runner_up = ranked.iloc[1] if len(ranked) > 1 else None
        rows.append({
            "workload": workload,
            "params": size_label,
            "size": best["size"],
            "fastest": best["series"],
            "median_s": best["median_s"],
            "runner_up": runner_up["series"] if runner_up is not None else None,
            "margin": runner_up["median_s"] / best["median_s"] if runner_up is not None else math.nan,
        })
    return pd.DataFrame(rows).sort_values(["workload", "size"]) if rows else pd.DataFrame(rows)


def geometric_mean_speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """Per workload and series: the geometric mean over sizes of the speedup against the baseline."""
    if "speedup" not in frame:
        raise ValueError("call with_speedups first")
    ok = frame[(frame["status"] == "ok") & frame["speedup"].notna() & (frame["speedup"] > 0)]
    rows = []
    for (workload, series), group in ok.groupby(["workload", "series"], sort=False):
        rows.append({"workload": workload, "series": series, "sizes": len(group),
                     "geomean_speedup": float(np.exp(np.mean(np.log(group["speedup"]))))})
    return pd.DataFrame(rows)


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
