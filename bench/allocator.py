"""How much the host allocator's state moves a timing: the measurement behind fwbench's fork per cell.

    python bench/allocator.py [--n 1000] [--threads 2]

For each framework, the power sum ``x + x*x + x*x*x`` on an N x N float32
array is timed by ``timeit`` in a fresh process in three allocator states:

* natural: import the framework, make the input, call (a user's script);
* after a large free: the same, but one 16 MB block is allocated and freed
  before timing, as any earlier work in a long-lived process would;
  glibc then raises its mmap threshold to 16 MB and its trim threshold to
  32 MB for the rest of the process's life, and temporaries come from a heap
  that is never given back;
* fixed mmap threshold: ``mallopt(M_MMAP_THRESHOLD, 32 MB)`` at start, which
  switches off glibc's dynamic thresholds but leaves the trim threshold at
  128 KB.

It prints the median per call and the minor page faults per call (fresh
pages the allocator touched).  Then, for PyTorch, natural scripts that differ
in incidental ways (the input made by ``torch.randn`` instead of
``torch.from_numpy``; each result assigned, ``y = f(x)``), a few fresh
processes each: PyTorch allocates with ``posix_memalign``, which cannot reuse
a freed block of exactly the requested size, so whether a call gets fresh
pages depends on what the process allocated before: the time of one and the
same expression moves between states about 15x apart.  fwbench runs every cell in a child forked from
its worker right after the framework import, so each cell is timed in the
natural state, whatever ran before it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SCRIPT = """
import ctypes, json, resource, statistics, timeit
variant, framework, n = {variant!r}, {framework!r}, {n}
if variant == "fixed mmap threshold":
    ctypes.CDLL("libc.so.6").mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
{imports}
import numpy as np
{make_host}
x = {make_input}
if variant == "after a large free":
    block = np.ones(16 << 20, dtype=np.uint8)
    del block
def f(x):
    return x + x*x + x*x*x
{compile}
{call}
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
timer = timeit.Timer({statement!r}, globals=globals())
number = max(1, timer.autorange()[0] // 2)
before = faults()
times = [t / number for t in timer.repeat(repeat=7, number=number)]
print(json.dumps({{"median_s": statistics.median(times), "faults_per_call": (faults() - before) / (7 * number)}}))
"""
FRAMEWORKS = {
    "numpy/eager": {"imports": "", "make_input": "host", "compile": "", "call": "f(x)"},
    "torch/eager": {"imports": "import torch", "make_input": "torch.from_numpy(host)", "compile": "",
                    "call": "f(x)"},
    "jax/jit": {"imports": "import jax, jax.numpy as jnp", "make_input": "jnp.asarray(host)",
                "compile": "f = jax.jit(f)", "call": "f(x).block_until_ready()"},
    "tensorflow/eager": {"imports": "import tensorflow as tf", "make_input": "tf.constant(host)", "compile": "",
                         "call": "f(x)"},
}
VARIANTS = ("natural", "after a large free", "fixed mmap threshold")
MAKE_HOST = "host = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)"
# Natural PyTorch scripts that differ from the harness's (bench/natural.py) in incidental ways only: the input
# made by torch itself, or each call's result assigned to a variable (the previous one is freed when the next
# call returns, as in a loop `for batch in data: out = f(batch)`).
INPUT_VARIANTS = {
    "torch.randn input": {"make_host": "torch.manual_seed(0)", "make_input": "torch.randn(n, n)"},
    "y = f(x)": {"statement": "y = f(x)"},
}
TORCH_VARIANTS = ("natural", *INPUT_VARIANTS)


def measure(series: str, variant: str, n: int, num_threads: int) -> dict:
    framework = series.split("/")[0]
    settings = {"make_host": MAKE_HOST, **FRAMEWORKS[series], **INPUT_VARIANTS.get(variant, {})}
    statement = settings.pop("statement", settings["call"])
    source = SCRIPT.format(variant=variant, framework=framework, n=n, statement=statement, **settings)
    environment = dict(os.environ, OMP_NUM_THREADS=str(num_threads), MKL_NUM_THREADS=str(num_threads),
                       OPENBLAS_NUM_THREADS=str(num_threads), TF_NUM_INTRAOP_THREADS=str(num_threads),
                       TF_NUM_INTEROP_THREADS=str(num_threads), TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    cores = sorted(os.sched_getaffinity(0))[:num_threads]
    completed = subprocess.run([sys.executable, "-c", source], env=environment, capture_output=True, text=True,
                               preexec_fn=lambda: os.sched_setaffinity(0, cores), check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=3, help="processes per torch variant")
    arguments = parser.parse_args()
    print(f"x + x*x + x*x*x, {arguments.n}x{arguments.n} float32, {arguments.threads} threads, "
          "timeit median per call and minor page faults per call, each in a fresh process")
    print(f"{'series':18s}" + "".join(f"{variant:>32s}" for variant in VARIANTS))
    for series in FRAMEWORKS:
        cells = []
        for variant in VARIANTS:
            result = measure(series, variant, arguments.n, arguments.threads)
            cells.append(f"{result['median_s'] * 1e3:9.3f} ms {result['faults_per_call']:8.0f} faults")
        print(f"{series:18s}" + "".join(f"{cell:>32s}" for cell in cells), flush=True)
    print(f"\ntorch/eager, natural scripts that differ in incidental ways, {arguments.repeats} fresh processes each:")
    for variant in TORCH_VARIANTS:
        results = [measure("torch/eager", variant, arguments.n, arguments.threads) for _ in range(arguments.repeats)]
        print(f"  {variant:20s}" + "  ".join(
            f"{result['median_s'] * 1e3:6.3f} ms ({result['faults_per_call']:4.0f} faults)" for result in results),
            flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
