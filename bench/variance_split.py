"""Why a ratio stays undecided: how much of its round means' spread more turns could remove.

    python bench/variance_split.py RUN_DIR [RUN_DIR ...]

For every runner-up of every size of an interleaved run (against the size's fastest series), the variance
of its rounds' mean log-ratios splits into a part *between process sets* (a fresh set of processes draws its
own memory layout, allocator state and thread placement, and a neighbour's load moves memory-bound and
compute-bound code apart) and a part *within a round* (its turn pairs' variance over their count), by
:func:`fwbench.stats.paired.variance_parts`.  Per run it prints the medians of both (as standard deviations
of the log ratio), the share of the round means' variance that more turns per round could remove, and the
rounds a tie would need for a half-width of 5% if only the between part were left
(``(2 * sd_between / log 1.05)^2``): the floor that no turn length or budget per round lowers.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fwbench.stats.paired import turns_by_size, variance_parts  # noqa: E402


def split(run: Path) -> list:
    """The variance parts of every runner-up against its size's fastest series (by median of turn medians)."""
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]
    found = []
    for series in turns_by_size(records).values():
        medians = {name: statistics.median(statistics.median(turns.medians_s) for turns in by_round.values())
                   for name, by_round in series.items()}
        fastest = min(medians, key=medians.get)
        for name, by_round in series.items():
            shared = sorted(set(by_round) & set(series[fastest]))
            if name != fastest:
                parts = variance_parts([(by_round[number], series[fastest][number]) for number in shared])
                if parts is not None:
                    found.append(parts)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    arguments = parser.parse_args()
    for run in arguments.runs:
        parts = split(run)
        if not parts:
            print(f"{run}: no interleaved ratio with two rounds of two pairs")
            continue
        between = statistics.median(part.between for part in parts)
        within = statistics.median(part.within for part in parts)
        removable = statistics.fmean(part.within / (part.within + part.between) for part in parts
                                     if part.within + part.between > 0)
        pairs = statistics.median(part.pairs_per_round for part in parts)
        floor = (2 * math.sqrt(between) / math.log(1.05)) ** 2
        print(f"{run}: {len(parts)} ratios, {pairs:.0f} pairs a round (median); sd of the log ratio between process "
              f"sets {math.sqrt(between):.3f}, within a round's mean {math.sqrt(within):.3f}; more turns could "
              f"remove {removable:.0%} of the round means' variance; a tie needs about {floor:.0f} rounds for "
              f"+-5% from the between part alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
