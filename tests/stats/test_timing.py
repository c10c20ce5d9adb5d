import math
import statistics

import pytest

from fwbench.stats.sampler import choose_loops, faster_beyond_noise, measure, measure_timeit
from fwbench.stats.timing import TimerSettings, median_ci, summarize


class FakeClock:
    """A clock that advances only when the fake workload 'runs'."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_median_ci_contains_median_and_narrows():
    samples = sorted(float(i) for i in range(1, 101))
    low, high = median_ci(samples)
    assert low <= statistics.median(samples) <= high
    assert (low, high) == (40.0, 61.0)  # ranks 40 and 61 for n=100 at 95%
    small_low, small_high = median_ci(sorted([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert (small_low, small_high) == (1.0, 5.0)  # the widest interval five samples have...


def test_below_six_samples_the_level_is_stated_not_called_95_percent():
    stats = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert stats["ci_level"] == pytest.approx(1 - 2 / 2**5)  # ...covers the median 93.75% of the time, not 95%
    assert stats["ci_level"] < 0.95
    assert summarize([float(i) for i in range(1, 7)])["ci_level"] >= 0.95  # six samples reach 95%


def test_summarize_fields():
    stats = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats["median_s"] == 3.0
    assert stats["min_s"] == 1.0
    assert stats["iqr_s"] == pytest.approx(2.0)
    assert stats["ci95_low_s"] <= 3.0 <= stats["ci95_high_s"]


def test_choose_loops_reaches_minimum_sample_time():
    assert choose_loops(0.5, 0.01) == 1
    assert choose_loops(1e-6, 0.01) == 10000
    assert choose_loops(3e-3, 0.01) == 5
    for per_call in (1e-7, 3.3e-5, 2e-4, 9e-3):
        assert choose_loops(per_call, 0.01) * per_call >= 0.01


def test_first_call_is_timed_apart_and_loops_calibrated():
    clock = FakeClock()
    calls = {"n": 0}

    def call():
        calls["n"] += 1
        clock.now += 2.0 if calls["n"] == 1 else 1e-4  # the first call compiles
        return calls["n"]

    synced = []
    result = measure(call, synced.append, TimerSettings(min_sample_s=0.01, budget_s=1.0), clock=clock)
    assert result.first_call_s == pytest.approx(2.0)
    assert result.n_loops == 100
    assert statistics.median(result.samples_s) == pytest.approx(1e-4)
    assert result.converged
    assert len(synced) == calls["n"]  # every call was synchronised


def test_sync_time_is_counted():
    clock = FakeClock()

    def call():
        clock.now += 1e-3
        return None

    def sync(_):
        clock.now += 4e-3  # the device finishes the work here

    result = measure(call, sync, TimerSettings(), clock=clock)
    assert statistics.median(result.samples_s) == pytest.approx(5e-3)


class SlowToFree:
    """A result whose release costs 3 ms of the fake clock, as unmapping a large array does."""

    def __init__(self, clock):
        self.clock = clock

    def __del__(self):
        self.clock.now += 3e-3


@pytest.mark.parametrize("method", ["fwbench", "timeit"])
def test_each_result_is_released_inside_a_timed_region(method):
    clock = FakeClock()

    def call():
        clock.now += 1e-3
        return SlowToFree(clock)

    if method == "fwbench":
        result = measure(call, lambda _: None, TimerSettings(), clock=clock)
        per_call = result.samples_s
        assert result.n_loops > 1
    else:
        result = measure_timeit(call, lambda _: None, repeats=5, clock=clock)
        per_call = result.per_loop_s
    # 1 ms of work and 3 ms to free its result: a timer that drops the kept result outside its
    # timed regions would report 3.4 ms for 5 loops, or 1 ms for single-call samples.
    assert per_call == pytest.approx([4e-3] * len(per_call))
    assert isinstance(result.output, SlowToFree)  # the last result is kept for verification


def test_stops_when_budget_spent_and_not_converged():
    clock = FakeClock()
    state = {"i": 0}

    def call():
        state["i"] += 1
        clock.now += 0.01 * (1 + (state["i"] % 7))  # noisy: never within 1%
        return None

    settings = TimerSettings(budget_s=1.0, min_samples=5, max_samples=10_000)
    result = measure(call, lambda _: None, settings, clock=clock)
    assert not result.converged
    assert len(result.samples_s) >= 5
    assert sum(result.samples_s) * result.n_loops < 1.2


def test_a_cell_taking_turns_samples_to_its_budget_though_its_interval_met_the_target():
    from fwbench.stats.sampler import Sampler

    clock = FakeClock()

    def call():
        clock.now += 0.002  # steady: the interval meets 1% at the fifth sample
        return None

    settings = TimerSettings(budget_s=0.1, min_samples=5, min_sample_s=0.0, warmup_s=0.0)
    alone, turns = Sampler(call, None, settings, clock), Sampler(call, None, settings, clock)
    for sampler in (alone, turns):
        sampler.start()
    while not alone.done():
        alone.sample()
    while not turns.done(interval_stops=False):
        turns.sample()
    assert alone.converged and len(alone.samples) == 5
    assert turns.converged and len(turns.samples) == 50  # the whole 0.1 s, for its partners' turn pairs


def test_min_samples_even_past_budget():
    clock = FakeClock()

    def call():
        clock.now += 0.03  # five samples (0.15 s) overrun the 0.1 s budget but not twice it
        return None

    result = measure(call, lambda _: None, TimerSettings(budget_s=0.1, min_samples=5, min_sample_s=0.0), clock=clock)
    assert len(result.samples_s) == 5


def test_very_slow_calls_stop_at_three_samples():
    clock = FakeClock()

    def call():
        clock.now += 1.0  # five of these would take five times the 0.5 s budget
        return None

    result = measure(call, None, TimerSettings(budget_s=0.5, min_samples=5), clock=clock)
    assert len(result.samples_s) == 3
    quick = measure(lambda: setattr(clock, "now", clock.now + 0.01), None,
                    TimerSettings(budget_s=0.5, min_samples=5, target_rel_ci=0.0), clock=clock)
    assert len(quick.samples_s) >= 5


class RecordingTimer:
    """A device timer that logs when it is started, stopped and read, in one log with the sync."""

    def __init__(self, log):
        self.log = log

    def start(self):
        self.log.append("timer start")

    def stop(self):
        self.log.append("timer stop")

    def elapsed_s(self):
        self.log.append("timer read")
        return 0.004


def test_device_timer_brackets_the_calls_and_stops_before_the_sync():
    from fwbench.stats.sampler import Sampler

    log = []
    sampler = Sampler(lambda: log.append("call") or 1, lambda value: log.append("sync"),
                      TimerSettings(budget_s=0.0, min_samples=1, warmup_s=0.0, min_sample_s=0.0),
                      device_timer=RecordingTimer(log))
    sampler.start()
    del log[:]
    sampler.sample()
    assert log == ["timer start", "call", "timer stop", "sync", "timer read"]
    assert sampler.measurement().device_samples_s == [0.004]


def test_a_cold_cache_flushes_before_every_sample_outside_the_timed_region():
    from fwbench.stats.sampler import Sampler

    clock = FakeClock()
    log = []

    def flush():
        log.append("flush")
        clock.now += 1.0  # slow, and not counted

    def call():
        log.append("call")
        clock.now += 0.001

    sampler = Sampler(call, None, TimerSettings(budget_s=0.01, min_samples=3, warmup_s=0.0, min_sample_s=0.01),
                      clock=clock, flush=flush)
    sampler.start()
    assert sampler.loops == 1  # one call per sample, each after a flush (10 would fill min_sample_s)
    del log[:]
    for _ in range(3):
        sampler.sample()
    assert log == ["flush", "call"] * 3
    assert sampler.samples == pytest.approx([0.001] * 3)


def test_warm_up_goes_on_while_the_calls_still_speed_up_and_stops_once_they_hold():
    """After a compile, calls may run slower for a while (XLA: about 150 ms): warm-up windows are added while
    each is faster than the last, so sampling starts at the steady speed; a steady call warms two windows."""
    settings = TimerSettings(min_sample_s=0.01, budget_s=0.2, warmup_s=0.05, max_warmup_s=1.0, min_samples=5)

    def run(per_call):
        clock = FakeClock()
        calls = {"n": 0}

        def call():
            calls["n"] += 1
            clock.now += per_call(clock.now)
            return None

        return measure(call, None, settings, clock=clock)

    # 2 ms calls that start twice as slow and settle over the first 0.3 s
    settling = run(lambda now: 0.002 * (2.0 - min(now, 0.3) / 0.3))
    assert settling.samples_s and max(settling.samples_s) == pytest.approx(0.002)
    steady = run(lambda now: 0.002)
    assert steady.warmup_calls == 2 * 25  # two windows of 0.05 s
    assert settling.warmup_calls > steady.warmup_calls
    # Capped: calls that keep speeding up stop warming at max_warmup_s.
    endless = run(lambda now: 0.002 / (1 + now))
    assert endless.warmup_calls * 0.002 / 2 <= settings.max_warmup_s + 0.05


def test_noise_alone_does_not_keep_the_warm_up_going():
    """Steady calls whose times wander as this machine's do (log-normal, 15%) warm two windows and stop in
    nearly every cell; the 3% rule alone warmed on in 14 of these 40 (the same draws, checked when it changed)."""
    import random

    settings = TimerSettings(min_sample_s=0.01, budget_s=0.05, warmup_s=0.05, max_warmup_s=0.3, min_samples=3)
    longer = 0
    for seed in range(40):
        draws = random.Random(seed)
        clock = FakeClock()

        def call():
            clock.now += 0.002 * math.exp(draws.gauss(0, 0.15))

        result = measure(call, None, settings, clock=clock)
        longer += result.warmup_calls > 60  # two windows of 0.05 s hold about 50 calls of 2 ms
    assert longer <= 4


def test_few_slow_calls_warm_on_only_for_a_speed_up_of_a_tenth():
    assert faster_beyond_noise([0.085], [0.1])
    assert not faster_beyond_noise([0.095], [0.1])  # 5% faster with one call a window: noise here
    many_old = [0.010 + 0.0001 * i for i in range(20)]
    assert faster_beyond_noise([value * 0.8 for value in many_old], many_old)
    assert not faster_beyond_noise(many_old[::-1], many_old)  # the same calls, reordered
    assert not faster_beyond_noise([value * 1.05 for value in many_old], many_old)


def test_the_rank_test_agrees_with_scipy():
    import random

    from scipy.stats import mannwhitneyu, norm

    from fwbench.stats.sampler import WARMING_Z, _rank_z

    draws = random.Random(3)
    for _ in range(20):
        first = [round(draws.gauss(1.0, 0.1), 2) for _ in range(draws.randint(5, 30))]  # rounding makes ties
        second = [round(draws.gauss(0.95, 0.1), 2) for _ in range(draws.randint(5, 30))]
        expected = mannwhitneyu(second, first, alternative="less", method="asymptotic", use_continuity=False)
        # scipy corrects the variance for ties; without the correction the z is a little smaller in size
        assert norm.sf(_rank_z(second, first)) == pytest.approx(expected.pvalue, abs=0.01)
    assert norm.ppf(0.99) == pytest.approx(WARMING_Z, abs=1e-3)


def test_no_warm_up_window_when_warm_up_is_off():
    clock = FakeClock()
    counted = []

    def call():
        counted.append(1)
        clock.now += 0.001

    result = measure(call, None, TimerSettings(warmup_s=0.0, min_warmup_calls=1, min_samples=3, max_samples=3,
                                               min_sample_s=0.0), clock=clock)
    assert result.warmup_calls == 1


def test_a_recompile_in_the_first_warm_up_call_does_not_use_up_the_warm_up():
    """A JAX training step re-traces on its second call (its returned state differs in weak types): that call
    takes longer than max_warmup_s, and the calls after it run slower, steadily, for a while after the compile."""
    clock = FakeClock()
    calls = {"n": 0, "compiled_at": 0.0}

    def call():
        calls["n"] += 1
        if calls["n"] <= 2:  # the first call compiles, the second re-compiles
            clock.now += 0.5
            calls["compiled_at"] = clock.now
            return None
        clock.now += 150e-6 * (2.0 if clock.now - calls["compiled_at"] < 0.15 else 1.0)

    result = measure(call, None, TimerSettings(min_sample_s=0.01, budget_s=0.2, warmup_s=0.05, max_warmup_s=0.3),
                     clock=clock)
    assert max(result.samples_s) == pytest.approx(150e-6)


def test_a_microsecond_calls_hiccups_are_not_taken_for_compiles():
    """An interrupt makes a 1 µs call 50 times slower now and then; a compile takes 10 ms or more. Mistaking
    the one for the other would restart the warm-up for ever (a cell that never finishes)."""
    clock = FakeClock()
    calls = {"n": 0}

    def call():
        calls["n"] += 1
        clock.now += 50e-6 if calls["n"] % 100 == 0 else 1e-6

    settings = TimerSettings(min_sample_s=0.001, budget_s=0.05, warmup_s=0.01, max_warmup_s=0.05)
    result = measure(call, None, settings, clock=clock)
    assert result.warmup_calls * 1e-6 <= settings.warmup_s + settings.max_warmup_s + settings.warmup_s
