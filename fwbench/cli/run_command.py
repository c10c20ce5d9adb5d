"""``fwbench run``: measure every cell, write results.jsonl and results.csv, print a summary."""

from __future__ import annotations

import dataclasses
import re
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from fwbench.adapters.base import ALLOCATOR_REGIMES, BLAS_THREAD_VARIABLES, CACHE_POLICIES, MATMUL_PRECISIONS
from fwbench.cli.common import (
    DEVICE_OPTION,
    FILTER_OPTION,
    FRAMEWORK_OPTION,
    FULL_OPTION,
    MODE_OPTION,
    QUICK_OPTION,
    SPECS_ARGUMENT,
    BarProgress,
    console,
    format_number,
    format_seconds,
    print_imported_modules,
    spec_paths,
    user_errors,
)
from fwbench.errors import UserError
from fwbench.execution.interleave import TURN_MAX_WARMUP_S, TURN_SAMPLE_S, TURN_WARMUP_S
from fwbench.execution.plan import Selection, params_text
from fwbench.execution.runner import DEFAULT_CELL_TIMEOUT_S, RunOptions, default_threads, reason_counts, skip_summary
from fwbench.execution.runner import run as run_cells
from fwbench.execution.shard import parse_shard
from fwbench.files import check_writable
from fwbench.records.results import check_out_dir, read_manifest
from fwbench.spec.loader import load_specs
from fwbench.stats.intervals import WIDE_INTERVAL, widest_intervals
from fwbench.stats.timing import TimerSettings


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops a run the way Ctrl-C does: workers ended, finished cells kept."""
    raise KeyboardInterrupt


DEFAULT_ROUNDS = 3
# One start of the workers serves three rounds, each forking its cells afresh: on issue 31's spec of mixed
# sizes a run took 42-45 s against 58-59 s with a start a round (each start imports torch, torch.compile's
# modules and jax again, 6-9 s), deciding as many sizes (docs/verdicts-history.md, "One start for three rounds").
DEFAULT_ROUNDS_PER_START = 3
DEFAULT_TURN_MS = 20.0  # a turn of sampling when the series take turns (docs/methodology.md: paired in time)


@user_errors
def run(
    specs: Optional[list[Path]] = SPECS_ARGUMENT,
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Run directory to write (default: results/run-<time>)."),
    framework: Optional[list[str]] = FRAMEWORK_OPTION,
    device: Optional[list[str]] = DEVICE_OPTION,
    mode: Optional[list[str]] = MODE_OPTION,
    filter_text: Optional[str] = FILTER_OPTION,
    quick: bool = QUICK_OPTION,
    full: bool = FULL_OPTION,
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="Threads for every framework (default: the usable cores)."),
    budget: Optional[float] = typer.Option(None, "--budget", min=0.0,
                                           help="Seconds of sampling per cell before giving up on the CI "
                                                "target (default 1, quick 0.2), as pytest-benchmark's max_time."),
    target_ci: Optional[float] = typer.Option(None, "--target-ci", min=0.0,
                                              help="Stop sampling once the 95%% CI half-width of the median "
                                                   "is within this fraction of it (default 0.01; with "
                                                   "--sequential only: taking turns, a cell samples its "
                                                   "whole budget for its partners' turn pairs)."),
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1,
                                         help="Fresh processes per cell (default 3, quick 1): each round forks "
                                              "every cell afresh (see --rounds-per-start), in an order that "
                                              "rotates, and samples for its share of --budget (of the first "
                                              "pass's half, with --extend; a later round 1-8 times that); the "
                                              "95% CI covers "
                                              "the variation between rounds, so it is a promise about the next "
                                              "run."),
    rounds_per_start: Optional[int] = typer.Option(
        None, "--rounds-per-start", min=1,
        help=f"Rounds one start of the workers serves when the series take turns (default "
             f"{DEFAULT_ROUNDS_PER_START}; 1 with --sequential or Ray): each forks every cell afresh from its "
             "framework's worker, so K rounds pay for the imports once. Each fork counts as a round of the "
             "verdicts' intervals: measured here, the forks of one start differ as much as separate starts "
             "(docs/verdicts-history.md, 'fwbench ab'). Each look of --extend serves all the rounds it gives "
             "from one start, unless this is 1."),
    timeout: float = typer.Option(DEFAULT_CELL_TIMEOUT_S, "--timeout", min=1.0,
                                  help="Seconds one cell may take before its worker is killed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results already in --out."),
    sequential: bool = typer.Option(
        False, "--sequential",
        help="Run each framework's cells one after another in every round, as fwbench did before 2026-12 "
             "(verdicts then pair round medians measured minutes apart). Default: the series of each workload "
             "size are alive at once and take turns of --turn-ms in random order, paired in time."),
    interleave: bool = typer.Option(False, "--interleave", hidden=True,
                                    help="The default now; kept so older commands still run."),
    turn_ms: Optional[float] = typer.Option(
        None, "--turn-ms", min=1.0,
        help=f"Milliseconds of sampling a turn when the series take turns (default {DEFAULT_TURN_MS:g}: short "
             "against the machine's 50 ms correlation time). Each record keeps its turns for paired ratios."),
    extend: Optional[bool] = typer.Option(
        None, "--extend/--no-extend",
        help="Spend half of --budget on a first pass, then give the rest to the sizes whose verdict is still "
             "undecided: those cheapest to settle get the rounds they need, their fastest and undecided series "
             "only, from one start of the workers, then it looks again, until each is decided or the budget is "
             "spent; each look spends part of the error rate (default: on, except with --sequential, --quick or "
             "one round)."),
    replicas: int = typer.Option(
        1, "--replicas", min=1, max=4,
        help="Measure every series this many times, each copy as a series of its own (numpy/eager#2): an A/A "
             "self-check of the verdicts, which should call copies different no more often than their level "
             "allows (bench/aa.py)."),
    executor: str = typer.Option("local", "--executor",
                                 help="local (default): workers on this machine, one after another. ray: each "
                                      "(framework, device) group as a Ray task with whole-node CPU, whole-GPU or "
                                      "TPU requests (pip install 'fwbench[ray]')."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: start a local one "
                                                                   "or use RAY_ADDRESS)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="Run only shard K of N (e.g. 2/3): a deterministic, "
                                        "cost-balanced share of the cells; 'fwbench merge' joins the shards."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Finish the interrupted run in this directory: "
                                          "only its missing cells, with the specs, selection, threads and timer it "
                                          "started with (refused if the machine or a framework changed)."),
    memory_limit: Optional[float] = typer.Option(None, "--memory-limit", min=0.1,
                                                 help="GiB of address space each worker may use (RLIMIT_AS)."),
    matmul_precision: Optional[str] = typer.Option(
        None, "--matmul-precision",
        help="highest (default): float32 matrix products in full float32 in every framework. high: TF32 or "
             "the device's equivalent where it has one (NVIDIA Ampere and later, TPUs), in every framework "
             "alike; float32 results are then checked at 1e-2. Overrides the specs' matmul_precision."),
    cache: Optional[str] = typer.Option(
        None, "--cache",
        help="warm (default): calls follow each other, inputs stay in the caches as in a loop over the same "
             "data. cold: before every call, outside the timed region, write a buffer twice the size of the "
             "device's last-level cache (one call per sample). Overrides the specs' cache field."),
    allocator: Optional[str] = typer.Option(
        None, "--allocator",
        help="steady (default): every cell's process first frees a 32 MiB block, so every framework reuses freed "
             "memory for its temporaries, as a program that has run its loop once does, and starts its large "
             "blocks at the round's place in a page (the same for every series of the round: docs/allocator.md). "
             "fresh: nothing is freed first, as in a fresh script (NumPy's temporaries then come from fresh "
             "pages). Overrides the specs' allocator field; recorded in every row (README: the allocator regime)."),
    unset_env: Optional[list[str]] = typer.Option(
        None, "--unset-env", metavar="NAME",
        help="Run every worker without this environment variable (repeatable), e.g. --unset-env "
             "OPENBLAS_CORETYPE --unset-env OPENBLAS_L2_SIZE to see NumPy on the kernels OpenBLAS detects; "
             "'fwbench env' lists the variables that change kernels. Recorded in run.json and every row."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print every cell's row in the summary."),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate",
                                   help="Use this machine's measured peaks (measured once on first use, about "
                                        "a minute, then reused) to give every cell % of peak and its bound."),
) -> None:
    """Run the benchmark matrix and write DIR/results.jsonl, DIR/results.csv and DIR/run.json.

    Each framework runs in its own worker process with the same thread count,
    and every cell in a process of its own forked from it.  For every cell:
    inputs are made on the host from the spec's seed and moved to the device
    before timing; the first call (trace + compile + run) is timed apart;
    after warm-up, samples are taken, each call synchronised inside the timed
    region, until the round's share of --budget runs out (under --extend, the
    first pass's half split over the rounds, and a later round's 1-8 times
    that; with --sequential,
    or until the median's 95% confidence interval is within --target-ci);
    the output is then compared with a NumPy float64 reference.  All of it
    --rounds times, in fresh workers.

    The series of one workload size (every framework and mode) are alive
    at once and take turns of --turn-ms in a random order, so that each
    ratio compares times taken side by side (--sequential: one framework
    after another).  Half of --budget goes to a first pass; the sizes whose
    verdict is then undecided get the rest, the rounds each needs for its
    fastest and undecided series (--no-extend: none).  README: what a
    verdict means.
    """
    selection = Selection(frameworks=framework or None, devices=device or None, modes=mode or None,
                          filter_text=filter_text, quick=quick, full=full,
                          shard=parse_shard(shard) if shard else None, replicas=replicas)
    common = {"cell_timeout_s": timeout, "command": ["fwbench", *sys.argv[1:]], "executor": executor,
              "ray_address": address, "memory_limit_bytes": int(memory_limit * 2**30) if memory_limit else None}
    if resume is not None:
        from fwbench.execution.resume import load_manifest
        from fwbench.records.manifest import RunManifest

        recorded = RunManifest.from_dict(load_manifest(resume))
        specs = specs or [Path(path) for path in recorded.specs]
    loaded = load_specs(spec_paths(specs))
    print_imported_modules(loaded)
    if resume is not None:
        # The run's own settings, from its manifest: what decides its timings cannot change on --resume.
        options = RunOptions.from_manifest(recorded, resume, **common)
        if executor == "ray":  # Ray runs each group as a task of its own: the series cannot take turns
            options = dataclasses.replace(options, interleave=False, turn_s=None)
        threads = options.num_threads
        matmul_precision, cache, allocator = options.matmul_precision, options.cache, options.allocator
    else:
        if rounds_per_start is not None and rounds_per_start > 1 and (sequential or executor == "ray"):
            raise UserError(f"--rounds-per-start: got {rounds_per_start} with "
                            f"{'--sequential' if sequential else '--executor ray'}, where each round starts its "
                            "own workers", hint="drop --rounds-per-start, or let the series take turns")
        if sequential and turn_ms is not None:
            raise UserError(f"--turn-ms: got {turn_ms:g} with --sequential, which takes no turns",
                            hint="drop --sequential to pair the series in time, or drop --turn-ms")
        interleaved = executor != "ray" and (not sequential or interleave or turn_ms is not None)
        rounds = rounds or (1 if quick else DEFAULT_ROUNDS)
        options = RunOptions(
            out_dir=out or Path("results") / datetime.now().strftime("run-%Y%m%d-%H%M%S"),
            selection=selection,
            num_threads=threads,
            timer=TimerSettings.quick() if quick else (
                TimerSettings(min_sample_s=TURN_SAMPLE_S, warmup_s=TURN_WARMUP_S, max_warmup_s=TURN_MAX_WARMUP_S)
                if interleaved else TimerSettings()),
            overwrite=overwrite,
            # Ray runs each group as a task of its own: the series cannot take turns
            interleave=interleaved,
            turn_s=(turn_ms or DEFAULT_TURN_MS) / 1000 if interleaved and (not sequential or turn_ms) else None,
            extend=extend if extend is not None else (interleaved and not quick and rounds >= 2),
            rounds=rounds,
            rounds_per_start=rounds_per_start or (DEFAULT_ROUNDS_PER_START if interleaved else 1),
            matmul_precision=matmul_precision,
            cache=cache,
            allocator=allocator,
            unset_environment=tuple(check_variable_names(unset_env or [])),
            **common,
        )
    overrides = {}
    if budget is not None:
        overrides["budget_s"] = budget
    if target_ci is not None:
        overrides["target_rel_ci"] = target_ci
    if overrides:
        options = dataclasses.replace(options, timer=TimerSettings(**{**options.timer.to_dict(), **overrides}))
    out_dir = options.out_dir
    if allocator not in (None, *ALLOCATOR_REGIMES):
        raise UserError(f"--allocator: got '{allocator}', expected one of: {', '.join(ALLOCATOR_REGIMES)}",
                        hint="steady (the default) or fresh; README: the allocator regime")
    if cache not in (None, *CACHE_POLICIES):
        raise UserError(f"--cache: got '{cache}', expected one of: {', '.join(CACHE_POLICIES)}")
    if matmul_precision not in (None, *MATMUL_PRECISIONS):
        raise UserError(f"--matmul-precision: got '{matmul_precision}', expected one of: "
                        f"{', '.join(MATMUL_PRECISIONS)}")
    if executor not in ("local", "ray"):
        raise UserError(f"--executor: got '{executor}', expected local or ray")
    if executor == "ray":
        from fwbench.execution.ray_executor import import_ray

        import_ray()  # a clear error now, before anything is measured, if Ray is missing
    usable = default_threads()
    if threads is not None and threads > usable:
        raise UserError(f"--threads: got {threads}, but this machine lets fwbench use {usable} cores "
                        "(timings with more threads than cores measure the contention, not the framework)",
                        hint=f"use --threads {usable} or fewer")
    if resume is None:
        check_out_dir(out_dir, overwrite)
    check_writable(out_dir)
    if calibrate:
        options = dataclasses.replace(options, calibration=ensure_calibration(threads or usable))
    progress = BarProgress()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        outcome = run_cells(loaded, options, progress)
    except KeyboardInterrupt:
        progress.stop()
        print(f"fwbench: interrupted; every finished cell is in {out_dir}/results.jsonl. "
              f"Finish the run with: fwbench run --resume {out_dir}", file=sys.stderr)
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.stop()
    manifest = read_manifest(outcome.out_dir)
    print_summary(outcome.records, verbose, [manifest] if manifest else [])
    console.print(f"Results: {outcome.out_dir}/results.jsonl and {outcome.out_dir}/results.csv "
                  f"({outcome.wall_s:.0f} s)")
    exit_for_outcome(outcome.records)


def exit_for_outcome(records: list[dict[str, Any]]) -> None:
    """Exit 2 when every cell was skipped (nothing could run), 3 when a cell failed even after its retry; the
    reasons in one line on stderr.  Mismatches are findings, not failures: they do not change the exit code."""

    if records and all(record.get("status") == "skipped" for record in records):
        print(f"fwbench: error: nothing ran: every one of the {len(records)} cells was skipped ("
              + skip_summary([str(record.get("reason")) for record in records]) + ")", file=sys.stderr)
        raise typer.Exit(2)
    failed = [record for record in records if record.get("status") == "error"]
    if failed:
        print(f"fwbench: {len(failed)} of {len(records)} cells failed (error), after one retry where their process "
              f"died; first: {failed[0]['cell_id']}: {str(failed[0].get('reason'))[:200]}", file=sys.stderr)
        raise typer.Exit(3)


VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_variable_names(names: list[str]) -> list[str]:
    """``--unset-env`` names, each a valid environment variable name and none of fwbench's own thread settings
    (every framework's thread count, which ``--threads`` sets); the names, deduplicated, in order."""
    for name in names:
        if not VARIABLE_NAME.fullmatch(name):
            raise UserError(f"--unset-env: got '{name}', expected an environment variable name (letters, digits "
                            "and _, not starting with a digit)", hint="for example --unset-env OPENBLAS_CORETYPE")
        if name in BLAS_THREAD_VARIABLES:
            raise UserError(f"--unset-env: got '{name}', which fwbench sets itself in every worker (the same "
                            "thread count for every framework)", hint="use --threads N instead")
    return list(dict.fromkeys(names))


def ensure_calibration(num_threads: int) -> dict[str, Any]:
    from fwbench.adapters import installed_versions
    from fwbench.execution.calibrate import calibrate
    from fwbench.machine.calibration import load_calibration

    stored = load_calibration(num_threads, installed_versions())
    if stored is not None:
        return stored
    console.print("No calibration for this machine yet: measuring its bandwidth and GEMM peaks once "
                  "(fwbench calibrate; --no-calibrate skips this).", markup=False)
    progress = BarProgress()
    try:
        return calibrate(num_threads, progress)
    finally:
        progress.stop()


NOISIEST_SHOWN = 5


def print_summary_tables(report: Any) -> None:
    """The report's summary (a row per workload at its largest size) and the suite summary (a row per series)."""
    from fwbench.report import summary

    rows = report.workloads
    compiled, present = summary.framework_columns(rows)
    table = Table(title=f"Summary: each workload at its largest size (speedups against {report.baseline})",
                  box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False)
    for column in ("workload", "size", "fastest (or not yet told apart)", "next / fastest (95% CI)"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    short = summary.FRAMEWORK_SHORT
    table.add_column("compile s " + "/".join(short[name] for name in compiled), no_wrap=True, justify="right")
    table.add_column("peak MiB " + "/".join(short[name] for name in present), no_wrap=True, justify="right")
    for row in rows:
        style = "green" if row.verdict in ("fastest", "equivalent", "only") else "yellow"
        compile_text = "/".join("-" if row.compile_s.get(name) is None else f"{row.compile_s[name]:.2g}"
                                for name in compiled)
        peak_text = "/".join(f"{row.peak_bytes[name] / 2**20:.0f}" if row.peak_bytes.get(name) else "-"
                             for name in present)
        label = row.workload if row.device == "cpu" else f"{row.workload}@{row.device}"
        table.add_row(escape(label), escape(row.size_label), f"[{style}]{escape(row.winner_text())}[/{style}]",
                      row.margin_text(), compile_text, peak_text)
    console.print(table)
    suite = Table(title="By framework and mode, across the suite", box=box.SIMPLE_HEAD, title_justify="left",
                  pad_edge=False, show_edge=False)
    for column in summary.SERIES_HEADER:
        suite.add_column(column, no_wrap=True, justify="left" if column == "framework/mode" else "right")
    for row in report.series:
        suite.add_row(*(escape(cell) for cell in summary.series_cells(row)))
    console.print(suite)


def print_summary(records: list[dict[str, Any]], verbose: bool = False,
                  manifests: list[dict[str, Any]] | None = None) -> None:
    """The summary tables first, then the counts, the findings (the run's ``manifests`` add what the machine
    did) and the noisiest cells; every cell's row under ``verbose``."""
    measured = [r for r in records if r.get("status") != "skipped"]
    skipped = [r for r in records if r.get("status") == "skipped"]
    report = summary_report(records, manifests or [])
    if report is not None:
        print_summary_tables(report)
    if verbose:
        print_cell_table(measured)
    counts = {status: sum(r.get("status") == status for r in records) for status in ("ok", "mismatch", "error",
                                                                                      "skipped")}
    rounds = sorted({r.get("n_rounds") or 1 for r in measured})
    console.print(f"{len(records)} cells: " + ", ".join(f"{count} {status}" for status, count in counts.items())
                  + f" ({'/'.join(map(str, rounds)) or '-'} round{'s' if rounds != [1] else ''} each).", markup=False)
    for sentence in report.findings if report is not None else []:
        console.print(f"  - {sentence}", markup=False, soft_wrap=True)
    with_interval = [r for r in measured if r.get("status") == "ok" and r.get("rel_ci95") is not None]
    wide = widest_intervals(measured)
    if wide:
        interleaved = any(manifest.get("interleave") for manifest in manifests or [])
        console.print(f"{len(wide)} of {len(with_interval)} cells have a 95% interval of the next run's median "
                      f"wider than ±{WIDE_INTERVAL:.0%}"
                      + ("; verdicts pair the series in time, which this spread does not widen. Noisiest:"
                         if interleaved else "; rankings among them are the likeliest to stay undecided. Noisiest:"),
                      markup=False)
        for record in wide[:NOISIEST_SHOWN]:
            rounds_text = ", ".join(format_seconds(value) for value in record.get("round_medians_s") or [])
            console.print(f"    {record['cell_id']}: ±{record['rel_ci95']:.0%}"
                          + (f" (round medians {rounds_text})" if rounds_text else ""), markup=False)
        if not interleaved:
            console.print("    Close other programs, raise --budget or --rounds, or pair the series in time: drop "
                          "--sequential.", markup=False)
    for record in measured:
        if record["status"] != "ok":
            console.print(f"{record['status']}: {record['cell_id']}: {record.get('reason')}", markup=False)
    if skipped:
        console.print(f"{len(skipped)} cells skipped:")
        for reason, count in reason_counts([f"{record['framework']}: {record['reason']}"
                                            for record in skipped]).items():
            console.print(f"  {count} x {reason}", markup=False)
    if not verbose:
        console.print("Every cell's row: --verbose, or 'fwbench report DIR' for the full report.", markup=False)


def summary_report(records: list[dict[str, Any]], manifests: list[dict[str, Any]] | None = None) -> Any:
    """The report the summary tables and findings come from (as ``fwbench report`` builds it), or None when
    no cell is ok."""
    from fwbench.records.results import records_to_frame
    from fwbench.report.render import build_report

    if not any(r.get("status") == "ok" for r in records):
        return None
    return build_report(records_to_frame(records), manifests or [])


def print_cell_table(measured: list[dict[str, Any]]) -> None:
    """A row per cell: median per call, its 95% interval as +/- percent, first call, GB/s, status."""
    measured = sorted(measured, key=lambda r: (r["workload"], sorted(r["params"].items()), r.get("median_s") or 1e99))
    several_devices = len({r["device"] for r in measured}) > 1
    table = Table(title="Median time per call (95% interval of the next run's median)", box=box.SIMPLE_HEAD)
    table.add_column(escape("workload[params]"), no_wrap=True)
    table.add_column("framework/mode", no_wrap=True)
    for column in ("median", "± interval", "first call", "GB/s"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for record in measured:
        median, low, high = record.get("median_s"), record.get("ci95_low_s"), record.get("ci95_high_s")
        ci = f"{(high - low) / 2 / median * 100:.1f}%" if median and low is not None else "-"
        label = f"{record['framework']}/{record['mode']}"
        if several_devices:
            label += f"@{record['device']}"
        status = record["status"]
        style = {"ok": "green", "mismatch": "yellow", "error": "red"}.get(status, "")
        table.add_row(escape(f"{record['workload']}[{params_text(record['params'])}]"), label,
                      format_seconds(median), ci, format_seconds(record.get("first_call_s")),
                      format_number(record.get("gbytes_per_s")), f"[{style}]{status}[/{style}]")
    console.print(table)
