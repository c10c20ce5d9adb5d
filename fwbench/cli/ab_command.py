"""``fwbench ab``: baseline and candidate measured side by side in one job; exit 1 when a cell got slower."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer

from fwbench.cli.common import (
    DEVICE_OPTION,
    FILTER_OPTION,
    FRAMEWORK_OPTION,
    MODE_OPTION,
    SPECS_ARGUMENT,
    BarProgress,
    console,
    parse_threshold,
    print_imported_modules,
    spec_paths,
    user_errors,
)
from fwbench.errors import UserError
from fwbench.execution.groups import WorkerSide
from fwbench.execution.interleave import TURN_MAX_WARMUP_S, TURN_SAMPLE_S, TURN_WARMUP_S
from fwbench.execution.plan import Selection, plan_cells
from fwbench.execution.runner import RunOptions, default_threads
from fwbench.execution.runner import run as run_cells
from fwbench.files import check_writable, write_text_atomic
from fwbench.records.results import check_out_dir
from fwbench.report import ab as ab_report
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings

AB_ROUNDS = 10
# By default one start of each side's workers serves every round, a fork each: a process draws its speed per
# fork, a start adds no spread of its own that forks miss (session 15), a second start cost 7-9 s (session 17),
# and the looks count a size's rounds within one start (fwbench.execution.interleave), so they need it.
AB_TURN_S = 0.01  # a cell's two sides take turns of 10 ms: twice the turn pairs a round of 20 ms turns gave, with
# half their noise in a round's mean (session 17: 21 of 24 cells called slower against 16 of 24, alternating)
# One thread per framework, as torch.utils.benchmark's Timer defaults to: a single-threaded turn runs on one
# core, where two threads hand work to the other core, whose speed on a shared VM is its own.  bench/ab_check.py,
# two sets of three invocations each way, alternating (session 26): changed cells slower 24 and 24 of 24 against
# 19 and 24, identical sides `same` 47 of 48 against 35 of 48 (none flagged either way), 1.27-1.87x a plain run
# against 1.32-2.39x.
AB_THREADS = 1
AB_BUDGET_S = 0.6  # seconds of sampling per cell and side: the pair a little more than one cell of a run (1 s)


def ab_timer(budget_s: float) -> TimerSettings:
    """How each side of a cell samples in every round: for its whole share of ``budget_s`` (no early stop on
    its own interval, so both sides take turns side by side to the end of the round), after a warm-up of two
    windows of 10 ms at least and 30 ms at most, since every round forks the cell afresh and each turn begins
    with an untimed call.  The warm-up was 40-100 ms (jax's always ran to 100 ms, its first call loading
    cached executables reads as a compile): 0.54 s of a size's 2.2 s round of eight forks, which bought no
    narrower interval, where more forks do."""
    return TimerSettings(budget_s=budget_s, target_rel_ci=0.0, warmup_s=TURN_WARMUP_S,
                         max_warmup_s=TURN_MAX_WARMUP_S, min_sample_s=TURN_SAMPLE_S)


def parse_assignments(values: list[str], option: str) -> dict[str, str]:
    """``K=V`` pairs from a repeatable option; a malformed one is a one-line error."""
    found = {}
    for value in values:
        name, separator, setting = value.partition("=")
        if not separator or not name or not name.replace("_", "").isalnum():
            raise UserError(f"{option}: got '{value}', expected NAME=VALUE", hint=f"e.g. {option} OMP_NUM_THREADS=1")
        found[name] = setting
    return found


def side_of(name: str, python: str, environment: dict[str, str], paths: list[Path]) -> WorkerSide:
    """One side's interpreter, environment and module path, the interpreter found on PATH if not a path."""
    import shutil

    resolved = python if os.sep in python else (shutil.which(python) or python)
    if not Path(resolved).is_file():
        raise UserError(f"--{name}: got '{python}', which is not an interpreter here",
                        hint=f"give the Python of the {name} environment, e.g. --{name} .venv/bin/python")
    for path in paths:
        if not path.is_dir():
            raise UserError(f"--{name}-path: got '{path}', which is not a directory",
                            hint="give the checkout whose workload modules this side should import")
    return WorkerSide(name, str(Path(resolved).absolute()), environment, tuple(str(p.resolve()) for p in paths))


CHECK_SCRIPT = """\
import importlib.metadata, importlib.util, json, sys
import fwbench.worker
import numpy  # the worker's inputs and references; fwbench.worker no longer imports it on its own
found, owners = {}, importlib.metadata.packages_distributions()
for framework, module in json.loads(sys.argv[1]).items():
    try:
        spec = importlib.util.find_spec(module)
    except Exception as error:
        spec, why = None, type(error).__name__ + ': ' + str(error)[:120]
    else:
        why = 'ModuleNotFoundError: no module named ' + repr(module)
    if spec is None:
        found[framework] = 'MISSING: ' + why
        continue
    found[framework] = '?'
    for distribution in owners.get(module, []):
        try:
            found[framework] = importlib.metadata.version(distribution)
            break
        except Exception:
            pass
print(json.dumps({'python': sys.version.split()[0], 'frameworks': found}))
"""


def start_check(side: WorkerSide, frameworks: set[str]) -> subprocess.Popen:
    """Ask the side's interpreter, in its environment, to import fwbench's worker (and with it NumPy) and to
    find each framework the spec needs, with its installed version.  The frameworks are found, not imported
    (importing all four takes about 12 s a side here, and the workers import them anyway): one that is
    installed but fails to import makes its workers unavailable, which :func:`unavailable_side` turns into
    the same exit 2 after the run."""
    from fwbench.adapters import get_adapter
    from fwbench.execution.worker_process import worker_environment

    modules = {framework: get_adapter(framework).IMPORT_NAME for framework in sorted(frameworks)}
    return subprocess.Popen([side.python, "-c", CHECK_SCRIPT, json.dumps(modules)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=side.environment_for(worker_environment({})))


def check_side(side: WorkerSide, process: subprocess.Popen) -> dict[str, Any]:
    """What the side's interpreter has, from its :func:`start_check`; a one-line error (exit 2) if it lacks
    fwbench's worker or a framework the spec needs."""
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"--{side.name}: {side.python} cannot run fwbench's worker ({last[:200]})",
                        hint=f"install fwbench and its dependencies into the {side.name} environment "
                             f"(pip install -e .) or choose another interpreter")
    found = json.loads(stdout.strip().splitlines()[-1])
    missing = {name: text for name, text in found["frameworks"].items() if str(text).startswith("MISSING")}
    if missing:
        name, text = next(iter(missing.items()))
        raise UserError(f"--{side.name}: {side.python} lacks {name}, which the spec needs ({text[9:]})",
                        hint=f"install {name} into the {side.name} environment, or leave it out with -f")
    return found


def unavailable_side(records: list[dict[str, Any]], sides: dict[str, WorkerSide]) -> UserError | None:
    """The one-line error for a side whose workers could not start a framework the other side ran (installed
    but failing to import, found only once its workers started); None when both sides had every framework."""
    from fwbench.execution.groups import UNAVAILABLE_PREFIXES

    ran = {(record.get("side"), record.get("framework")) for record in records if record.get("status") == "ok"}
    for record in records:
        side, framework = record.get("side"), record.get("framework")
        other = "candidate" if side == "baseline" else "baseline"
        if (side in sides and str(record.get("reason") or "").startswith(UNAVAILABLE_PREFIXES)
                and (other, framework) in ran):
            return UserError(f"--{side}: {sides[side].python} could not start {framework} in its workers "
                             f"({str(record['reason'])[:200]})",
                             hint=f"repair {framework} in the {side} environment; the run and its reports "
                                  "are written all the same")
    return None


@user_errors
def ab(
    specs: Optional[list[Path]] = SPECS_ARGUMENT,
    baseline: str = typer.Option(sys.executable, "--baseline", help="The baseline side's Python interpreter "
                                 "(default: this one)."),
    candidate: str = typer.Option(sys.executable, "--candidate", help="The candidate side's Python interpreter "
                                  "(default: this one)."),
    baseline_env: Optional[list[str]] = typer.Option(None, "--baseline-env", metavar="K=V",
                                                     help="An environment variable of the baseline's workers "
                                                          "(repeatable)."),
    candidate_env: Optional[list[str]] = typer.Option(None, "--candidate-env", metavar="K=V",
                                                      help="An environment variable of the candidate's workers "
                                                           "(repeatable), e.g. OMP_NUM_THREADS=1."),
    baseline_path: Optional[list[Path]] = typer.Option(None, "--baseline-path", metavar="DIR",
                                                       help="Where the baseline's workload modules come from "
                                                            "first (a checkout; repeatable)."),
    candidate_path: Optional[list[Path]] = typer.Option(None, "--candidate-path", metavar="DIR",
                                                        help="Where the candidate's workload modules come from "
                                                             "first (a checkout; repeatable)."),
    threshold: str = typer.Option("10%", "--threshold", help="Smallest change that counts, e.g. 10% or 0.1."),
    framework: Optional[list[str]] = FRAMEWORK_OPTION,
    device: Optional[list[str]] = DEVICE_OPTION,
    mode: Optional[list[str]] = MODE_OPTION,
    filter_text: Optional[str] = FILTER_OPTION,
    budget: float = typer.Option(AB_BUDGET_S, "--budget", min=0.01, help="Seconds of sampling per cell and side, "
                                                                          "over all rounds."),
    rounds: int = typer.Option(AB_ROUNDS, "--rounds", min=2, help=f"Fresh processes per cell and side (at most: "
                                                                    f"a cell decided after three or five stops "
                                                                    f"there), each forked from its side's worker "
                                                                    f"(default {AB_ROUNDS})."),
    rounds_per_start: Optional[int] = typer.Option(None, "--rounds-per-start", min=1,
                                                   help="Rounds one start of each side's workers serves (default: "
                                                        "all of them, one start): each fork is a round of the "
                                                        "interval. Fewer than --rounds turns the looks off: every "
                                                        "cell takes every round."),
    threads: int = typer.Option(AB_THREADS, "--threads", min=1, help="Threads for every framework on both sides "
                                "(default 1, each turn's threads on one core; --threads N gates N-thread speed, "
                                "at most the usable cores)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory to write (default: "
                                                                  "results/ab-<time>); keep it for 'fwbench history'."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results already in --out."),
    md: Optional[Path] = typer.Option(None, "--md", help="Also write the result as Markdown here (a job summary)."),
    html_path: Optional[Path] = typer.Option(None, "--html", help="Also write it as a self-contained HTML page."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write {version, cells: [{cell, verdict, "
                                                                    "ratio, low, high}, ...]} here."),
) -> None:
    """Measure every cell of SPEC on two sides in one job, side by side, and gate on the candidate.

    Each side's workers start with its own interpreter (two virtual
    environments: jax 0.9 against 0.10), environment (--candidate-env
    OMP_NUM_THREADS=1) and module path (two checkouts of your workload
    module), in ten rounds: one start of every worker, forking a fresh process
    per cell ten times. The two sides of a cell are alive at once
    and take turns of 10 ms back to back on one core, the cells in random
    order, each framework on one thread unless --threads says more, so
    candidate/baseline comes from times taken side by side, with an
    interval over the rounds. A cell is slower when the interval lies above
    1 + threshold, faster below 1/(1 + threshold), same inside that band,
    undecided otherwise (with the change it could have called, and about how
    many more rounds would settle it), broken when
    the candidate did not measure where the baseline did. Each verdict is a
    one-sided test at 5% spent over three looks: after three rounds a cell
    decided at 0.5% (99% interval) takes no more rounds, after five one
    decided at 1% (98%) neither; the others go on and are judged at 3.5%
    (93% interval).

    Exit codes: 0 nothing slower or broken, 1 otherwise, 2 bad input (an
    interpreter that lacks fwbench or a framework the spec needs included;
    one whose framework is installed but fails to import exits 2 after the
    run, its reports written).

    Example: fwbench ab bench/more_work.yaml --candidate ../pr/.venv/bin/python --md summary.md
    """
    limit = parse_threshold(threshold)
    sides = {"baseline": side_of("baseline", baseline, parse_assignments(baseline_env or [], "--baseline-env"),
                                 list(baseline_path or [])),
             "candidate": side_of("candidate", candidate, parse_assignments(candidate_env or [], "--candidate-env"),
                                  list(candidate_path or []))}
    loaded = load_specs(spec_paths(specs))
    print_imported_modules(loaded)
    selection = Selection(frameworks=framework or None, devices=device or None, modes=mode or None,
                          filter_text=filter_text, sides=tuple(sides))
    cells = plan_cells(loaded, selection)
    frameworks = {cell.framework for cell in cells if cell.skip_reason is None}
    if not frameworks:
        raise UserError("no cell of the spec can run here", hint="check -f/-d/-m/-k, or 'fwbench list SPEC'")
    checks = {name: start_check(side, frameworks) for name, side in sides.items()}  # side by side
    try:
        found = {name: check_side(side, checks[name]) for name, side in sides.items()}
    finally:
        for process in checks.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    usable = default_threads()
    if threads > usable:
        raise UserError(f"--threads: got {threads}, but this machine lets fwbench use {usable} cores",
                        hint=f"use --threads {usable} or fewer")
    out_dir = out or Path("results") / datetime.now().strftime("ab-%Y%m%d-%H%M%S")
    check_out_dir(out_dir, overwrite)
    check_writable(out_dir)
    per_start = max(1, min(rounds_per_start or rounds, rounds))
    options = RunOptions(out_dir=out_dir, selection=selection, num_threads=threads,
                         timer=ab_timer(budget), rounds=rounds,
                         rounds_per_start=per_start,
                         repeat_contended=False,
                         overwrite=overwrite,
                         command=["fwbench", *sys.argv[1:]], interleave=True, turn_s=AB_TURN_S, extend=False,
                         sides=sides,
                         settled=lambda records, after: ab_report.settled_cells(records, limit, after),
                         look_after_rounds=ab_report.look_rounds(rounds, per_start))
    progress = BarProgress()
    try:
        outcome = run_cells(loaded, options, progress, cells=cells)
    finally:
        progress.stop()
    described = {name: {"describe": side.describe(), "python": side.python, "environment": side.environment,
                        "path": list(side.path), **found[name]} for name, side in sides.items()}
    verdicts = ab_report.ab_cells(outcome.records, limit)
    console.print(ab_report.headline(verdicts, limit) + ".", markup=False)
    for cell in ab_report.ordered(verdicts):
        interval = f"[{cell.low:.3f}, {cell.high:.3f}]" if cell.low is not None else (cell.reason or "")
        ratio_text = f"{cell.ratio:.3f}" if cell.ratio is not None else "-"
        settle = cell.settle_text()
        console.print(f"  {cell.verdict:9s} {cell.cell:48s} {ratio_text:>7s} {interval}"
                      + (f": {settle}" if settle else ""), markup=False)
    if md:
        write_text_atomic(md, ab_report.markdown(verdicts, limit, described))
    if html_path:
        write_text_atomic(html_path, ab_report.html(verdicts, limit, described))
    if json_path:
        write_text_atomic(json_path, json.dumps(ab_report.document(verdicts, limit, described, str(out_dir)), indent=1))
    console.print(f"Run: {out_dir} (keep it for 'fwbench history')", markup=False)
    broken_side = unavailable_side(outcome.records, sides)
    if broken_side is not None:
        raise broken_side
    raise typer.Exit(ab_report.exit_code(verdicts))
