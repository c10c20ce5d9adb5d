"""Findings about conditions that should have been equal and were not: allocator regimes and kernels.

fwbench equalises threads, dtype, matmul precision and the allocator regime (``--allocator``), and records
the kernels each framework runs.  Two things can still differ, and each gets a sentence:

- :func:`regime_sentences`: a workload size whose series ran in different allocator states after all (one
  series' temporaries from fresh pages, another's from reused memory), told by their fresh pages a call,
  with both numbers; the same rule as a cell whose rounds differ
  (:func:`fwbench.stats.pooling.faults_matter`).
- :func:`kernel_sentences`: a framework whose matrix products run below the CPU's best instruction set or
  under a variable that changes its kernels (``OPENBLAS_CORETYPE``, ``MKL_ENABLE_INSTRUCTIONS``, ...), with
  its BLAS-bound cells and their % of the measured GEMM peak.

Both read recorded rows only (``settings.kernels``, ``settings.kernel_environment``, ``host.cpu_best_isa``,
``page_faults_per_call``), so a report judges a run as it ran.
"""

from __future__ import annotations

import statistics
from typing import Any

import pandas as pd

from fwbench.machine.kernels import isa_rank, variables_changing_kernels
from fwbench.machine.memory import GLIBC_MMAP_THRESHOLD_MAX_BYTES
from fwbench.stats.pooling import faults_matter
from fwbench.units import format_seconds

# Kinds whose time is mostly matrix products when the roofline bound was not computed (no calibration).
BLAS_KINDS = ("matrix_power", "mlp_train", "keras")
CELLS_NAMED = 6


def _faults(row: dict[str, Any]) -> float | None:
    """The cell's fresh pages a call: the median over its rounds."""
    by_round = [value for value in row.get("page_faults_per_call_by_round") or [] if value is not None]
    if by_round:
        return statistics.median(by_round)
    value = row.get("page_faults_per_call")
    return None if value is None or pd.isna(value) else float(value)


def _where(row: dict[str, Any]) -> str:
    params = row.get("params")
    return f"{row['workload']}" + (f" ({params})" if params not in (None, "-", "") else "")


def regime_sentences(frame: pd.DataFrame) -> list[str]:
    """A sentence per workload size whose series differ in allocator state: when the most and the fewest fresh
    pages a call among its series differ by enough to cost a tenth of the faster one's time.

    Where the size's arrays fit under glibc's largest reuse threshold (32 MiB), every series could have reused
    memory, so a difference is a difference of conditions: the series that took fresh pages and those that
    reused memory are named, each with its fresh pages and time.  Where they do not, glibc maps every such
    temporary afresh in any program, so the difference belongs to the frameworks' allocators (pools, huge
    pages) at that size, and the sentence says so instead."""
    if frame.empty or "page_faults_per_call" not in frame:
        return []
    ok = frame[frame["status"] == "ok"]
    sentences: list[str] = []
    large_sizes: list[tuple[str, float, list]] = []
    for _, group in ok.groupby(["workload", "params", "device"], sort=False):
        measured = [(row, _faults(row)) for row in group.to_dict("records")]
        measured = sorted(((row, faults) for row, faults in measured if faults is not None and row.get("median_s")),
                          key=lambda pair: -pair[1])
        if len(measured) < 2:
            continue
        (many_row, many), (few_row, few) = measured[0], measured[-1]
        if not faults_matter(few, many, min(few_row["median_s"], many_row["median_s"])):
            continue

        def fresh(pair: tuple) -> bool:  # as far from the fewest as the rule asks
            return faults_matter(few, pair[1], min(few_row["median_s"], pair[0]["median_s"]))

        def listed(pairs: list) -> str:
            return ", ".join(f"{row['framework']}/{row['mode']} {faults:.0f} ({format_seconds(row['median_s'])})"
                             for row, faults in pairs)

        regimes = sorted({str(row.get("allocator_regime") or "unrecorded") for row, _ in measured})
        largest = max((_number(row.get("largest_input_bytes")) for row, _ in measured), default=0)
        if largest > GLIBC_MMAP_THRESHOLD_MAX_BYTES:
            large_sizes.append((_where(many_row), largest, measured))
            continue
        sentences.append(
            f"{_where(many_row)}: the series ran in different allocator states ({' and '.join(regimes)} regime). "
            f"Fresh pages a call (time a call): {listed([p for p in measured if fresh(p)])} took their "
            f"temporaries from fresh pages; {listed([p for p in measured if not fresh(p)])} reused memory. "
            "Ratios between the two groups measure the allocator as much as the code (README: the allocator "
            "regime).")
    if large_sizes:
        sentences.append(_large_arrays_sentence(large_sizes))
    return sentences


def _large_arrays_sentence(sizes: list[tuple[str, float, list]]) -> str:
    """One sentence for every size whose arrays exceed glibc's reuse limit: each series' range of fresh pages a
    call over those sizes, most first."""
    pages: dict[str, list[float]] = {}
    for _, _, measured in sizes:
        for row, faults in measured:
            pages.setdefault(f"{row['framework']}/{row['mode']}", []).append(faults)
    ranges = ", ".join(f"{series} {min(values):.0f}" + (f"-{max(values):.0f}" if max(values) > min(values) else "")
                       for series, values in sorted(pages.items(), key=lambda item: -max(item[1])))
    where = "; ".join(f"{name} ({largest / 2**20:.0f} MiB)" for name, largest, _ in sizes)
    return (f"At {len(sizes)} size{'s' if len(sizes) > 1 else ''} whose arrays are larger than the 32 MiB glibc ever "
            f"reuses ({where}), fresh pages a call differ between the series ({ranges}): a framework that "
            "allocates each temporary through malloc maps fresh pages on every call in any program, one that pools "
            "its memory does not, and NumPy's large arrays fault 2 MiB huge pages where the kernel allows. This is "
            "the frameworks' own allocators at these sizes, whatever the regime (README: the allocator regime).")


def _number(value: Any) -> float:
    return 0.0 if value is None or (isinstance(value, float) and pd.isna(value)) else float(value)


def _gemm_text(kernels: dict[str, Any]) -> str:
    gemm = kernels.get("gemm") or {}
    version = f" {gemm['version']}" if gemm.get("version") and len(str(gemm["version"])) <= 24 else ""
    isa = f" ({gemm['isa']})" if gemm.get("isa") else ""
    return f"{gemm.get('library', 'an unknown library')}{version}, kernels {gemm.get('kernel', 'unknown')}{isa}"


def kernel_shortfall(framework: str, kernels: dict[str, Any], environment: dict[str, str],
                     cpu_best_isa: str | None) -> str | None:
    """Why ``framework``'s matrix products may not run as fast as this CPU allows, in a sentence; None when its
    GEMM library runs the CPU's best ISA (or an unknown one) and no variable changes its kernels."""
    variables = variables_changing_kernels(framework, environment)
    gemm = kernels.get("gemm") or {}
    below = (isa_rank(gemm.get("isa")) is not None and isa_rank(cpu_best_isa) is not None
             and isa_rank(gemm.get("isa")) < isa_rank(cpu_best_isa))
    if not below and not variables:
        return None
    assigned = ", ".join(f"{name}={value}" for name, value in variables.items())
    text = f"{framework}'s matrix products run {_gemm_text(kernels)}"
    if below:
        text += f" on a CPU whose best is {cpu_best_isa}"
        text += (f", because the environment sets {assigned}" if variables
                 else ": the library does not use the CPU's best instruction set here")
    else:
        text += f" under {assigned}, which changes its kernels"
    if variables:
        text += "; " + " ".join(f"--unset-env {name}" for name in variables) + " runs the workers without " + (
            "it" if len(variables) == 1 else "them")
    return text


def _blas_bound(row: dict[str, Any]) -> bool:
    bound = row.get("bound")
    if isinstance(bound, str):
        return bound == "compute"
    return row.get("kind") in BLAS_KINDS


def kernel_sentences(frame: pd.DataFrame, manifests: list[dict[str, Any]] | None = None) -> list[str]:
    """A sentence per framework (and device) whose matrix products run below the CPU's best ISA or under a
    variable that changes its kernels, naming its BLAS-bound cells and their % of the measured GEMM peak."""
    if frame.empty or "settings" not in frame:
        return []
    ok = frame[(frame["status"] == "ok") & (frame["device"] == "cpu")]
    host_best = next((m.get("host", {}).get("cpu_best_isa") for m in manifests or []
                      if (m.get("host") or {}).get("cpu_best_isa")), None)
    sentences = []
    for framework, group in ok.groupby("framework", sort=False):
        rows = group.to_dict("records")
        settings = next((row["settings"] for row in rows if isinstance(row.get("settings"), dict)
                         and row["settings"].get("kernels")), None)
        if settings is None:
            continue
        host = next((row["host"] for row in rows if isinstance(row.get("host"), dict)), {})
        shortfall = kernel_shortfall(framework, settings["kernels"], settings.get("kernel_environment") or {},
                                     host.get("cpu_best_isa") or host_best)
        if shortfall is None:
            continue
        bound = [row for row in rows if _blas_bound(row)]
        if not bound:
            sentences.append(f"Kernels: {shortfall}; no cell of this run is bound by them.")
            continue
        bound.sort(key=lambda row: -(row.get("flops") or 0))
        named = []
        for row in bound[:CELLS_NAMED]:
            peak = row.get("pct_of_compute_peak")
            share = f"{peak:.0f}% of the measured GEMM peak" if isinstance(peak, (int, float)) and not pd.isna(
                peak) else "no calibrated peak"
            named.append(f"{row['mode']} {_where(row)} {share}")
        more = f" and {len(bound) - CELLS_NAMED} more" if len(bound) > CELLS_NAMED else ""
        sentences.append(f"Kernels: {shortfall}. Its cells bound by matrix products: "
                         + "; ".join(named) + more + ".")
    return sentences
