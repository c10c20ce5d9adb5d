"""Issue 11's check: one ``fwbench run`` against natural scripts run right after, each in its own process.

    python bench/parity.py [--sizes 1000 5000]

Runs ``fwbench run`` on ``x + x*x + x*x*x`` for numpy/eager, torch/eager,
tensorflow/eager and jax/jit, then each series' natural script
(bench/natural.py) once per size in a fresh process, and prints each median
ratio (target within 10%) and each speedup over NumPy by both (target within
15%).  A single pair of runs carries the machine's process-to-process spread;
bench/harness.py repeats and alternates for an interval.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import natural  # noqa: E402

from fwbench.records.results import read_records  # noqa: E402

SERIES = (("numpy", "eager"), ("torch", "eager"), ("tensorflow", "eager"), ("jax", "jit"))
SPEC = """version: 1
workloads:
  - name: power_sum
    kind: expression
    expr: "x + x*x + x*x*x"
    inputs:
      x: {{shape: [n, n], dtype: float32, init: normal}}
    sweep: {{n: {sizes}}}
    modes: [{modes}]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    arguments = parser.parse_args()
    num_threads = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as directory:
        spec = Path(directory) / "power_sum.yaml"
        spec.write_text(SPEC.format(sizes=arguments.sizes, modes=", ".join(f"{f}/{m}" for f, m in SERIES)))
        subprocess.run([sys.executable, "-m", "fwbench", "run", str(spec), "--device", "cpu", "--no-calibrate",
                        "--threads", str(num_threads), "--out", str(Path(directory) / "run")],
                       check=True, cwd=ROOT, capture_output=True)
        ours = {(r["framework"], r["mode"], r["params"]["n"]): r["median_s"]
                for r in read_records(Path(directory) / "run") if r.get("status") == "ok"}
    theirs = {(framework, mode, n): natural.run(framework, mode, n, num_threads)["median_s"]
              for framework, mode in SERIES for n in arguments.sizes}
    missed = 0
    print(f"{'series':18s} {'n':>6s} {'fwbench':>10s} {'natural':>10s} {'ratio':>6s}   speedup over numpy: "
          "fwbench  natural  ratio")
    for framework, mode in SERIES:
        for n in arguments.sizes:
            key = (framework, mode, n)
            ratio = ours[key] / theirs[key]
            ok = abs(ratio - 1) <= 0.10
            line = (f"{framework + '/' + mode:18s} {n:6d} {ours[key] * 1e3:8.3f}ms {theirs[key] * 1e3:8.3f}ms "
                    f"{ratio:6.3f}{'' if ok else ' !'}")
            if framework != "numpy":
                mine = ours[("numpy", "eager", n)] / ours[key]
                yours = theirs[("numpy", "eager", n)] / theirs[key]
                speed_ok = abs(mine / yours - 1) <= 0.15
                ok = ok and speed_ok
                line += f"   {mine:24.2f}x {yours:7.2f}x {mine / yours:6.3f}{'' if speed_ok else ' !'}"
            missed += not ok
            print(line)
    print("all within 10% (medians) and 15% (speedups)" if not missed else f"{missed} rows outside (marked !)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
