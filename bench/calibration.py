"""Calibration: do the default run's ratio intervals hold the ratio a run ten times longer finds?

    python bench/calibration.py SPEC [--runs 1] [--budget 1] [--factor 10] [--extra ARG ...] [--keep DIR]
    python bench/calibration.py --results DIR [DIR ...] --reference DIR

Runs ``fwbench run SPEC`` ``--runs`` times with its defaults (``--budget``, series paired in time, half
the budget to a first pass and the rest to the sizes still open), then once with ``--factor`` times the
budget: the reference.  For every runner-up of every size in each default run's leaderboard, it finds the
same two series' ratio in the reference run (the runner-up over the default run's fastest) and prints
whether the default run's interval holds it.  Per run it prints how many sizes were decided and how long the
run took; across runs, every contradiction (one run names A faster than B beyond 5%, another B faster than A
beyond 5%).  The last line is ``calibration: N intervals, K hold the reference ratio (S%)``.  With ``--results``
it reads runs already made (the reference with ``--reference``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fwbench.records.results import load_results, read_manifest  # noqa: E402
from fwbench.report import aggregate  # noqa: E402
from fwbench.stats.ratios import ratio  # noqa: E402
from fwbench.stats.verdicts import round_pair_priors, turn_pair_priors  # noqa: E402

BEYOND = 1.05  # a contradiction: A faster than B beyond this in one run, B faster than A beyond it in another


def fwbench_run(spec: str, out: Path, budget: float, extra: list[str]) -> float:
    """One ``fwbench run`` in a subprocess; its wall time in seconds."""
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "fwbench", "run", spec, "--no-calibrate", "--out", str(out),
                                "--overwrite", "--budget", str(budget), *extra], cwd=ROOT, capture_output=True,
                               text=True)
    if completed.returncode not in (0, 3):
        raise SystemExit(f"fwbench run failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return time.perf_counter() - started


def rows_by_size(run: Path) -> dict[tuple, dict[str, object]]:
    """(workload, size, device, dtype) -> series -> combined row, of one run."""
    frame = aggregate.prepare(load_results(run))
    frame = frame[frame["status"] == "ok"]
    return {key: {row["series"]: row for _, row in group.iterrows()}
            for key, group in frame.groupby(["workload", "size_label", "device", "dtype"], sort=False)}


def reference_ratio(rows: dict[str, object], numerator: str, denominator: str, priors, turn_priors):
    """numerator / denominator in the reference run, as its leaderboard would compute it (None if absent)."""
    if numerator not in rows or denominator not in rows:
        return None
    run = rows[denominator].get("run_id")
    return ratio(rows[numerator], rows[denominator], prior=priors.get(run), turn_prior=turn_priors.get(run)).value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?")
    parser.add_argument("--runs", type=int, default=1, help="default runs to check (each against the reference)")
    parser.add_argument("--budget", type=float, default=1.0, help="the default runs' --budget")
    parser.add_argument("--factor", type=float, default=10.0, help="the reference run's budget over --budget")
    parser.add_argument("--extra", action="append", default=[], help="more arguments for every fwbench run")
    parser.add_argument("--results", type=Path, nargs="*", help="default runs already made")
    parser.add_argument("--reference", type=Path, help="the reference run already made (with --results)")
    parser.add_argument("--keep", type=Path, help="write the runs here (run1, run2, ..., reference) and keep them")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = arguments.keep or Path(scratch)
        runs, reference = list(arguments.results or []), arguments.reference
        if not runs:
            if not arguments.spec:
                parser.error("give a SPEC, or --results DIR ... --reference DIR")
            for index in range(arguments.runs):
                out = Path(directory) / f"run{index + 1}"
                seconds = fwbench_run(arguments.spec, out, arguments.budget, arguments.extra)
                print(f"default run {index + 1}: {seconds:.0f} s ({out})", flush=True)
                runs.append(out)
        if reference is None:
            if not arguments.spec:
                parser.error("--results needs --reference DIR")
            reference = Path(directory) / "reference"
            seconds = fwbench_run(arguments.spec, reference, arguments.budget * arguments.factor, arguments.extra)
            print(f"reference run ({arguments.factor:g}x the budget): {seconds:.0f} s", flush=True)
        return report(runs, reference)


def report(runs: list[Path], reference: Path) -> int:
    """Print each default run's intervals against the reference, the contradictions, and the last line."""
    truth = rows_by_size(reference)
    pairs = [(row, rows[name]) for rows in truth.values() for name in rows for row in rows.values()
             if row is not rows[name]]
    priors, turn_priors = round_pair_priors(pairs), turn_pair_priors(pairs)
    checked = held = 0
    called: dict[tuple, list[tuple[str, str, float]]] = {}  # size -> (faster, slower, ratio) per run
    for index, run in enumerate(runs, start=1):
        board = aggregate.leaderboard(load_results(run))
        manifest = read_manifest(run) or {}
        decided = int((board["verdict"].isin(["fastest", "equivalent"])).sum())
        compared = int((board["verdict"] != "only").sum())
        print(f"run {index}: {decided} of {compared} sizes decided, {manifest.get('wall_s', 0):.0f} s ({run})")
        for _, entry in board.iterrows():
            key = (entry["workload"], entry["params"], entry["device"], entry["dtype"])
            for item in entry["ratios"]:
                if item["low"] is None:
                    continue
                if item["low"] > BEYOND:
                    called.setdefault(key, []).append((entry["fastest"], item["series"], index))
                expected = reference_ratio(truth.get(key, {}), item["series"], entry["fastest"], priors, turn_priors)
                if expected is None:
                    continue
                inside = item["low"] <= expected <= item["high"]
                checked += 1
                held += inside
                print(f"  {entry['workload']:18s} {entry['params']:14s} {item['series']:>16s} / {entry['fastest']:16s}"
                      f" {item['ratio']:.3f} [{item['low']:.3f}, {item['high']:.3f}] reference {expected:.3f} "
                      f"{'holds' if inside else 'MISSES'} ({item['standing']})")
    contradictions = 0
    for key, calls in called.items():
        for faster, slower, run in calls:
            against = [other for other in calls if other[0] == slower and other[1] == faster]
            if against:
                contradictions += 1
                print(f"CONTRADICTION {key}: run {run} names {faster} faster than {slower} beyond 5%, run "
                      f"{against[0][2]} the reverse")
    print(f"contradictions: {contradictions // 2}")
    print(f"calibration: {checked} intervals, {held} hold the reference ratio "
          f"({held / checked:.0%})" if checked else "calibration: no interval to check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
