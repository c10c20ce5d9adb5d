"""What a user's own script measures: the independent side of fwbench's whole-path accuracy check.

    python bench/natural.py FRAMEWORK MODE N [--workload power_sum|matrix_power|matmul|mlp_small|mlp_medium]
                            [--steady] [--unset-env NAME ...] [--show]

For one framework, mode and workload, :func:`script` writes the plain Python
script a user of that framework would write: import the framework, make the
input ``x`` (an N x N float32 standard normal; divided by sqrt(N) for matrix
powers), define the function with the framework's own ops (``x + x*x +
x*x*x``, or A**4 with ``linalg.matrix_power``; TensorFlow, which has none,
squares twice; for ``mlp_small``/``mlp_medium`` N is the batch and the
function is one Adam training step of the MLP of workloads/mlp_training.yaml),
compile it for the mode, call it once, then time it with
``timeit`` (autoranged to ~0.1 s per repeat, 9 repeats) with the sync inside
the statement where the framework dispatches asynchronously.  :func:`run`
executes that script in a fresh Python process, with the thread settings a
fwbench worker gets (the same environment variables and CPU affinity), and
returns the median and fastest per-call seconds.

``--steady`` puts the script in the allocator regime of a program that has run its loop once, as fwbench's
default ``--allocator steady`` does: its first lines free a block of 32 MiB less two pages (glibc then keeps
later temporaries in its heap).  Without it the script is a fresh script (``--allocator fresh``).
``--unset-env NAME`` runs it without that variable, as ``fwbench run --unset-env NAME`` runs the workers.

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
from fwbench.worker.process import STEADY_BLOCK_BYTES  # noqa: E402  (the steady regime's block, one definition)

REPEATS = 9
# The body of ``def f(x):`` per workload and framework.
BODIES = {
    "power_sum": dict.fromkeys(("numpy", "jax", "torch", "tensorflow"), "return x + x*x + x*x*x"),
    "matrix_power": {
        "numpy": "return np.linalg.matrix_power(x, 4)",
        "jax": "return jnp.linalg.matrix_power(x, 4)",
        "torch": "return torch.linalg.matrix_power(x, 4)",
        "tensorflow": "x2 = tf.linalg.matmul(x, x)\n    return tf.linalg.matmul(x2, x2)",
    },
    "matmul": dict.fromkeys(("numpy", "jax", "torch", "tensorflow"), "return x @ x"),
}
SCALES = {"power_sum": "", "matrix_power": " / np.float32(np.sqrt({n}))", "matmul": ""}
# The steady regime's first lines: free one block of glibc's largest dynamic mmap threshold (fwbench.worker.process).
STEADY_PROLOGUE = ("import ctypes\nlibc = ctypes.CDLL(None)\nlibc.malloc.restype = ctypes.c_void_p\n"
                   "libc.malloc.argtypes = [ctypes.c_size_t]\nlibc.free.argtypes = [ctypes.c_void_p]\n"
                   f"libc.free(libc.malloc({STEADY_BLOCK_BYTES}))\n")

# MLP training steps (size = the batch): the layer widths of workloads/mlp_training.yaml, Adam, softmax
# cross-entropy, four batches used in turn; each framework's script is what its users write.  Adam's bias
# corrections are computed once per step, as fwbench's steps and optax do (once per parameter they are 24
# more eager ops a step, which JAX's and TensorFlow's eager modes pay and fwbench's step does not).
MLP_LAYERS = {"mlp_small": (64, 128, 128, 10), "mlp_medium": (784, 1024, 1024, 10)}
_MLP_DATA = """rng = np.random.default_rng(0)
sizes, batch = {layers}, {batch}
X = rng.standard_normal((4, batch, sizes[0]), dtype=np.float32)
Y = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], (4, batch))]
init = []
for fan_in, fan_out in zip(sizes, sizes[1:]):
    init += [rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(np.sqrt(2 / fan_in)),
             np.zeros(fan_out, dtype=np.float32)]
"""
_MLP_STEPS = {
    "numpy": """params = [p.copy() for p in init]
m = [np.zeros_like(p) for p in params]
v = [np.zeros_like(p) for p in params]
t = 0
def step():
    global t
    x, y = X[t % 4], Y[t % 4]
    acts, pre = [x], []
    for i in range(0, len(params), 2):
        z = acts[-1] @ params[i] + params[i + 1]
        pre.append(z)
        if i < len(params) - 2:
            acts.append(np.maximum(z, 0))
    shifted = pre[-1] - pre[-1].max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    loss = -(y * logp).sum(axis=-1).mean()
    delta = (np.exp(logp) - y) / x.shape[0]
    grads = [None] * len(params)
    for layer in range(len(params) // 2 - 1, -1, -1):
        grads[2 * layer] = acts[layer].T @ delta
        grads[2 * layer + 1] = delta.sum(axis=0)
        if layer:
            delta = (delta @ params[2 * layer].T) * (pre[layer - 1] > 0)
    t += 1
    for p, g, mi, vi in zip(params, grads, m, v):
        mi *= 0.9
        mi += 0.1 * g
        vi *= 0.999
        vi += 0.001 * g * g
        p -= 0.001 * (mi / (1 - 0.9**t)) / (np.sqrt(vi / (1 - 0.999**t)) + 1e-8)
    return loss
""",
    "jax": """def loss_fn(params, x, y):
    h = x
    for i in range(0, len(params) - 2, 2):
        h = jax.nn.relu(h @ params[i] + params[i + 1])
    logits = h @ params[-2] + params[-1]
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))
def update(params, m, v, t, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    t = t + 1
    m = [0.9 * mi + 0.1 * g for mi, g in zip(m, grads)]
    v = [0.999 * vi + 0.001 * g * g for vi, g in zip(v, grads)]
    c1, c2 = 1 - 0.9**t, 1 - 0.999**t
    params = [p - 0.001 * (mi / c1) / (jnp.sqrt(vi / c2) + 1e-8) for p, mi, vi in zip(params, m, v)]
    return loss, params, m, v, t
{compile}state = [[jnp.asarray(p) for p in init], [jnp.zeros(p.shape) for p in init],
         [jnp.zeros(p.shape) for p in init], jnp.float32(0)]
batches = [(jnp.asarray(X[i]), jnp.asarray(Y[i])) for i in range(4)]
counter = [0]
def step():
    x, y = batches[counter[0] % 4]
    counter[0] += 1
    loss, state[0], state[1], state[2], state[3] = update(*state, x, y)
    return loss, state[0]
""",
    "torch": """layers = []
for i in range(0, len(init), 2):
    linear = torch.nn.Linear(*init[i].shape)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(init[i].T))
        linear.bias.copy_(torch.from_numpy(init[i + 1]))
    layers.append(linear)
    if i < len(init) - 2:
        layers.append(torch.nn.ReLU())
model = torch.nn.Sequential(*layers)
loss_fn = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
forward, optimizer_step = model, optimizer.step
{compile}batches = [(torch.from_numpy(X[i]), torch.from_numpy(Y[i])) for i in range(4)]
counter = [0]
def step():
    x, y = batches[counter[0] % 4]
    counter[0] += 1
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(forward(x), y)
    loss.backward()
    optimizer_step()
    return loss
""",
    "tensorflow": """variables = [tf.Variable(p) for p in init]
moments = [(tf.Variable(tf.zeros_like(p)), tf.Variable(tf.zeros_like(p))) for p in init]
t = tf.Variable(0.0)
def train_step(x, y):
    with tf.GradientTape() as tape:
        h = x
        for i in range(0, len(variables) - 2, 2):
            h = tf.nn.relu(h @ variables[i] + variables[i + 1])
        logits = h @ variables[-2] + variables[-1]
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
    grads = tape.gradient(loss, variables)
    t.assign_add(1.0)
    c1, c2 = 1 - 0.9**t, 1 - 0.999**t
    for p, g, (mi, vi) in zip(variables, grads, moments):
        mi.assign(0.9 * mi + 0.1 * g)
        vi.assign(0.999 * vi + 0.001 * g * g)
        p.assign_sub(0.001 * (mi / c1) / (tf.sqrt(vi / c2) + 1e-8))
    return loss
{compile}batches = [(tf.constant(X[i]), tf.constant(Y[i])) for i in range(4)]
counter = [0]
def step():
    x, y = batches[counter[0] % 4]
    counter[0] += 1
    return train_step(x, y)
""",
}
_MLP_COMPILE = {
    ("numpy", "eager"): "", ("jax", "eager"): "", ("jax", "jit"): "update = jax.jit(update)\n",
    ("torch", "eager"): "",
    ("torch", "compile"): "forward = torch.compile(model)\noptimizer_step = torch.compile(optimizer.step)\n",
    ("tensorflow", "eager"): "", ("tensorflow", "function"): "train_step = tf.function(train_step)\n",
    ("tensorflow", "xla"): "train_step = tf.function(train_step, jit_compile=True)\n",
}
_MLP_STATEMENTS = {"jax": "jax.block_until_ready(step())"}

# Per framework: the imports, how its users make the input from a NumPy array, the namespace they
# write element-wise functions with, how they compile for each mode, and the statement timeit times.
_PROLOGUES = {
    "numpy": "import numpy as np\n",
    "jax": "import jax\nimport jax.numpy as jnp\nimport numpy as np\n",
    "torch": "import torch\nimport numpy as np\n",
    "tensorflow": "import tensorflow as tf\nimport numpy as np\n",
}
_HOST = "np.random.default_rng(0).standard_normal(({n}, {n}), dtype=np.float32){scale}"
_INPUTS = {
    "numpy": "x = " + _HOST + "\n",
    "jax": "x = jnp.asarray(" + _HOST + ")\nx.block_until_ready()\n",
    "torch": "x = torch.from_numpy(" + _HOST + ")\n",
    "tensorflow": "x = tf.constant(" + _HOST + ")\n",
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


def script(framework: str, mode: str, n: int, workload: str = "power_sum", steady: bool = False) -> str:
    """The plain script: import, make the input, define and compile f, call once, timeit, print JSON; with
    ``steady``, a large block freed first."""
    head = STEADY_PROLOGUE if steady else ""
    if workload in MLP_LAYERS:
        return (
            head + "import json, resource, timeit\n"
            + _PROLOGUES[framework]
            + _MLP_DATA.format(layers=MLP_LAYERS[workload], batch=n)
            + _MLP_STEPS[framework].replace("{compile}", _MLP_COMPILE[(framework, mode)])
            + "step()\n"
            + _timing(_MLP_STATEMENTS.get(framework, "step()"))
        )
    set_up, statement = function_script(framework, mode, n, workload)
    return head + "import json, resource, timeit\n" + set_up + "f(x)\n" + _timing(statement)


def function_script(framework: str, mode: str, n: int, workload: str = "power_sum") -> tuple[str, str]:
    """The set-up a user writes (imports, the input ``x``, ``f`` compiled for the mode) and the statement that
    calls it, with the sync where the framework dispatches asynchronously (bench/rmit.py builds on these)."""
    set_up = (_PROLOGUES[framework]
              + _INPUTS[framework].format(n=n, scale=SCALES[workload].format(n=n))
              + f"def f(x):\n    {BODIES[workload][framework]}\n"
              + _COMPILE[(framework, mode)])
    return set_up, _STATEMENTS.get(framework, "f(x)")


def _timing(statement: str) -> str:
    """timeit of ``statement``: autoranged to ~0.1 s per repeat; the median and fastest per call, and the minor
    page faults per call (fresh pages the allocator touched) over the repeats, as JSON."""
    return (
        f"timer = timeit.Timer(lambda: {statement})\n"
        + "number, _ = timer.autorange()\n"
        + "number = max(1, number // 2)\n"  # autorange reaches >= 0.2 s; repeats of ~0.1 s
        + "faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        + f"times = [t / number for t in timer.repeat(repeat={REPEATS}, number=number)]\n"
        + f"faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / ({REPEATS} * number)\n"
        + "times.sort()\n"
        + "print(json.dumps({'median_s': times[len(times) // 2], 'min_s': times[0], 'loops': number,\n"
        + "                  'page_faults_per_call': faults}))\n"
    )


def run(framework: str, mode: str, n: int, num_threads: int, workload: str = "power_sum",
        timeout_s: float = 600, steady: bool = False, unset: tuple[str, ...] = ()) -> dict:
    """Run :func:`script` in a fresh process with a fwbench worker's thread settings (less the ``unset``
    variables); its JSON result."""
    environment = {name: value for name, value in os.environ.items() if name not in unset}
    environment.update(get_adapter(framework).thread_environment(num_threads, "cpu"))
    cores = sorted(os.sched_getaffinity(0))[:num_threads]
    completed = subprocess.run(
        [sys.executable, "-c", script(framework, mode, n, workload, steady)], env=environment,
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
    parser.add_argument("--workload", default="power_sum", choices=sorted([*BODIES, *MLP_LAYERS]))
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--steady", action="store_true",
                        help="free a 32 MiB block first: the allocator regime of fwbench's --allocator steady")
    parser.add_argument("--unset-env", action="append", default=[], metavar="NAME",
                        help="run the script without this environment variable (repeatable)")
    parser.add_argument("--show", action="store_true", help="print the script instead of running it")
    arguments = parser.parse_args()
    if arguments.show:
        print(script(arguments.framework, arguments.mode, arguments.n, arguments.workload, arguments.steady))
        return 0
    print(json.dumps(run(arguments.framework, arguments.mode, arguments.n, arguments.threads, arguments.workload,
                         steady=arguments.steady, unset=tuple(arguments.unset_env))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
