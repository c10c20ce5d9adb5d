"""Turns under ``--interleave``: a block of samples per turn, and a wait for the last process to go quiet."""

from __future__ import annotations

from fwbench.execution import interleave
from fwbench.execution.interleave import SETTLE_CAP_S, settle
from fwbench.worker.children import take_turn


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def spinning_for(clock: FakeClock, busy_until: float):
    """CPU time of a process that runs one thread flat out until ``busy_until``, then sleeps."""
    return lambda pid: min(clock.now, busy_until)


def test_settle_waits_while_the_process_spins_and_returns_once_it_is_quiet():
    clock = FakeClock()
    waited = settle(123, cpu_s=spinning_for(clock, 0.13), clock=clock, sleep=clock.sleep)
    assert 0.13 <= waited <= 0.13 + 2 * interleave.QUIET_WINDOW_S


def test_settle_returns_after_one_window_for_a_quiet_process():
    clock = FakeClock()
    waited = settle(123, cpu_s=spinning_for(clock, 0.0), clock=clock, sleep=clock.sleep)
    assert waited == interleave.QUIET_WINDOW_S


def test_settle_gives_up_at_its_cap():
    clock = FakeClock()
    waited = settle(123, cpu_s=spinning_for(clock, 1e9), clock=clock, sleep=clock.sleep)
    assert SETTLE_CAP_S <= waited <= SETTLE_CAP_S + interleave.QUIET_WINDOW_S


def test_settle_does_not_wait_for_what_it_cannot_read():
    clock = FakeClock()
    assert settle(None, clock=clock, sleep=clock.sleep) == 0.0
    assert settle(123, cpu_s=lambda pid: None, clock=clock, sleep=clock.sleep) == 0.0
    assert clock.now == 0.0


class FakeSampler:
    """A sampler whose samples each take ``per_sample_s`` of sampling time; done after ``done_after`` samples."""

    def __init__(self, per_sample_s: float, done_after: int = 10 ** 6) -> None:
        self.per_sample_s, self.done_after = per_sample_s, done_after
        self.sampling_s, self.samples, self.rewarms = 0.0, 0, 0

    def rewarm(self) -> None:
        self.rewarms += 1

    def sample(self) -> float:
        self.samples += 1
        self.sampling_s += self.per_sample_s
        return self.per_sample_s

    def done(self) -> bool:
        return self.samples >= self.done_after


def test_a_turn_wakes_the_framework_once_then_samples_for_its_block():
    sampler = FakeSampler(per_sample_s=0.01)
    assert take_turn(sampler, block_s=0.045) == 5
    assert sampler.rewarms == 1 and sampler.samples == 5


def test_a_turn_stops_when_the_stopping_rule_holds():
    sampler = FakeSampler(per_sample_s=0.01, done_after=2)
    assert take_turn(sampler, block_s=1.0) == 2


def test_a_turn_without_a_block_is_one_sample_and_no_wake_up_call():
    sampler = FakeSampler(per_sample_s=0.01)
    assert take_turn(sampler, block_s=0.0) == 1
    assert sampler.rewarms == 0
