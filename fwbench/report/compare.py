"""``fwbench compare BASE NEW``: which cells got slower or broke, decided on intervals over rounds.

Cells are matched on workload, params, framework, mode, device, dtype and
method.  For each pair, the ratio NEW/BASE of the medians gets Welch's
interval over the two runs' round medians (:func:`fwbench.stats.ratios.
independent_ratio`), widened by what separates two runs and the rounds of
one run cannot show:

* the cells' spread between runs (:func:`fwbench.stats.ratios.between_run_variance`),
  estimated from all the cells compared;
* the machine's own change: the part of the whole run's shift (the median
  ratio over all cells) that the machine probe (a fixed loop timed before
  every round) confirms, in the same direction; a shift the probe does not
  see is left to the code.

Then, with ``t`` the threshold:

* **slower**: the ratio exceeds 1 + t and its interval lies above 1 at the
  family-wise level 1 - alpha / m (Bonferroni over the m cells compared), so
  that comparing hundreds of unchanged cells raises an alarm in at most
  ``alpha`` of comparisons;
* **faster**: likewise below;
* **same**: the cell's own 95% interval lies inside [1 / (1 + t), 1 + t] (a
  false "same" is a miss, not an alarm, so no family-wise widening);
* **unsure**: anything else, with what would decide it;
* **broken**: ``ok`` in BASE and ``mismatch``, ``error``, ``skipped`` or
  absent in NEW, with NEW's status and reason (a gate must never pass a wrong
  result);
* **new**: only in NEW.

The gate fails on any slower or broken cell, and on unsure ones under
``fail_on_unsure``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fwbench.records.results import read_manifest
from fwbench.stats.intervals import CONFIDENCE
from fwbench.stats.ratios import (
    LogRatioParts,
    Ratio,
    between_run_variance,
    family_level,
    independent_parts,
    interval_from_parts,
    round_medians,
)

KEY = ["workload", "params", "framework", "mode", "device", "dtype", "method"]
DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.05

VERDICT_ORDER = ("broken", "slower", "faster", "unsure", "new", "same")
COLUMNS = [*KEY, "base_median_s", "new_median_s", "ratio", "ratio_low", "ratio_high", "interval_method",
           "resolution", "verdict", "new_status", "reason"]


@dataclass
class Comparison:
    table: pd.DataFrame
    warnings: list[str]
    threshold: float
    alpha: float
    level: float  # the per-cell level of the intervals shown
    between_run_spread: float = 0.0  # sqrt of the between-run variance added to every interval (log scale)
    whole_run_shift: float = math.nan  # the median NEW/BASE ratio over all cells
    machine_ratio: float | None = None  # NEW's machine probe over BASE's
    machine_spread: float = 0.0  # the part of the whole run's shift the probe confirmed (log scale)

    def verdicts(self, *names: str) -> pd.DataFrame:
        return self.table[self.table["verdict"].isin(names)]

    @property
    def broken(self) -> pd.DataFrame:
        return self.verdicts("broken")

    def counts(self) -> dict[str, int]:
        counts = self.table["verdict"].value_counts() if not self.table.empty else {}
        return {verdict: int(counts.get(verdict, 0)) for verdict in VERDICT_ORDER}

    def summary(self) -> str:
        return ", ".join(f"{count} {verdict}" for verdict, count in self.counts().items())

    def cells_compared(self) -> int:
        return int(self.table["ratio"].notna().sum()) if not self.table.empty else 0

    def failed(self, fail_on_unsure: bool = False) -> bool:
        counts = self.counts()
        return bool(counts["slower"] or counts["broken"] or (fail_on_unsure and counts["unsure"]))

    def ordered_rows(self, include_same: bool = False) -> list[dict[str, Any]]:
        """Changed rows first (broken, slower, faster, unsure, new); ``same`` rows only when asked."""
        rank = {verdict: index for index, verdict in enumerate(VERDICT_ORDER)}
        rows = [row for row in self.table.to_dict("records") if include_same or row["verdict"] != "same"]
        return sorted(rows, key=lambda row: (rank.get(row["verdict"], 9), -abs(math.log(row["ratio"]))
                                             if isinstance(row.get("ratio"), float) and row["ratio"] > 0 else 0,
                                             row["workload"], str(row["params"])))


def _with_method(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["method"] = frame["method"].fillna("fwbench") if "method" in frame else "fwbench"
    return frame


def decide(cell_interval: Ratio, family_interval: Ratio, threshold: float) -> str:
    """The verdict on one cell: alarms on the family-wise interval, ``same`` on the cell's own 95% one."""
    if not cell_interval.has_interval:
        return "unsure"
    upper, lower = 1 + threshold, 1 / (1 + threshold)
    if family_interval.above(1) and family_interval.value > upper:
        return "slower"
    if family_interval.below(1) and family_interval.value < lower:
        return "faster"
    if cell_interval.low >= lower and cell_interval.high <= upper:
        return "same"
    return "unsure"


def what_would_decide(cell_interval: Ratio, family_interval: Ratio, threshold: float,
                      parts: LogRatioParts | None, extra_variance: float, cells: int) -> str:
    """For an ``unsure`` cell: why, and how many rounds per side would decide it, if any number would."""
    if parts is None or not cell_interval.has_interval:
        return f"{cell_interval.method}; run both with --rounds 3 or more"
    log_value, band = abs(parts.log_value), math.log(1 + threshold)
    target = cell_interval if log_value <= band else family_interval
    # To call it the same the interval must fit inside the band; to call it a change it must clear 1.
    needed = band - log_value if log_value <= band else log_value
    quantile = math.log(target.high / target.value) / math.sqrt(parts.variance + extra_variance)
    prefix = ""
    if target is family_interval and (cell_interval.above(1) or cell_interval.below(1)):
        prefix = (f"clears 1 at 95% for this cell alone, not at the {family_interval.level:.3%} that keeps "
                  f"{cells} cells free of false alarms; ")
    if needed <= 0.02 * band:
        return prefix + "the ratio sits on the threshold; only another --threshold decides it"
    allowed_round_variance = (needed / quantile) ** 2 - extra_variance
    if allowed_round_variance <= 0:
        return prefix + (f"the runs differ by more than their rounds show ({math.sqrt(extra_variance):.1%} between "
                         f"runs), more than this threshold allows: compare runs measured back to back, or use a "
                         f"--threshold above {math.exp(quantile * math.sqrt(extra_variance)) - 1:.0%}")
    rounds = math.ceil(parts.rounds * parts.variance / allowed_round_variance)
    if rounds > 30:
        return prefix + "the rounds disagree too much for any practical --rounds; look for noise (fwbench env)"
    return prefix + f"about {max(rounds, parts.rounds + 1)} rounds per side (--rounds) would decide it"


def machine_variance(log_shift: float, machine_ratio: float | None) -> float:
    """The run-level variance: the whole run's shift (the median log ratio), as far as the machine probe
    confirms it (same direction, the smaller of the two), squared.  Zero without a probe or when they
    disagree in sign."""
    if math.isnan(log_shift) or not machine_ratio or machine_ratio <= 0:
        return 0.0
    probe = math.log(machine_ratio)
    if log_shift * probe <= 0:
        return 0.0
    return min(abs(log_shift), abs(probe)) ** 2


def recorded_probe_s(run: Any) -> float | None:
    """The median of a run's machine probes (a fixed pure-Python loop timed before each round), if recorded."""
    manifest = read_manifest(run) or {}
    return (manifest.get("machine_noise") or {}).get("probe_median_s")


def probe_ratio(base: Any, new: Any) -> float | None:
    """NEW's machine probe over BASE's (run directories or results files); None unless both recorded one."""
    base_probe, new_probe = recorded_probe_s(base), recorded_probe_s(new)
    return new_probe / base_probe if base_probe and new_probe else None


def compare_frames(base: pd.DataFrame, new: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD,
                   alpha: float = DEFAULT_ALPHA, machine_ratio: float | None = None) -> Comparison:
    """Decide every cell (see the module docstring).  ``machine_ratio`` is NEW's machine probe over BASE's:
    a machine 6% slower today (probe and cells agreeing) does not flag cells that are 6% slower, while a
    change of the code, which the probe does not see, still stands out."""
    base, new = _with_method(base), _with_method(new)
    base_ok = base[base["status"] == "ok"].drop_duplicates(KEY, keep="last").set_index(KEY)
    new_ok = new[new["status"] == "ok"].drop_duplicates(KEY, keep="last").set_index(KEY)
    new_any = new.drop_duplicates(KEY, keep="last").set_index(KEY)
    matched = [key for key in base_ok.index if key in new_ok.index]
    level = family_level(1 - alpha, len(matched))
    parts_by_key = {key: independent_parts(new_ok.loc[key], base_ok.loc[key]) for key in matched}
    parts = [part for part in parts_by_key.values() if part]
    log_shift = float(np.median([part.log_value for part in parts])) if parts else math.nan
    run_variance = machine_variance(log_shift, machine_ratio)
    extra_variance = between_run_variance(parts) + run_variance
    rows = []
    for key in base_ok.index.union(new_ok.index):
        entry = dict(zip(KEY, key))
        if key not in base_ok.index:
            rows.append(dict(entry, verdict="new"))
            continue
        if key not in new_ok.index:
            now = new_any.loc[key] if key in new_any.index else None
            status = "absent" if now is None else str(now["status"])
            reason = "not in the new run" if now is None else str(now.get("reason") or "")
            rows.append(dict(entry, verdict="broken", new_status=status, reason=reason))
            continue
        old_row, new_row = base_ok.loc[key], new_ok.loc[key]
        value = float(new_row["median_s"]) / float(old_row["median_s"])
        ratio = interval_from_parts(parts_by_key[key], value, CONFIDENCE, extra_variance)
        family = interval_from_parts(parts_by_key[key], value, level, extra_variance)
        verdict = decide(ratio, family, threshold)
        reason = what_would_decide(ratio, family, threshold, parts_by_key[key], extra_variance,
                                   len(matched)) if verdict == "unsure" else ""
        rows.append(dict(entry, base_median_s=float(old_row["median_s"]), new_median_s=float(new_row["median_s"]),
                         ratio=ratio.value, ratio_low=ratio.low, ratio_high=ratio.high, family_low=family.low,
                         resolution=resolution(ratio.value, family.low, threshold),
                         family_high=family.high, interval_method=ratio.method, verdict=verdict, reason=reason,
                         base_rounds=len(round_medians(old_row)), new_rounds=len(round_medians(new_row))))
    table = pd.DataFrame(rows, columns=COLUMNS + ["family_low", "family_high", "base_rounds", "new_rounds"])
    return Comparison(table, environment_warnings(base, new), threshold, alpha, level,
                      math.sqrt(extra_variance), math.exp(log_shift), machine_ratio, math.sqrt(run_variance))


def resolution(value: float, family_low: float | None, threshold: float) -> float | None:
    """The smallest slowdown this cell could be called: its family-wise interval, moved to a ratio r, clears
    1 once r exceeds value / family_low, and r must exceed 1 + threshold too.  None without an interval."""
    if family_low is None or not family_low > 0:
        return None
    return max(1 + threshold, value / family_low)


def resolution_text(comparison: "Comparison") -> str:
    """The spread of the cells' resolutions: what this comparison could have called."""
    values = sorted(value for value in comparison.table["resolution"].dropna())
    if not values:
        return ""
    pick = lambda share: values[min(len(values) - 1, int(share * len(values)))]  # noqa: E731
    return (f"Resolution: the smallest slowdown a cell could be called is {values[0]:.2f}x for the steadiest, "
            f"{pick(0.1):.2f}x for the steadiest tenth and {pick(0.5):.2f}x for the median cell")


def _settings_values(frame: pd.DataFrame, key: str) -> set[str]:
    """The distinct values of ``settings[key]`` in a frame's rows, as JSON text."""
    import json

    values = set()
    for settings in frame.get("settings", pd.Series(dtype=object)):
        if isinstance(settings, dict) and settings.get(key) is not None:
            values.add(json.dumps(settings[key], sort_keys=True))
    return values


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
    if "allocator_regime" in base and "allocator_regime" in new:
        # rows from before the regime was recorded ran as fresh scripts do
        old, now = (set(frame["allocator_regime"].fillna("fresh")) for frame in (base, new))
        if old != now:
            warnings.append(f"different allocator regimes: {', '.join(sorted(old))} vs {', '.join(sorted(now))}")
    for name, label in (("kernel_environment", "kernel variables"), ("kernels", "kernels")):
        old, now = (_settings_values(frame, name) for frame in (base, new))
        if old and now and old != now:
            warnings.append(f"different {label} (settings.{name}): compare rows' settings to see which")
    old_threads, new_threads = set(base["num_threads"].dropna()), set(new["num_threads"].dropna())
    if old_threads and new_threads and old_threads != new_threads:
        warnings.append(f"different thread counts: {sorted(old_threads)} vs {sorted(new_threads)}")
    return warnings


def cell_label(row: dict[str, Any]) -> str:
    method = "" if row.get("method") in (None, "fwbench") else f" ({row['method']})"
    return (f"{row['workload']}[{row['params']}] {row['framework']}/{row['mode']} {row['device']} "
            f"{row['dtype']}{method}")


def row_cells(row: dict[str, Any]) -> list[str]:
    """cell, base, new, ratio (interval), can call (the cell's resolution), verdict: the same six columns in
    the console and in Markdown."""
    if row["verdict"] == "broken":
        return [cell_label(row), "ok", str(row["new_status"]), "", "", f"broken: {row['reason']}"[:200]]
    if row["verdict"] == "new":
        return [cell_label(row), "", "", "", "", "new"]
    if row.get("ratio_low") is None or pd.isna(row.get("ratio_low")):
        interval = f"{row['ratio']:.3f} (no interval)"
    else:
        interval = f"{row['ratio']:.3f} ({row['ratio_low']:.3f}-{row['ratio_high']:.3f})"
    limit = row.get("resolution")
    can_call = "-" if limit is None or pd.isna(limit) else f"{limit:.2f}x"
    verdict = row["verdict"] + (f": {row['reason']}" if row["verdict"] == "unsure" and row.get("reason") else "")
    return [cell_label(row), f"{row['base_median_s']:.4g} s", f"{row['new_median_s']:.4g} s", interval, can_call,
            verdict]


def headline(comparison: Comparison) -> str:
    text = (f"{comparison.summary()}. Threshold {comparison.threshold:.0%}. Intervals shown are each cell's 95%; "
            f"slower and faster need the interval at {comparison.level:.3%} above (below) 1, so that all "
            f"{comparison.cells_compared()} cells together raise a false alarm at most {comparison.alpha:.0%} of "
            f"the time")
    if comparison.between_run_spread:
        text += (f". Every interval is widened by {comparison.between_run_spread:.1%} (log scale) for what "
                 f"separates two runs and the rounds within one cannot show")
        if comparison.machine_spread:
            text += (f", {comparison.machine_spread:.1%} of it the machine's own change (its probe ran "
                     f"{comparison.machine_ratio:.3f}x as long)")
    text += f". Median ratio NEW/BASE over all cells: {comparison.whole_run_shift:.3f}"
    resolutions = resolution_text(comparison)
    if resolutions:
        text += ". " + resolutions + " ('can call' per cell)"
    if comparison.machine_ratio and not comparison.machine_spread and \
            abs(math.log(comparison.whole_run_shift or 1)) > math.log(1 + comparison.threshold / 2):
        text += " (a shift the machine probe does not show)"
    return text + "."


def to_markdown(comparison: Comparison, include_same: bool = False) -> str:
    """A pull-request comment or job summary: the counts, the warnings, the changed rows first."""
    failed = comparison.failed()
    lines = ["## fwbench compare: " + ("regressions or broken cells" if failed else "no regression"), "",
             headline(comparison), ""]
    lines += [f"> Warning: {warning}" for warning in comparison.warnings]
    if comparison.warnings:
        lines.append("")
    rows = comparison.ordered_rows(include_same)
    if rows:
        lines += ["| cell | base | new | ratio NEW/BASE (interval) | can call | verdict |",
                  "|---|---:|---:|---:|---:|---|"]
        for row in rows:
            cells = [cell.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;") for cell in row_cells(row)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    same = comparison.counts()["same"]
    if same and not include_same:
        lines.append(f"{same} cells are the same within the threshold (list them with --all).")
    return "\n".join(lines) + "\n"
