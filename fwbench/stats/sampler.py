"""The sampler: how a cell's calls are timed.  It knows no framework: it is handed ``sync``.

For one cell, :func:`measure` (or a :class:`Sampler`, whose phases let the cells of several workers take
turns)

1. times the first call on its own (``first_call_s``: trace, compile and run);
2. warms up, timing each warm-up call, in windows of ``warmup_s``: a second
   window always, and more while each window's calls ran faster than the
   one before's by more than noise explains (:func:`faster_beyond_noise`:
   the calls are still speeding up), until
   ``max_warmup_s`` of warm-up after the first window.  A window with a call
   20 times slower than the fastest and 10 ms or longer (a re-trace) starts
   the warm-up again after it, twice at most; after a compile (the first
   call, or such a call) it lasts at least 0.2 s, because right after an XLA
   compile jitted calls run slower, and steadily so, for about 150 ms.  Then
   it picks the number of inner loops so one sample lasts at least
   ``min_sample_s`` (microsecond ops stay measurable above the clock's
   resolution and the loop's own overhead);
3. takes samples of ``n_loops`` calls, each call followed by ``sync`` inside
   the timed region, until the 95% confidence interval of the median is within
   ``target_rel_ci`` of it (relative half-width) or the time budget is spent,
   but never fewer than ``min_samples`` (3 for calls so slow that
   ``min_samples`` of them would take more than twice the budget);
4. summarises the per-call times (sample time / n_loops).

The garbage collector is off while sampling, as in ``timeit``.  The budget
counts the cell's own sampling time.

Two optional hooks come from the adapter: a ``device_timer`` (CUDA events in
PyTorch) whose start is recorded before a sample's calls and whose end after
the last call, before the sync, as Triton's ``do_bench`` does, giving the
device's own time beside the host's; and ``flush`` (``cache: cold``), called
before every sample outside the timed region, with one call per sample so
that every call starts with a cold last-level cache.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from fwbench.stats.intervals import normal_quantile
from fwbench.stats.timing import DeviceTimer, Measurement, TimerSettings, relative_ci_half_width


def _run(call: Callable[[], Any], sync: Callable[[Any], None] | None, loops: int,
         clock: Callable[[], float], previous: Any = None, device_timer: DeviceTimer | None = None
         ) -> tuple[float, Any]:
    """Time ``loops`` calls, each followed by ``sync`` (None: the calls are synchronous already).

    ``previous`` is the result that the last timed region kept; the caller
    passes its only reference, and it is released inside this timed region,
    so every call pays for freeing its own result, as it does in user code
    and in ``timeit`` (freeing 100 MB is several ms of unmapping pages).
    Only the last call's result is kept (for verification): holding each
    result until the next call returns would keep two outputs alive at once
    and defeat the allocator's reuse of the freed block, making every call
    pay for fresh pages, which user code that drops its results does not.
    ``device_timer`` brackets the calls on the device (see the module docstring).
    """
    if sync is None:
        start = clock()
        del previous
        for _ in range(loops - 1):
            call()
        output = call()
        return clock() - start, output
    start = clock()
    del previous
    if device_timer is not None:
        device_timer.start()
    for _ in range(loops - 1):
        sync(call())
    output = call()
    if device_timer is not None:
        device_timer.stop()
    sync(output)
    return clock() - start, output


STILL_WARMING = 0.97  # a warm-up window whose median call is this much faster than the last one's: warm on
# ... when the speed-up is more than the machine's noise: with this many calls in each window, a one-sided rank
# test at WARMING_Z; with fewer, a median at most FEW_CALLS_WARMING times the last one's (10% lower).
RANK_TEST_CALLS = 5
WARMING_Z = normal_quantile(0.99)  # 2.326
FEW_CALLS_WARMING = 0.9
COMPILED = 20  # a call this many times slower than the fastest warm-up call compiled something
SETTLE_AFTER_COMPILE_S = 0.2  # after a compile, calls run slower for a while (XLA: about 150 ms) though steadily
COMPILE_MIN_S = 0.01  # a compile takes at least this long; a microsecond call's hiccups (interrupts) do not
MAX_RESTARTS = 2  # re-traces the warm-up starts again after, at most


def faster_beyond_noise(window: list[float], previous: list[float]) -> bool:
    """Whether the calls of ``window`` ran faster than those of ``previous`` by more than noise explains.

    A median at least 3% lower (:data:`STILL_WARMING`), and, with :data:`RANK_TEST_CALLS` calls or more in
    each window, a one-sided Mann-Whitney test at the 1% level (normal approximation, ties counted half);
    with fewer, a median at least 10% lower.  On this project's 2-core VM the median of a 50 ms window of
    a fixed GEMM moves by about 20% (sd of log, ``python bench/noise_floor.py``), so the 3% rule alone kept
    cells warming on noise: in a ``make bench`` the median cell warmed 0.24 s a round (one in six to the
    cap), longer than it sampled.  The rank test takes the calls as independent; this machine's calls are
    correlated over about 10 ms, so its real level is above 1%, and the 3% gate bounds what that costs."""
    new, old = statistics.median(window), statistics.median(previous)
    if new > STILL_WARMING * old:
        return False
    if len(window) < RANK_TEST_CALLS or len(previous) < RANK_TEST_CALLS:
        return new <= FEW_CALLS_WARMING * old
    return _rank_z(window, previous) >= WARMING_Z


def _rank_z(smaller: list[float], larger: list[float]) -> float:
    """Mann-Whitney's z for "``smaller`` tends to lie below ``larger``" (ties counted half, no tie correction)."""
    pooled = sorted([(value, 0) for value in smaller] + [(value, 1) for value in larger])
    rank_sum = 0.0
    index = 0
    while index < len(pooled):
        end = index
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[index][0]:
            end += 1
        middle_rank = (index + end) / 2 + 1
        rank_sum += middle_rank * sum(1 for position in range(index, end + 1) if pooled[position][1] == 1)
        index = end + 1
    n_small, n_large = len(smaller), len(larger)
    u_large = rank_sum - n_large * (n_large + 1) / 2  # pairs in which the larger sample's value is above
    mean = n_small * n_large / 2
    deviation = math.sqrt(n_small * n_large * (n_small + n_large + 1) / 12)
    return (u_large - mean) / deviation


def compiled(call_s: float, fastest_s: float) -> bool:
    """Whether a call this long, beside the fastest warm-up call, compiled something."""
    return call_s >= COMPILE_MIN_S and call_s >= COMPILED * fastest_s


class _Kept:
    """The result the last timed region kept; :meth:`take` hands over the only reference, for
    :func:`_run` to release inside the next timed region."""

    def __init__(self) -> None:
        self.value: Any = None

    def take(self) -> Any:
        value, self.value = self.value, None
        return value


def choose_loops(per_call_s: float, min_sample_s: float) -> int:
    """Smallest of 1, 2, 5, 10, 20, 50, ... calls that lasts at least ``min_sample_s``."""
    if per_call_s <= 0:
        per_call_s = 1e-9
    loops = 1
    steps = (2, 2.5, 2)
    index = 0
    while loops * per_call_s < min_sample_s and loops < 10**7:
        loops = int(loops * steps[index % 3])
        index += 1
    return loops


# A call this many blocks long or longer gets no untimed call before its turn: over 2 fwbench runs of the
# rows=16384 and n=4000 sizes (fusion.yaml, matrix_powers.yaml; a scratch log in the child), the untimed call
# and the turn's first sample differed by a median of 0.7% in log for calls of 40-100 ms and -2.5% above (33
# turns), against 3.7% for calls of 2-20 ms (63 turns): waking threads and refilling caches are microseconds
# against such a call, and the untimed calls of 40 ms or more took about 25 s of a 400 s make bench.
REWARM_BELOW_BLOCKS = 2


class Sampler:
    """The phases of :func:`measure`, so that cells of different workers can take turns (``--interleave``).

    ``start()`` makes the first call (then calls ``after_first_call``, if given) and warms up; each
    ``sample()`` takes one sample of ``n_loops`` calls; ``done()`` applies the stopping rule.  The
    budget counts this cell's own sampling time, so turns taken by other
    cells in between do not use it up.
    """

    def __init__(self, call: Callable[[], Any], sync: Callable[[Any], None],
                 settings: TimerSettings = TimerSettings(), clock: Callable[[], float] = time.perf_counter,
                 device_timer: DeviceTimer | None = None, flush: Callable[[], None] | None = None,
                 after_first_call: Callable[[], None] | None = None) -> None:
        self.call, self.sync, self.settings, self.clock = call, sync, settings, clock
        self.device_timer, self.flush, self.after_first_call = device_timer, flush, after_first_call
        self.device_samples: list[float] = []
        self.first_call_s = 0.0
        self.loops = 1
        self.expected_sample_s = 0.0  # one sample's length as the warm-up's fastest call predicts it
        self.warmup_calls = 0
        self.samples: list[float] = []
        self.sampling_s = 0.0
        self.timed_s = 0.0
        self.converged = False
        self.kept = _Kept()

    def start(self) -> None:
        self.first_call_s, self.kept.value = _run(self.call, self.sync, 1, self.clock)
        self.timed_s = self.first_call_s
        if self.after_first_call is not None:
            self.after_first_call()
        warmup_times: list[float] = []
        windows: list[list[float]] = []
        restarts = 0
        while True:
            first = not warmup_times
            window = self._warm_window(first)
            warmup_times.extend(window)
            if self.settings.warmup_s <= 0:
                break
            if first:  # a re-trace in the first warm-up call shows only later: the cap counts from here
                warmup_start = self.clock()
            fastest = min(warmup_times)
            if restarts < MAX_RESTARTS and compiled(max(window), fastest):
                # A call of this window compiled (a JAX training step re-traces on its second call, when the
                # state it returned differs from the initial one): the warm-up starts again after it.
                windows, warmup_start = [], self.clock()
                restarts += 1
                continue
            windows.append(window)
            warmed_s = self.clock() - warmup_start
            if warmed_s >= self.settings.max_warmup_s:
                break
            settled = not compiled(self.first_call_s, fastest) or warmed_s >= SETTLE_AFTER_COMPILE_S
            if settled and len(windows) >= 2 and not faster_beyond_noise(windows[-1], windows[-2]):
                break
        self.warmup_calls = len(warmup_times)
        # A cold cache needs the flush before every call, so every sample is one call.
        self.loops = 1 if self.flush is not None else choose_loops(min(warmup_times), self.settings.min_sample_s)
        self.expected_sample_s = min(warmup_times) * self.loops

    def _warm_window(self, first: bool) -> list[float]:
        """Warm-up calls for ``warmup_s`` (the first window also ``min_warmup_calls``); their times."""
        times: list[float] = []
        start = self.clock()
        while ((first and len(times) < self.settings.min_warmup_calls) or not times
               or self.clock() - start < self.settings.warmup_s):
            elapsed, self.kept.value = _run(self.call, self.sync, 1, self.clock, self.kept.take())
            times.append(elapsed)
            self.timed_s += elapsed
            if len(times) >= 1000:
                break
        return times

    def rewarm(self) -> None:
        """One untimed call before a turn (``--interleave``): threads that slept while other workers ran
        wake up here, as they are awake in a loop that calls the workload back to back, not in a sample."""
        elapsed, self.kept.value = _run(self.call, self.sync, 1, self.clock, self.kept.take())
        self.timed_s += elapsed

    def sample(self) -> float:
        if self.flush is not None:
            self.flush()  # outside the timed region
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            elapsed, self.kept.value = _run(self.call, self.sync, self.loops, self.clock, self.kept.take(),
                                            self.device_timer)
        finally:
            if gc_was_enabled:
                gc.enable()
        self.timed_s += elapsed
        self.sampling_s += elapsed
        self.samples.append(elapsed / self.loops)
        if self.device_timer is not None and self.sync is not None:
            self.device_samples.append(self.device_timer.elapsed_s() / self.loops)
        return self.samples[-1]

    def minimum_samples(self) -> int:
        """``min_samples``, or 3 when that many samples would take more than twice the budget."""
        wanted = self.settings.min_samples
        if wanted > 3 and self.samples and self.samples[0] * self.loops * wanted > 2 * self.settings.budget_s:
            return 3
        return wanted

    def done(self, interval_stops: bool = True) -> bool:
        """Whether sampling is over: the interval met ``target_rel_ci`` (``converged``; it ends sampling only
        with ``interval_stops``), or the budget or ``max_samples`` ran out.  Cells taking turns pass False: a
        cell that stopped once its own median was precise left its partners rounds of one turn pair or two
        (6 of 24 cell-rounds of the 1024 GEMM in a ``make bench``), and the ratios rest on those pairs."""
        if len(self.samples) < self.minimum_samples():
            return False
        if relative_ci_half_width(sorted(self.samples)) <= self.settings.target_rel_ci:
            self.converged = True
            if interval_stops:
                return True
        return self.sampling_s >= self.settings.budget_s or len(self.samples) >= self.settings.max_samples

    def measurement(self) -> Measurement:
        return Measurement(first_call_s=self.first_call_s, samples_s=self.samples, n_loops=self.loops,
                           warmup_calls=self.warmup_calls, converged=self.converged, timed_s=self.timed_s,
                           output=self.kept.value, device_samples_s=self.device_samples)


def measure(
    call: Callable[[], Any],
    sync: Callable[[Any], None],
    settings: TimerSettings = TimerSettings(),
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Time ``call`` (which takes no arguments); see the module docstring."""
    sampler = Sampler(call, sync, settings, clock)
    sampler.start()
    while True:
        sampler.sample()
        if sampler.done():
            return sampler.measurement()


@dataclass
class TimeitMeasurement:
    """IPython ``%timeit``: ``repeats`` timings of ``loops`` calls each, the best reported.

    No warm-up and no separate first call: with ``loops`` given (``-n5``) the
    compile lands in the first loop of the first repeat; without, the
    auto-ranging calls (1, 10, 100, ... until 0.2 s) absorb it.  Either way
    best-of-N hides it, which is the point of reproducing the method.
    """

    per_loop_s: list[float]
    loops: int
    repeats: int
    autoranged: bool
    output: Any = field(repr=False, default=None)

    @property
    def best_s(self) -> float:
        return min(self.per_loop_s)


IPYTHON_AUTORANGE_S = 0.2


def measure_timeit(call: Callable[[], Any], sync: Callable[[Any], None], repeats: int = 5,
                   loops: int | None = None, clock: Callable[[], float] = time.perf_counter) -> TimeitMeasurement:
    """Time like IPython's ``%timeit [-n loops] [-r repeats]``, the statement ending in ``sync``."""
    autoranged = loops is None
    kept = _Kept()
    if loops is None:
        for power in range(10):
            loops = 10**power
            elapsed, kept.value = _run(call, sync, loops, clock, kept.take())
            if elapsed >= IPYTHON_AUTORANGE_S:
                break
    per_loop = []
    for _ in range(repeats):
        elapsed, kept.value = _run(call, sync, loops, clock, kept.take())
        per_loop.append(elapsed / loops)
    return TimeitMeasurement(per_loop, loops, repeats, autoranged, kept.value)
