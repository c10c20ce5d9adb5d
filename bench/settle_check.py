"""How well does "about N more rounds would settle it" foresee the interval that more rounds give?

    python bench/settle_check.py RUN_DIR ... [--early 3] [--late 10]

For every ``fwbench ab`` run given whose cells all measured ``--late`` rounds or more (``fwbench ab``'s
default ten, when no cell settled at a look: ``--rounds-per-start 5`` turns the looks off), each cell's
candidate/baseline ratio is made twice, as ``fwbench ab`` makes it (the run's pooled prior included): from
its first ``--early`` rounds and from its first ``--late``.  The early interval's half-width is projected to
``--late`` rounds two ways:

* ``root``: its standard error shrinking as one over the root of the rounds, nothing else (fwbench before
  session 24);
* ``t``: that, and the t quantile's degrees of freedom growing by one a round
  (:func:`fwbench.stats.settle.projected_half_width`, what every "more rounds" figure now uses).

It prints, for each, the median and quartiles over cells of log(late half-width / projected half-width): a
median near 0 foresees the interval more rounds give, one below 0 asks for more rounds than a question needs.
A run directory of another kind, or with a cell short of ``--late`` rounds, is skipped with the reason.
"""

from __future__ import annotations

import argparse
import collections
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fwbench.records.combine import combine_rounds  # noqa: E402
from fwbench.records.results import read_records  # noqa: E402
from fwbench.report import ab  # noqa: E402
from fwbench.stats.ratios import ratio  # noqa: E402
from fwbench.stats.settle import log_half_width, projected_half_width  # noqa: E402
from fwbench.stats.verdicts import turn_pair_priors  # noqa: E402


def cell_ratios(records: list[dict], rounds: int) -> dict[str, object]:
    """Each cell's candidate/baseline ratio over its first ``rounds`` rounds, as ``fwbench ab`` makes it."""
    rows = combine_rounds([record for record in records if (record.get("round") or 1) <= rounds])
    pairs: dict[str, dict[str, dict]] = collections.defaultdict(dict)
    for row in rows:
        if row.get("side") in ab.SIDES and row.get("status") == "ok":
            pairs[ab.base_cell_id(str(row["cell_id"]))][row["side"]] = row
    measured = [(sides["candidate"], sides["baseline"]) for sides in pairs.values() if len(sides) == 2]
    priors = turn_pair_priors(measured)
    return {cell: ratio(sides["candidate"], sides["baseline"], ab.AB_LEVEL,
                        turn_prior=priors.get(sides["candidate"].get("run_id")))
            for cell, sides in pairs.items() if len(sides) == 2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="fwbench ab run directories")
    parser.add_argument("--early", type=int, default=3, help="the rounds the projection starts from")
    parser.add_argument("--late", type=int, default=10, help="the rounds it projects to")
    options = parser.parse_args()
    if not 2 <= options.early < options.late:
        print(f"bench/settle_check.py: --early/--late: got {options.early} and {options.late}, expected 2 <= --early < "
              "--late; pass e.g. --early 3 --late 10", file=sys.stderr)
        return 2
    found: dict[str, list[float]] = {"root": [], "t": []}
    used = 0
    for run in options.runs:
        records = read_records(run) if (run / "results.jsonl").is_file() else []
        if not any(record.get("side") in ab.SIDES for record in records):
            print(f"{run}: skipped, not an fwbench ab run")
            continue
        counts = collections.Counter(record["cell_id"] for record in records if record.get("status") == "ok")
        if min(counts.values()) < options.late:
            print(f"{run}: skipped, a cell has {min(counts.values())} rounds, fewer than --late {options.late}")
            continue
        used += 1
        early, late = cell_ratios(records, options.early), cell_ratios(records, options.late)
        for cell, value in early.items():
            final = late.get(cell)
            if final is None or not (value.has_interval and final.has_interval):
                continue
            actual = log_half_width(final)
            root = log_half_width(value) * math.sqrt(value.rounds / final.rounds)
            found["root"].append(math.log(actual / root))
            found["t"].append(math.log(actual / projected_half_width(value, final.rounds - value.rounds)))
    if not found["t"]:
        print("no cells to check")
        return 1
    print(f"{used} runs, {len(found['t'])} cells: log(half-width after {options.late} rounds / projected from "
          f"{options.early})")
    for name, values in found.items():
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        print(f"  {name:4s} median {statistics.median(values):+.3f}, quartiles {quartiles[0]:+.3f} to "
              f"{quartiles[2]:+.3f}, mean {statistics.mean(values):+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
