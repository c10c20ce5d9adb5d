"""Ratios from turns paired in time (``fwbench run --interleave --turn-ms``) against bench/rmit.py's.

    python bench/paired.py [--n 1000] [--series numpy/eager jax/jit torch/eager] [--turn-ms 20]
                           [--budget 3] [--rounds 3] [--rmit-seconds 3] [--results DIR]

Runs ``fwbench run`` of ``x + x*x + x*x*x`` at n with ``--interleave --turn-ms``, reads its round records and
prints, for every series against the first, the ratio from turns paired in time with its interval clustered
by round (:mod:`fwbench.stats.paired`), beside the leaderboard's ratio of round medians; then runs
bench/rmit.py on the same series (persistent natural scripts alternating, nothing of fwbench measuring) and
prints its ratios.  With ``--results DIR`` it reads an existing interleaved run instead of starting one (and
runs no rmit).  Both sides are separate processes on the same machine; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from parity import SPEC  # noqa: E402  (the power sum spec, sizes and modes to fill in)

from fwbench.records.results import read_records  # noqa: E402
from fwbench.stats.paired import ratios_against, turns_by_size  # noqa: E402


def paired_table(results: Path, baseline: str) -> None:
    for size, by_series in turns_by_size(read_records(results)).items():
        print(f"fwbench {results.name}: {size[0]} {dict(size[1])}, against {baseline}")
        for series, ratio in sorted(ratios_against(by_series, baseline).items()):
            rounds = ", ".join(f"{value:.3f}" for value in ratio.round_ratios)
            print(f"  PAIRED {series}/{baseline} {ratio.ratio:.3f} [{ratio.low:.3f}, {ratio.high:.3f}] "
                  f"({ratio.pairs} pairs; rounds {rounds}; {ratio.method})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--series", nargs="+", default=["numpy/eager", "jax/jit", "torch/eager"])
    parser.add_argument("--turn-ms", type=float, default=20.0)
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rmit-seconds", type=float, default=3.0)
    parser.add_argument("--results", type=Path)
    arguments = parser.parse_args()
    baseline = arguments.series[0]
    if arguments.results:
        paired_table(arguments.results, baseline)
        return 0
    with tempfile.TemporaryDirectory() as directory:
        spec = Path(directory) / "power_sum.yaml"
        spec.write_text(SPEC.format(sizes=[arguments.n], modes=", ".join(arguments.series)))
        out = Path(directory) / "interleaved"
        subprocess.run([sys.executable, "-m", "fwbench", "run", str(spec), "--no-calibrate", "--out", str(out),
                        "--interleave", "--turn-ms", str(arguments.turn_ms), "--budget", str(arguments.budget),
                        "--rounds", str(arguments.rounds)], check=True, cwd=ROOT, capture_output=True)
        paired_table(out, baseline)
    completed = subprocess.run([sys.executable, str(ROOT / "bench" / "rmit.py"), "--n", str(arguments.n),
                                "--series", *arguments.series, "--turn-ms", str(arguments.turn_ms),
                                "--seconds", str(arguments.rmit_seconds), "--sets", str(arguments.rounds)],
                               check=True, cwd=ROOT, capture_output=True, text=True)
    print(completed.stdout.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
