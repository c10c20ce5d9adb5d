"""Do fwbench's verdicts hold from one run to the next?  Reads run directories of the same spec.

    python bench/verdicts.py RUN_A RUN_B [RUN_C ...] [--threshold 5%]

Prints, for every ordered pair of runs, what ``fwbench compare`` decides
(the target for runs of unchanged code: no ``slower`` and no ``faster``) and
how large a slowdown each cell could have been called (its resolution),
and across all the runs, the workload sizes whose single winner differs from
one run to another (the target: none; a size tied in one run and won in
another is counted apart, as it is not a contradiction).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fwbench.records.results import load_results  # noqa: E402
from fwbench.report import aggregate  # noqa: E402
from fwbench.report.compare import compare_frames, probe_ratio  # noqa: E402

SHARES = (0.1, 0.25, 0.5, 0.75, 0.9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--threshold", default="5%")
    arguments = parser.parse_args()
    threshold = float(arguments.threshold.rstrip("%")) / (100 if arguments.threshold.endswith("%") else 1)
    frames = {path: load_results(path) for path in arguments.runs}
    alarms = 0
    print(f"compare, threshold {threshold:.0%}:")
    for first, second in itertools.combinations(arguments.runs, 2):
        result = compare_frames(frames[first], frames[second], threshold, machine_ratio=probe_ratio(first, second))
        counts = result.counts()
        alarms += counts["slower"] + counts["faster"]
        print(f"  {first.name} -> {second.name}: {result.summary()}")
        # How large a slowdown each cell could be called (compare's own 'can call' column)
        resolution = sorted(float(value) for value in result.table["resolution"].dropna())
        if resolution:
            picks = [resolution[min(len(resolution) - 1, int(share * len(resolution)))] for share in SHARES]
            print("    smallest slowdown a cell could be called, at the " + ", ".join(
                f"{share:.0%}: {value:.3g}x" for share, value in zip(SHARES, picks)) + " quantile of cells")
        for row in result.verdicts("slower", "faster").to_dict("records"):
            print(f"    {row['verdict']}: {row['workload']}[{row['params']}] {row['framework']}/{row['mode']} "
                  f"{row['ratio']:.3f} ({row['ratio_low']:.3f}-{row['ratio_high']:.3f})")
    winners: dict[tuple, list[tuple[str, str]]] = {}
    for path, frame in frames.items():
        board = aggregate.leaderboard(aggregate.prepare(frame))
        for row in board.to_dict("records"):
            key = (row["workload"], row["params"], row["device"], row["dtype"])
            winners.setdefault(key, []).append((path.name, aggregate.winner_text(row)))
    contradictions = tied_somewhere = stable_single = 0
    for key, entries in winners.items():
        singles = {text for _, text in entries if not text.startswith("tied")}
        if len(singles) > 1:
            contradictions += 1
            print(f"  different single winners at {key[0]}[{key[1]}]: " + "; ".join(f"{run}: {text}"
                                                                                   for run, text in entries))
        elif any(text.startswith("tied") for _, text in entries):
            tied_somewhere += 1
        else:
            stable_single += 1
    print(f"winners over {len(frames)} runs and {len(winners)} workload sizes: {stable_single} the same single "
          f"winner in every run, {tied_somewhere} tied in at least one run (never a different winner), "
          f"{contradictions} with different single winners")
    return 1 if alarms or contradictions else 0


if __name__ == "__main__":
    sys.exit(main())
