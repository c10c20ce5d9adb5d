"""Does ``fwbench compare`` stay quiet on unchanged code and call a real slowdown?  Real runs, printed.

    python bench/compare_power.py [--rounds 3] [--budget 1] [--frameworks numpy,torch]

Runs bench/threads.yaml (a 1024x1024 float32 GEMM, eager mode) three times in fresh
processes: twice with 2 threads (the same code twice: compare should flag
nothing) and once with 1 thread (about 1.6-2x slower here: compare should
call every cell slower).  Prints each comparison's summary and per-cell
verdicts, and the share of affected cells called slower.  These are the
figures the unit tests used to assert on real timings; they now live here,
because a machine whose own speed wanders by 1.6x can turn any of them.
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
from fwbench.report.compare import compare_frames, probe_ratio  # noqa: E402

SPEC = ROOT / "bench" / "threads.yaml"
MORE_WORK = ROOT / "bench" / "more_work.yaml"


def fwbench_run(out: Path, threads: int, rounds: int, budget: float, frameworks: str, spec: Path = SPEC) -> None:
    command = [sys.executable, "-m", "fwbench", "run", str(spec), "--out", str(out), "--overwrite",
               "--threads", str(threads), "--rounds", str(rounds), "--budget", str(budget),
               "--device", "cpu", "--mode", "eager", "--no-calibrate"]
    for framework in frameworks.split(","):
        command += ["--framework", framework]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def report(name: str, base: Path, new: Path, expected: str) -> float:
    result = compare_frames(load_results(base), load_results(new), machine_ratio=probe_ratio(base, new))
    print(f"{name}: {result.summary()}")
    table = result.table
    for row in table.to_dict("records"):
        print(f"  {row['framework']}/{row['mode']}: ratio {row['ratio']:.3f} "
              f"({row['ratio_low']:.3f}-{row['ratio_high']:.3f}) {row['verdict']}")
    share = float((table["verdict"] == expected).mean()) if len(table) else float("nan")
    print(f"  share of cells '{expected}': {share:.2f}")
    return share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--frameworks", default="numpy,jax,torch,tensorflow")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fwbench-compare-power-") as scratch:
        runs = {name: Path(scratch) / name for name in ("base", "again", "one_thread", "more_work")}
        for name, threads in (("base", 2), ("again", 2), ("one_thread", 1), ("more_work", 2)):
            fwbench_run(runs[name], threads, arguments.rounds, arguments.budget, arguments.frameworks,
                        MORE_WORK if name == "more_work" else SPEC)
        report("same code twice (target: nothing flagged)", runs["base"], runs["again"], "same")
        report("--threads 1 against 2 (target: every cell slower)", runs["base"], runs["one_thread"], "slower")
        report("25% more work (target: at least 80% of cells slower)", runs["base"], runs["more_work"], "slower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
