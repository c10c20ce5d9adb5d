"""Is the sync inside the timed region, and does it matter?  Real timings, printed, never asserted.

    python bench/sync.py [--framework jax|tensorflow] [--size 600]

For a jitted A**4 in JAX and a tf.function A**4 in TensorFlow (with TensorFlow's
asynchronous execution switched on, as a GPU would run it), this prints four
per-call figures, each the fastest of several repeats, taken in turns so that
a burst of other work cannot land on one side only:

- unsynced: a plain loop that never waits (dispatch only);
- honest:   a loop that converts each result to NumPy (waits for it);
- timed:    fwbench's timer with the adapter's sync (``fwbench.stats.sampler.measure``);
- no-op:    the same timer with a sync that does nothing.

What to look for: ``timed`` close to ``honest`` (the ratio printed), and
``unsynced`` and ``no-op`` far below both.  If an adapter's sync were a no-op,
``timed`` would fall to ``no-op``.  The unit tests check the same property
without a clock (tests/adapters/test_sync.py spies on the real frameworks'
waits); this script shows its size on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fwbench.adapters import get_adapter  # noqa: E402
from fwbench.stats.sampler import measure  # noqa: E402
from fwbench.stats.timing import TimerSettings  # noqa: E402

SETTINGS = TimerSettings(min_samples=5, max_samples=5, min_sample_s=0.0, warmup_s=0.0, min_warmup_calls=1)


def fastest_per_call(body, repeats: int = 5, loops: int = 1) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(loops):
            body()
        times.append((time.perf_counter() - started) / loops)
    return min(times)


def figures(adapter, function, inputs, materialise) -> dict[str, float]:
    materialise(function(*inputs))
    unsynced = fastest_per_call(lambda: function(*inputs), loops=3)
    materialise(function(*inputs))
    honest, timed = [], []
    for _ in range(3):
        honest.append(fastest_per_call(lambda: materialise(function(*inputs))))
        timed.append(min(measure(lambda: function(*inputs), adapter.sync, SETTINGS).samples_s))
    materialise(function(*inputs))
    no_op = statistics.median(measure(lambda: function(*inputs), lambda _: None, SETTINGS).samples_s)
    materialise(function(*inputs))
    return {"unsynced": unsynced, "honest": min(honest), "timed": min(timed), "no-op": no_op}


def jax_case(size: int):
    adapter = get_adapter("jax")
    adapter.load(2)
    adapter.select_device("cpu")
    x = adapter.to_device(np.random.default_rng(0).standard_normal((size, size), dtype=np.float32))
    return adapter, adapter.compile(lambda a: ((a @ a) @ a) @ a, "jit"), [x], lambda r: np.asarray(r).sum()


def tensorflow_case(size: int):
    adapter = get_adapter("tensorflow")
    adapter.load(2)
    adapter.select_device("cpu")
    tf = adapter.tf
    tf.config.experimental.set_synchronous_execution(False)
    x = adapter.to_device(np.random.default_rng(0).standard_normal((size, size), dtype=np.float32))
    matmul = tf.linalg.matmul
    function = adapter.compile(lambda a: matmul(matmul(matmul(a, a), a), a), "function")
    return adapter, function, [x], lambda r: r.numpy().sum()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=["jax", "tensorflow"], action="append")
    parser.add_argument("--size", type=int, default=600)
    arguments = parser.parse_args()
    cases = {"jax": jax_case, "tensorflow": tensorflow_case}
    print(f"A**4 of a {arguments.size}x{arguments.size} float32 matrix, per call, fastest of 5 (x3 turns):")
    for name in arguments.framework or list(cases):
        result = figures(*cases[name](arguments.size))
        text = ", ".join(f"{key} {value * 1e3:.3f} ms" for key, value in result.items())
        print(f"  {name}: {text}; timed/honest {result['timed'] / result['honest']:.3f}, "
              f"no-op/honest {result['no-op'] / result['honest']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
