"""What a user's own script measures: the independent side of fwbench's whole-path accuracy check.

    python bench/natural.py FRAMEWORK MODE N [--expr 'x + x*x + x*x*x'] [--threads T]

For one framework and mode, :func:`script` writes the plain Python script a
user of that framework would write: import the framework, make the input
``x`` (an N x N float32 standard normal), define the function with the
framework's own ops, compile it for the mode, call it once, then time it with
``timeit`` (autoranged to ~0.1 s per repeat, 9 repeats) with the sync inside
the statement where the framework dispatches asynchronously.  :func:`run`
executes that script in a fresh Python process, with the thread settings a
fwbench worker gets (the same environment variables and CPU affinity), and
returns the median and fastest per-call seconds.

Nothing of fwbench runs in that process: the script imports only the
framework, so a bias in fwbench's generated code, worker or timer shows up as
a ratio away from 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fwbench.adapters import get_adapter  # noqa: E402  (adapters import no framework at module level)

POWER_SUM = "x + x*x + x*x*x"
REPEATS = 9

# Per framework: the imports, how its users make the input from a NumPy array, the namespace they
# write element-wise functions with, how they compile for each mode, and the statement timeit times.
_PROLOGUES = {
    "numpy": "import numpy as np\n",
    "jax": "import jax\nimport jax.numpy as jnp\nimport numpy as np\n",
    "torch": "import torch\nimport numpy as np\n",
    "tensorflow": "import tensorflow as tf\nimport numpy as np\n",
}
_INPUTS = {
    "numpy": "x = np.random.default_rng(0).standard_normal(({n}, {n}), dtype=np.float32)\n",
    "jax": "x = jnp.asarray(np.random.default_rng(0).standard_normal(({n}, {n}), dtype=np.float32))\n"
           "x.block_until_ready()\n",
    "torch": "x = torch.from_numpy(np.random.default_rng(0).standard_normal(({n}, {n}), dtype=np.float32))\n",
    "tensorflow": "x = tf.constant(np.random.default_rng(0).standard_normal(({n}, {n}), dtype=np.float32))\n",
}
_COMPILE = {
    ("numpy", "eager"): "",
    ("jax", "eager"): "",
    ("jax", "jit"): "f = jax.jit(f)\n",
    ("torch", "eager"): "",
    ("torch", "compile"): "f = torch.compile(f, dynamic=False)\n",
    ("tensorflow", "eager"): "",
    ("tensorflow", "function"): "f = tf.function(f)\n",
    ("tensorflow", "xla"): "f = tf.function(f, jit_compile=True)\n",
}
# jax dispatches asynchronously on every backend; torch and TensorFlow on the CPU return finished results.
_STATEMENTS = {"jax": "f(x).block_until_ready()"}


def script(framework: str, mode: str, n: int, expression: str = POWER_SUM) -> str:
    """The plain script: import, make the input, define and compile f, call once, timeit, print JSON."""
    return (
        "import json, timeit\n"
        + _PROLOGUES[framework]
        + _INPUTS[framework].format(n=n)
        + f"def f(x):\n    return {expression}\n"
        + _COMPILE[(framework, mode)]
        + f"f(x)\n"
        + f"timer = timeit.Timer(lambda: {_STATEMENTS.get(framework, 'f(x)')})\n"
        + "number, _ = timer.autorange()\n"
        + "number = max(1, number // 2)\n"  # autorange reaches >= 0.2 s; repeats of ~0.1 s
        + f"times = [t / number for t in timer.repeat(repeat={REPEATS}, number=number)]\n"
        + "times.sort()\n"
        + "print(json.dumps({'median_s': times[len(times) // 2], 'min_s': times[0], 'loops': number}))\n"
    )


def run(framework: str, mode: str, n: int, num_threads: int, expression: str = POWER_SUM,
        timeout_s: float = 600) -> dict:
    """Run :func:`script` in a fresh process with a fwbench worker's thread settings; its JSON result."""
    environment = dict(os.environ)
    environment.update(get_adapter(framework).thread_environment(num_threads, "cpu"))
    cores = sorted(os.sched_getaffinity(0))[:num_threads]
    completed = subprocess.run(
        [sys.executable, "-c", script(framework, mode, n, expression)], env=environment,
        capture_output=True, text=True, timeout=timeout_s,
        preexec_fn=lambda: os.sched_setaffinity(0, cores), check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{framework}/{mode} n={n}: {completed.stderr.strip()[-800:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework")
    parser.add_argument("mode")
    parser.add_argument("n", type=int)
    parser.add_argument("--expr", default=POWER_SUM)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--show", action="store_true", help="print the script instead of running it")
    arguments = parser.parse_args()
    if arguments.show:
        print(script(arguments.framework, arguments.mode, arguments.n, arguments.expr))
        return 0
    print(json.dumps(run(arguments.framework, arguments.mode, arguments.n, arguments.threads, arguments.expr)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
