"""Issue 29's check: fwbench's times in each allocator regime, and with kernel variables unset, against natural
scripts in the same conditions, each in its own process.

    python bench/fairness.py [--n 1000] [--gemm 1024] [--natural-runs 3] [--budget 3] [--rounds 3]
                             [--series torch/compile tensorflow/xla] [--skip-regimes] [--skip-gemm]

Part 1 (regimes): ``fwbench run --allocator steady`` and ``--allocator fresh`` of ``x + x*x + x*x*x`` at n for
numpy/eager, jax/eager, jax/jit, torch/eager, tensorflow/eager and tensorflow/function (or ``--series``, e.g.
the compiled modes torch/compile and tensorflow/xla, whose compiles cost 20-60 s a round); then each series'
natural script (bench/natural.py, ``--steady`` for the steady regime) ``--natural-runs`` times, each in a
fresh process.  Part 2 (kernels): ``fwbench run`` of numpy's n x n GEMM with the environment as it is and
with ``--unset-env`` for every variable that changes NumPy's kernels (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE),
against natural scripts with and without them.  Each row prints fwbench's median, its 95% interval (of the
next run's median, over rounds), its fresh pages a call, the natural scripts' medians and fresh pages, and
whether the natural median of medians lies inside fwbench's interval.  On a machine that sets no such
variable, run it as ``OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 python bench/fairness.py`` to see both
kernel sets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import natural  # noqa: E402

from fwbench.machine.kernels import variables_changing_kernels  # noqa: E402
from fwbench.records.results import read_cells  # noqa: E402

SERIES = (("numpy", "eager"), ("jax", "eager"), ("jax", "jit"), ("torch", "eager"), ("tensorflow", "eager"),
          ("tensorflow", "function"))
SPEC = """version: 1
workloads:
  - name: {name}
    kind: expression
    expr: "{expr}"
    inputs:
{inputs}
    sweep: {{n: [{n}]}}
    modes: [{modes}]
"""
POWER_SUM_INPUTS = "      x: {shape: [n, n], dtype: float32, init: normal}"
GEMM_INPUTS = ("      A: {shape: [n, n], dtype: float32, init: normal}\n"
               "      B: {shape: [n, n], dtype: float32, init: normal}")


def fwbench_run(directory: Path, name: str, spec_text: str, extra: list[str], budget: float,
                rounds: int) -> dict[tuple[str, str], dict]:
    """One ``fwbench run`` of the spec; each ok cell's combined row by (framework, mode)."""
    spec = directory / f"{name}.yaml"
    spec.write_text(spec_text)
    out = directory / name
    subprocess.run([sys.executable, "-m", "fwbench", "run", str(spec), "--no-calibrate", "--out", str(out),
                    "--overwrite", "--budget", str(budget), "--rounds", str(rounds), *extra],
                   check=True, cwd=ROOT, capture_output=True)
    return {(row["framework"], row["mode"]): row for row in read_cells(out) if row.get("status") == "ok"}


def row_text(label: str, ours: dict | None, theirs: list[dict]) -> str:
    if ours is None:
        return f"{label:34s} fwbench: no ok cell"
    medians = [result["median_s"] for result in theirs]
    natural_median = statistics.median(medians)
    low, high = ours["ci95_low_s"], ours["ci95_high_s"]
    inside = "yes" if low <= natural_median <= high else "NO"
    faults = statistics.median(result["page_faults_per_call"] for result in theirs)
    return (f"{label:34s} {ours['median_s'] * 1e3:8.3f} ms [{low * 1e3:7.3f}, {high * 1e3:7.3f}] "
            f"{ours.get('page_faults_per_call') or 0:7.0f}   "
            + " ".join(f"{value * 1e3:7.3f}" for value in medians) + f" ms {faults:7.0f}   {inside}")


HEADER = (f"{'series':34s} {'fwbench median [95% interval]':>32s} {'faults':>7s}   "
          f"{'natural medians':>23s} {'faults':>7s}   inside")


def regimes(directory: Path, arguments: argparse.Namespace, num_threads: int) -> None:
    series = [tuple(name.split("/")) for name in arguments.series] if arguments.series else SERIES
    modes = ", ".join(f"{framework}/{mode}" for framework, mode in series)
    spec = SPEC.format(name="power_sum", expr="x + x*x + x*x*x", inputs=POWER_SUM_INPUTS, n=arguments.n,
                       modes=modes)
    print(f"x + x*x + x*x*x, n={arguments.n}, float32, {num_threads} threads; fwbench --budget {arguments.budget} "
          f"--rounds {arguments.rounds}; natural scripts {arguments.natural_runs} fresh processes each")
    print(HEADER)
    for regime in ("steady", "fresh"):
        ours = fwbench_run(directory, f"power_sum_{regime}", spec, ["--allocator", regime], arguments.budget,
                           arguments.rounds)
        for framework, mode in series:
            theirs = [natural.run(framework, mode, arguments.n, num_threads, steady=regime == "steady")
                      for _ in range(arguments.natural_runs)]
            print(row_text(f"{regime}: {framework}/{mode}", ours.get((framework, mode)), theirs), flush=True)


def kernels(directory: Path, arguments: argparse.Namespace, num_threads: int) -> None:
    variables = tuple(variables_changing_kernels("numpy", os.environ))
    spec = SPEC.format(name="matmul", expr="A @ B", inputs=GEMM_INPUTS, n=arguments.gemm, modes="numpy/eager")
    print(f"\nnumpy A @ B, n={arguments.gemm}, float32, {num_threads} threads; variables changing NumPy's kernels "
          f"here: {', '.join(f'{name}={os.environ[name]}' for name in variables) or 'none'}")
    print(HEADER)
    settings = [("as the environment is", ())]
    if variables:
        settings.append((f"without {', '.join(variables)}", variables))
    for label, unset in settings:
        extra = [word for name in unset for word in ("--unset-env", name)]
        ours = fwbench_run(directory, f"matmul_{len(unset)}", spec, extra, arguments.budget, arguments.rounds)
        theirs = [natural.run("numpy", "eager", arguments.gemm, num_threads, workload="matmul", steady=True,
                              unset=unset) for _ in range(arguments.natural_runs)]
        print(row_text(label, ours.get(("numpy", "eager")), theirs), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--gemm", type=int, default=1024)
    parser.add_argument("--natural-runs", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--series", nargs="+", metavar="FRAMEWORK/MODE",
                        help="the series of part 1 (default: the six listed above)")
    parser.add_argument("--skip-regimes", action="store_true")
    parser.add_argument("--skip-gemm", action="store_true")
    arguments = parser.parse_args()
    num_threads = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as directory:
        if not arguments.skip_regimes:
            regimes(Path(directory), arguments, num_threads)
        if not arguments.skip_gemm:
            kernels(Path(directory), arguments, num_threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
