"""Does ``fwbench history`` find a 1.25x step within 3 runs, and stay quiet on a flat history?

    python bench/history_check.py [RUN_DIR ...] [--save FILE] [--runs 60] [--step 1.25] [--seed 1]
                                  [--penalties 3 6 10 12]

Histories are built from real recorded runs: for every cell measured in three rounds or more in the given
run directories (default: ``bench/history_rounds.json``, the round medians of seven runs of this project's
machine on 2026-12-06, two ``make bench`` and five of issue 31's mixed spec, saved with ``--save``), a history
of ``--runs`` runs is made whose run medians are the cell's own median times noise resampled from this
machine's rounds: each simulated run draws three round deviations (log round median less the log median of its
cell, from the same framework and mode across every given run) and keeps their median, as a run of three
rounds does.  Each cell gets a flat history and one with a ``--step`` slowdown starting at a random run
between a third and two thirds of the way.  For each penalty factor it prints the share of stepped series
whose step was found within 3 runs of where it starts (a change of the right sign at an index from the start
to the start + 3) and the false changes per 20 flat series; the last line is the default penalty's
(``fwbench.stats.changepoints``).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fwbench.records.results import load_results  # noqa: E402
from fwbench.stats.changepoints import PENALTY_FACTOR, detect  # noqa: E402

FOUND_WITHIN = 3
SAVED = Path(__file__).resolve().parent / "history_rounds.json"


def deviations(paths: list[Path]) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per framework/mode, every round's log deviation from its cell's log median; per cell, its median."""
    by_series: dict[str, list[float]] = {}
    medians: dict[str, float] = {}
    for path in paths:
        frame = load_results(path)
        for _, row in frame[frame["status"] == "ok"].iterrows():
            rounds = row.get("round_medians_s")
            if not isinstance(rounds, (list, tuple)) or len(rounds) < 3:
                continue
            centre = statistics.median(math.log(value) for value in rounds)
            by_series.setdefault(f"{row['framework']}/{row['mode']}", []).extend(
                math.log(value) - centre for value in rounds)
            medians.setdefault(f"{row['cell_id']}|{row['framework']}/{row['mode']}", float(row["median_s"]))
    return by_series, medians


def history(median: float, pool: list[float], runs: int, generator: random.Random, step: float = 1.0,
            start: int | None = None) -> list[float]:
    """``runs`` run medians: the median of three resampled round deviations each, times ``step`` from ``start``."""
    found = []
    for index in range(runs):
        noise = statistics.median(generator.choice(pool) for _ in range(3))
        factor = step if start is not None and index >= start else 1.0
        found.append(median * math.exp(noise) * factor)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dirs", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--step", type=float, default=1.25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--penalties", type=float, nargs="*", default=[3.0, 6.0, 10.0, 12.0])
    parser.add_argument("--save", type=Path, help="write the runs' round deviations and medians here (JSON)")
    arguments = parser.parse_args()
    if arguments.runs_dirs:
        paths = arguments.runs_dirs
        pools, medians = deviations(paths)
    else:
        saved = json.loads(SAVED.read_text())
        paths, pools, medians = saved["runs"], saved["deviations"], saved["medians"]
    if arguments.save:
        arguments.save.write_text(json.dumps({"runs": [str(path) for path in paths], "deviations": pools,
                                              "medians": medians}, separators=(",", ":")))
    if not medians:
        print("no cell with three rounds or more in", ", ".join(map(str, paths)))
        return 2
    print(f"{len(medians)} series from {len(paths)} runs; round deviations per framework/mode: "
          + ", ".join(f"{name} sd {statistics.pstdev(values):.3f}" for name, values in sorted(pools.items())))
    penalties = sorted(set(arguments.penalties) | {PENALTY_FACTOR})
    results = {}
    for penalty in penalties:
        generator = random.Random(arguments.seed)
        found = false = 0
        for key, median in sorted(medians.items()):
            pool = pools[key.split("|")[1]]
            flat = history(median, pool, arguments.runs, generator)
            false += len(detect(flat, penalty).changes)
            start = generator.randrange(arguments.runs // 3, 2 * arguments.runs // 3)
            stepped = history(median, pool, arguments.runs, generator, arguments.step, start)
            changes = detect(stepped, penalty).changes
            found += any(start <= change.index <= start + FOUND_WITHIN and change.size > 1 for change in changes)
        results[penalty] = (found / len(medians), false / len(medians) * 20)
        print(f"penalty {penalty:5.1f}: {arguments.step}x step found within {FOUND_WITHIN} runs in "
              f"{found / len(medians):.0%} of {len(medians)} series; {false / len(medians) * 20:.2f} false changes "
              "per 20 flat series")
    share, false = results[PENALTY_FACTOR]
    print(f"history check (penalty {PENALTY_FACTOR:g}, {arguments.runs} runs): step found in {share:.0%}, "
          f"{false:.2f} false changes per 20 flat series")
    return 0


if __name__ == "__main__":
    sys.exit(main())
