"""Does a run's interval hold the next run's median?  The promise fwbench's intervals make, measured.

    python bench/reproducibility.py [--runs 3] [--budget 1] [--rounds 3] [--spec FILE] [--keep DIR | --read DIR]
                                    [--disturb SECONDS] [--interleave]

Runs one spec (softmax, a matmul and an MLP step, all four frameworks, a
small and a large size each) ``--runs`` times back to back with ``fwbench
run``, then prints:

* coverage: over every ordered pair of runs (A, B) and every cell, the share
  of B's medians inside A's 95% interval (target: at least 0.90);
* width: the median relative half-width of the intervals;
* spread: per cell, the largest median over the smallest across the runs
  (median and 90th percentile over cells);
* the wall time of each run;
* the rounds each run set apart as disturbed (``excluded_rounds``).

Nothing else should run on the machine meanwhile, except what ``--disturb
SECONDS`` starts: a process that keeps one core busy for SECONDS, from a third
of the way into the second run (the case of a user whose machine got busy for
a while); coverage is then counted on the cells the runs report.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fwbench.records.results import read_cells  # noqa: E402

TARGET_COVERAGE = 0.90


def one_run(spec: Path, out: Path, budget: float, rounds: int,
            disturb: tuple[float, float] | None = None, extra: tuple[str, ...] = ()) -> tuple[dict[str, dict], float]:
    """One ``fwbench run``; ``disturb`` = (after seconds, for seconds): a busy loop on one core meanwhile."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "fwbench", "run", str(spec), "--device", "cpu",
                                "--no-calibrate", "--budget", str(budget), "--rounds", str(rounds), "--out", str(out),
                                "--overwrite", *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if disturb:
        time.sleep(disturb[0])
        busy = subprocess.Popen([sys.executable, "-c", f"import time\nend = time.time() + {disturb[1]}\n"
                                 "while time.time() < end: pass"])
        print(f"  one core kept busy for {disturb[1]:g} s from {disturb[0]:.0f} s into the run", flush=True)
        busy.wait()
    if process.wait() != 0:
        raise SystemExit(f"fwbench run failed ({process.returncode}) for {out}")
    cells = {cell["cell_id"]: cell for cell in read_cells(out) if cell.get("status") == "ok"}
    return cells, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spec", type=Path, default=ROOT / "bench" / "reproducibility.yaml")
    parser.add_argument("--keep", type=Path, help="write the runs to DIR/run0, run1, ... and keep them")
    parser.add_argument("--read", type=Path, help="measure nothing: read the runs a --keep DIR holds")
    parser.add_argument("--disturb", type=float, default=0.0,
                        help="keep one core busy this many seconds during the second run")
    parser.add_argument("--interleave", action="store_true", help="run with fwbench run --interleave")
    arguments = parser.parse_args()
    runs, walls = [], []
    if arguments.read:
        for path in sorted(arguments.read.glob("run*")):
            runs.append({cell["cell_id"]: cell for cell in read_cells(path) if cell.get("status") == "ok"})
            walls.append(json.loads((path / "run.json").read_text())["wall_s"])
    with tempfile.TemporaryDirectory() as scratch:
        directory = arguments.keep or Path(scratch)
        for index in range(0 if arguments.read else arguments.runs):
            disturb = (walls[0] / 3, arguments.disturb) if arguments.disturb and index == 1 else None
            cells, wall = one_run(arguments.spec, Path(directory) / f"run{index}", arguments.budget, arguments.rounds,
                                  disturb, ("--interleave",) if arguments.interleave else ())
            runs.append(cells)
            walls.append(wall)
            print(f"run {index + 1}: {len(cells)} ok cells in {wall:.0f} s", flush=True)
    common = sorted(set.intersection(*(set(run) for run in runs)))
    inside = total = 0
    for first, second in itertools.permutations(range(len(runs)), 2):
        for cell_id in common:
            interval, median = runs[first][cell_id], runs[second][cell_id]["median_s"]
            inside += interval["ci95_low_s"] <= median <= interval["ci95_high_s"]
            total += 1
    coverage = inside / total
    widths = [run[cell_id]["rel_ci95"] for run in runs for cell_id in common]
    spreads = sorted(max(run[c]["median_s"] for run in runs) / min(run[c]["median_s"] for run in runs)
                     for c in common)
    print(f"coverage: {inside} of {total} medians inside another run's 95% interval = {coverage:.3f} "
          f"(target >= {TARGET_COVERAGE})")
    print(f"width: median relative half-width {statistics.median(widths):.3f}")
    print(f"spread of medians across runs (largest / smallest, per cell): median {statistics.median(spreads):.3f}, "
          f"90th percentile {spreads[int(0.9 * (len(spreads) - 1))]:.3f}, worst {spreads[-1]:.3f}")
    print(f"wall time per run: {', '.join(f'{wall:.0f} s' for wall in walls)} "
          f"({arguments.rounds} rounds, {arguments.budget:g} s per cell, {len(common)} cells)")
    for index, run in enumerate(runs, start=1):
        set_apart = [f"{cell_id} round {item['round']} ({item['median_s'] / cell['median_s']:.2f}x)"
                     for cell_id, cell in run.items() for item in cell.get("excluded_rounds") or []]
        print(f"run {index}: {len(set_apart)} rounds set apart as disturbed"
              + (": " + "; ".join(set_apart) if set_apart else ""))
    return 0 if coverage >= TARGET_COVERAGE else 1


if __name__ == "__main__":
    sys.exit(main())
