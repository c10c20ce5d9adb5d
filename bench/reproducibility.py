"""Does a run's interval hold the next run's median?  The promise fwbench's intervals make, measured.

    python bench/reproducibility.py [--runs 3] [--budget 1] [--rounds 3] [--spec FILE] [--keep DIR | --read DIR]

Runs one spec (softmax, a matmul and an MLP step, all four frameworks, a
small and a large size each) ``--runs`` times back to back with ``fwbench
run``, then prints:

* coverage: over every ordered pair of runs (A, B) and every cell, the share
  of B's medians inside A's 95% interval (target: at least 0.90);
* width: the median relative half-width of the intervals;
* spread: per cell, the largest median over the smallest across the runs
  (median and 90th percentile over cells);
* the wall time of each run.

Nothing else should run on the machine meanwhile.
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

from fwbench.results import read_cells  # noqa: E402

TARGET_COVERAGE = 0.90


def one_run(spec: Path, out: Path, budget: float, rounds: int) -> tuple[dict[str, dict], float]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fwbench", "run", str(spec), "--device", "cpu", "--no-calibrate",
                    "--budget", str(budget), "--rounds", str(rounds), "--out", str(out), "--overwrite"],
                   check=True, cwd=ROOT, capture_output=True)
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
    arguments = parser.parse_args()
    runs, walls = [], []
    if arguments.read:
        for path in sorted(arguments.read.glob("run*")):
            runs.append({cell["cell_id"]: cell for cell in read_cells(path) if cell.get("status") == "ok"})
            walls.append(json.loads((path / "run.json").read_text())["wall_s"])
    with tempfile.TemporaryDirectory() as scratch:
        directory = arguments.keep or Path(scratch)
        for index in range(0 if arguments.read else arguments.runs):
            cells, wall = one_run(arguments.spec, Path(directory) / f"run{index}", arguments.budget, arguments.rounds)
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
    return 0 if coverage >= TARGET_COVERAGE else 1


if __name__ == "__main__":
    sys.exit(main())
