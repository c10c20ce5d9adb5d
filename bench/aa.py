"""A/A: each series against a copy of itself, measured as if it were another series; how often they differ.

    python bench/aa.py SPEC [--turn-ms 20 | --sequential] [--budget 1] [--rounds 3] [--results DIR]

Runs ``fwbench run SPEC --replicas 2`` (interleaved with ``--turn-ms`` unless ``--sequential``): every series
and its copy (``numpy/eager#2``) are separate processes of the same code, so any interval of copy/original
that excludes 1 is a false call.  For each workload size and series it prints the copy's ratio and interval as
the leaderboard makes them (turns paired in time for an interleaved run, round medians otherwise), and as its
last line ``A/A: N questions, K called different``; at a 95% level about 5% may be.  ``--results DIR`` reads
an existing ``--replicas 2`` run instead.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fwbench.records.results import load_results  # noqa: E402
from fwbench.report import aggregate  # noqa: E402
from fwbench.stats import verdicts  # noqa: E402
from fwbench.stats.ratios import ratio  # noqa: E402


def copies(results: Path) -> list[tuple[str, str, object]]:
    """(size, series, ratio of its copy over it) for every series with a copy in the run."""
    frame = aggregate.prepare(load_results(results))
    frame = frame[frame["status"] == "ok"]
    pairs = []
    for (workload, size, device), group in frame.groupby(["workload", "size_label", "device"], sort=False):
        by_series = {row["series"]: row for _, row in group.iterrows()}
        for name, row in by_series.items():
            if "#" in name:
                continue
            copy = by_series.get(f"{name}#2")
            if copy is not None:
                pairs.append((row, copy))
    priors, turn_priors = verdicts.round_pair_priors([(c, o) for o, c in pairs]), verdicts.turn_pair_priors(
        [(c, o) for o, c in pairs])
    found = []
    for original, copy in pairs:
        run = original.get("run_id")
        looks = verdicts.looks_of([original, copy])  # the level the run's looks spent (stats.verdicts)
        level = verdicts.spending_level(looks) if looks else verdicts.CONFIDENCE
        found.append((f"{original['workload']} {original['size_label']}", original["series"],
                      ratio(copy, original, level, prior=priors.get(run), turn_prior=turn_priors.get(run))))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?")
    parser.add_argument("--turn-ms", type=float, default=20.0)
    parser.add_argument("--sequential", action="store_true", help="rounds one after another (fwbench run --sequential)")
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results", type=Path)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        results = arguments.results
        if results is None:
            if not arguments.spec:
                parser.error("give a SPEC or --results DIR")
            results = Path(directory) / "aa"
            extra = ["--sequential"] if arguments.sequential else ["--turn-ms", str(arguments.turn_ms)]
            completed = subprocess.run([sys.executable, "-m", "fwbench", "run", arguments.spec, "--replicas", "2",
                                        "--no-calibrate", "--out", str(results), "--budget", str(arguments.budget),
                                        "--rounds", str(arguments.rounds), *extra], cwd=ROOT, capture_output=True,
                                       text=True)
            if completed.returncode not in (0, 3):
                print(completed.stderr[-2000:], file=sys.stderr)
                return completed.returncode
        found = copies(results)
    different = 0
    for size, series, value in found:
        called = value.has_interval and (value.low > 1 or value.high < 1)
        different += called
        interval = f"[{value.low:.3f}, {value.high:.3f}]" if value.has_interval else "(no interval)"
        print(f"{size:28s} {series:22s} copy/original {value.value:.3f} {interval} "
              f"{'DIFFERENT' if called else 'same'}  ({value.method})")
    print(f"A/A: {len(found)} questions, {different} called different")
    return 0


if __name__ == "__main__":
    sys.exit(main())
