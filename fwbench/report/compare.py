"""``fwbench compare BASE NEW``: which cells got slower, with evidence.

Cells are matched on workload, params, framework, mode, device and dtype.
For each pair: the ratio NEW/BASE of the medians with a 95% bootstrap
interval from the raw samples, and a two-sided Mann-Whitney U test of the two
sample sets.  A cell is a **regression** only if it is both slower than the
threshold (ratio > 1 + threshold) and significant (p < alpha); likewise
**faster**.  Anything else is **same**.  A cell that was ``ok`` in BASE and is
not ``ok`` in NEW (``mismatch``, ``error``, ``skipped``, or absent) is
**broken**, with NEW's status and reason: a gate must never pass a wrong
result.  Cells only in NEW are **new**.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fwbench.report.aggregate import bootstrap_ratio

KEY = ["workload", "params", "framework", "mode", "device", "dtype", "method"]
DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.05


@dataclass
class Comparison:
    table: pd.DataFrame
    warnings: list[str]
    threshold: float
    alpha: float

    @property
    def regressions(self) -> pd.DataFrame:
        return self.table[self.table["verdict"] == "slower"]

    @property
    def broken(self) -> pd.DataFrame:
        return self.table[self.table["verdict"] == "broken"]

    def geometric_mean_ratio(self) -> float:
        ratios = self.table["ratio"].dropna()
        ratios = ratios[ratios > 0]
        return float(np.exp(np.mean(np.log(ratios)))) if len(ratios) else math.nan


def _with_method(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["method"] = frame["method"].fillna("fwbench") if "method" in frame else "fwbench"
    return frame


def mann_whitney_p(first: list[float], second: list[float]) -> float:
    from scipy.stats import mannwhitneyu

    if len(first) < 2 or len(second) < 2:
        return math.nan
    return float(mannwhitneyu(first, second, alternative="two-sided").pvalue)


def _samples(row: Any) -> list[float]:
    samples = row.get("samples_s") if isinstance(row, dict) else getattr(row, "samples_s", None)
    if isinstance(samples, (list, tuple)) and samples:
        return [float(s) for s in samples]
    return []


def compare_frames(base: pd.DataFrame, new: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD,
                   alpha: float = DEFAULT_ALPHA) -> Comparison:
    base, new = _with_method(base), _with_method(new)
    base_ok = base[base["status"] == "ok"].drop_duplicates(KEY, keep="last").set_index(KEY)
    new_ok = new[new["status"] == "ok"].drop_duplicates(KEY, keep="last").set_index(KEY)
    new_any = new.drop_duplicates(KEY, keep="last").set_index(KEY)
    rows = []
    for key in base_ok.index.union(new_ok.index):
        in_base, in_new = key in base_ok.index, key in new_ok.index
        entry = dict(zip(KEY, key))
        if not in_base:
            entry.update(verdict="new")
            rows.append(entry)
            continue
        if not in_new:
            now = new_any.loc[key] if key in new_any.index else None
            status = "absent" if now is None else str(now["status"])
            reason = "not in the new run" if now is None else str(now.get("reason") or "")
            entry.update(verdict="broken", new_status=status, reason=reason)
            rows.append(entry)
            continue
        old_row, new_row = base_ok.loc[key], new_ok.loc[key]
        old_samples, new_samples = _samples(old_row), _samples(new_row)
        if not old_samples or not new_samples:
            old_samples, new_samples = [float(old_row["median_s"])], [float(new_row["median_s"])]
        ratio = bootstrap_ratio(new_samples, old_samples)
        p_value = mann_whitney_p(new_samples, old_samples)
        significant = not math.isnan(p_value) and p_value < alpha
        if ratio.value > 1 + threshold and significant:
            verdict = "slower"
        elif ratio.value < 1 / (1 + threshold) and significant:
            verdict = "faster"
        else:
            verdict = "same"
        entry.update(base_median_s=float(old_row["median_s"]), new_median_s=float(new_row["median_s"]),
                     ratio=ratio.value, ratio_low=ratio.low, ratio_high=ratio.high, p_value=p_value,
                     verdict=verdict)
        rows.append(entry)
    columns = [*KEY, "base_median_s", "new_median_s", "ratio", "ratio_low", "ratio_high", "p_value", "verdict",
               "new_status", "reason"]
    table = pd.DataFrame(rows, columns=columns)
    return Comparison(table, environment_warnings(base, new), threshold, alpha)


def environment_warnings(base: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Differences in machine or versions that make a comparison less meaningful."""
    warnings = []

    def host_values(frame: pd.DataFrame, key: str) -> set:
        values = set()
        for host in frame.get("host", pd.Series(dtype=object)):
            if isinstance(host, dict) and host.get(key) is not None:
                values.add(str(host[key]))
        return values

    for key, label in (("hostname", "host"), ("cpu_model", "CPU"), ("logical_cores", "core count")):
        old, new_values = host_values(base, key), host_values(new, key)
        if old and new_values and old != new_values:
            warnings.append(f"different {label}: {', '.join(sorted(old))} vs {', '.join(sorted(new_values))}")
    for framework in sorted(set(base["framework"]) & set(new["framework"])):
        old = set(base.loc[base["framework"] == framework, "framework_version"].dropna())
        now = set(new.loc[new["framework"] == framework, "framework_version"].dropna())
        if old and now and old != now:
            warnings.append(f"different {framework} version: {', '.join(sorted(old))} vs {', '.join(sorted(now))}")
    old_threads, new_threads = set(base["num_threads"].dropna()), set(new["num_threads"].dropna())
    if old_threads and new_threads and old_threads != new_threads:
        warnings.append(f"different thread counts: {sorted(old_threads)} vs {sorted(new_threads)}")
    return warnings


def to_markdown(comparison: Comparison) -> str:
    table = comparison.table
    counts = table["verdict"].value_counts() if not table.empty else {}
    lines = ["# fwbench compare", "",
             f"Threshold {comparison.threshold:.0%}, significance p < {comparison.alpha} (Mann-Whitney U). "
             + ", ".join(f"{counts.get(v, 0)} {v}" for v in ("broken", "slower", "faster", "same", "new"))
             + f". Geometric-mean ratio NEW/BASE: {comparison.geometric_mean_ratio():.3f}.", ""]
    for warning in comparison.warnings:
        lines.append(f"> Warning: {warning}")
    if comparison.warnings:
        lines.append("")
    lines += ["| cell | base | new | ratio (95% CI) | p | verdict |", "|---|---:|---:|---:|---:|---|"]
    order = {"broken": 0, "slower": 1, "faster": 2, "new": 3, "same": 4}
    for row in sorted(table.to_dict("records"), key=lambda r: (order.get(r["verdict"], 9), r["workload"])):
        cell = f"{row['workload']}[{row['params']}] {row['framework']}/{row['mode']} {row['device']} {row['dtype']}"
        cell = cell.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        if row["verdict"] == "broken":
            reason = str(row["reason"]).replace("|", "\\|")[:200]
            lines.append(f"| {cell} | ok | {row['new_status']} | | | broken: {reason} |")
            continue
        if row["verdict"] == "new":
            lines.append(f"| {cell} | | | | | new |")
            continue
        lines.append(f"| {cell} | {row['base_median_s']:.4g} s | {row['new_median_s']:.4g} s | "
                     f"{row['ratio']:.3f} ({row['ratio_low']:.3f}-{row['ratio_high']:.3f}) | "
                     f"{row['p_value']:.2g} | {row['verdict']} |")
    return "\n".join(lines) + "\n"
