"""Does ``fwbench ab`` see 25% more work, and only that?  Three A/B runs each way, against a plain run's time.

    python bench/ab_check.py [--invocations 3] [--sizes 256 1024] [--budget S] [--extra-ab ARG ...]
                             [--candidate-env K=V ...] [--candidate PYTHON] [--skip-identical] [--repeats 8]

Writes a workload module outside the repository (a temporary directory) whose function, the same in all
four frameworks' eager modes, adds its input to itself ``AB_REPEATS`` times (default ``--repeats``, 8) and
divides by the count (so every side's result is the input, and checks).  Then:

``--invocations`` times (the machine's speed drifts, so each pair is timed against a plain run made just
before it):

1. one plain ``fwbench run`` of that spec (eager modes, the sizes given), timed;
2. one ``fwbench ab`` whose candidate sets ``AB_REPEATS`` a quarter higher (25% more operations: 10 against
   8): the cells called ``slower``;
3. one ``fwbench ab`` with both sides identical: the cells called ``slower`` or ``faster`` (false alarms).

``--candidate-env`` and ``--candidate`` replace step 2's candidate (e.g. ``--candidate-env
OMP_NUM_THREADS=1``, or another virtual environment's Python) and ``--skip-identical`` drops step 3.
Every invocation's time is printed against its plain run's; the last line sums it up.

``fwbench ab`` runs one thread per framework by default (since session 26) and the plain run its own default
(the usable cores): the time compared is each command's as a user types it.  ``--extra-ab=--threads=2`` checks
``ab`` at two threads; ``python bench/ab_truth.py [--threads 2]`` gives the slowdown to expect either way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODULE = textwrap.dedent('''
    """AB_REPEATS additions of the input to itself, divided by the count: the input again, with more work."""
    import os


    def inputs(params, rng):
        return {"x": rng.standard_normal((params["n"], params["n"])).astype("float32")}


    def reference(x):
        return x.astype("float64")


    def work(x):
        repeats = int(os.environ.get("AB_REPEATS", "BASELINE_REPEATS"))
        total = x
        for _ in range(repeats - 1):
            total = total + x
        return total / repeats


    numpy = jax = torch = tensorflow = work
''')


def spec_text(sizes: list[int]) -> str:
    return textwrap.dedent(f'''
        version: 1
        workloads:
          - name: more_work
            kind: python
            module: abmore
            dtype: float32
            sweep: {{n: [{", ".join(map(str, sizes))}]}}
    ''')


def fwbench(arguments: list[str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "fwbench", *arguments], cwd=ROOT, capture_output=True,
                               text=True)
    return completed.returncode, time.perf_counter() - started, completed.stderr[-1500:]


def ab_round(spec: Path, out: Path, extra: list[str]) -> tuple[dict, float]:
    code, seconds, error = fwbench(["ab", str(spec), "-m", "eager", "--out", str(out), "--overwrite", "--json",
                                    str(out) + ".json", *extra])
    if code not in (0, 1):
        raise SystemExit(f"fwbench ab failed ({code}): {error}")
    return json.loads(Path(str(out) + ".json").read_text()), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 1024])
    parser.add_argument("--budget", type=float, default=None,
                        help="--budget of both commands (default: each command's own, 1 s for run, 0.6 s for ab)")
    parser.add_argument("--candidate-env", action="append", default=None)
    parser.add_argument("--candidate", default=None)
    parser.add_argument("--extra-ab", action="append", default=[])
    parser.add_argument("--skip-identical", action="store_true")
    parser.add_argument("--repeats", type=int, default=8,
                        help="the baseline's operations a call (a multiple of 4; the candidate does a quarter more)")
    parser.add_argument("--keep", type=Path)
    arguments = parser.parse_args()
    if arguments.repeats < 4 or arguments.repeats % 4:
        parser.error(f"--repeats: got {arguments.repeats}, expected a multiple of 4 (the candidate does a quarter "
                     "more); try --repeats 8")
    with tempfile.TemporaryDirectory() as scratch:
        directory = arguments.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "abmore.py").write_text(MODULE.replace("BASELINE_REPEATS", str(arguments.repeats)))
        spec = directory / "more_work.yaml"
        spec.write_text(spec_text(arguments.sizes))
        more = [f"AB_REPEATS={arguments.repeats * 5 // 4}"]
        changed = [f"--candidate-env={item}" for item in (arguments.candidate_env or more)]
        if arguments.candidate:
            changed.append(f"--candidate={arguments.candidate}")
        budget = ["--budget", str(arguments.budget)] if arguments.budget is not None else []
        common = [*budget, *arguments.extra_ab]
        flagged_shares, false_alarms, worst = [], 0, 0.0
        for number in range(1, arguments.invocations + 1):
            # The machine's speed drifts by 1.6-1.9x within an hour, so every pair of A/B invocations is set
            # against a plain run made just before it.
            code, plain_s, error = fwbench(["run", str(spec), "-m", "eager", "--no-calibrate", *budget,
                                            "--out", str(directory / f"plain{number}"),
                                            "--overwrite"])
            if code not in (0, 3):
                raise SystemExit(f"fwbench run failed ({code}): {error}")
            print(f"plain fwbench run {number}: {plain_s:.0f} s", flush=True)
            document, seconds = ab_round(spec, directory / f"changed{number}", changed + common)
            cells = document["cells"]
            slower = sum(cell["verdict"] == "slower" for cell in cells)
            flagged_shares.append((slower, len(cells)))
            worst = max(worst, seconds / plain_s)
            print(f"changed {number}: {slower} of {len(cells)} cells slower, {document['counts']} "
                  f"({seconds:.0f} s, {seconds / plain_s:.2f}x the plain run)", flush=True)
            for cell in cells:
                interval = f"[{cell['low']:.3f}, {cell['high']:.3f}]" if cell["low"] is not None else ""
                print(f"    {cell['cell']:40s} {cell['verdict']:9s} {cell['ratio'] or 0:.3f} {interval}")
            if not arguments.skip_identical:
                document, seconds = ab_round(spec, directory / f"identical{number}", common)
                alarms = sum(cell["verdict"] in ("slower", "faster") for cell in document["cells"])
                false_alarms += alarms
                worst = max(worst, seconds / plain_s)
                print(f"identical {number}: {alarms} of {len(document['cells'])} cells flagged, {document['counts']} "
                      f"({seconds:.0f} s, {seconds / plain_s:.2f}x the plain run)", flush=True)
        flagged = sum(slower for slower, _ in flagged_shares)
        total = sum(count for _, count in flagged_shares)
        print(f"ab check: changed side flagged slower in {flagged} of {total} cells ({flagged / total:.0%}); "
              f"identical sides: {false_alarms} cells flagged; slowest invocation {worst:.2f}x its plain run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
