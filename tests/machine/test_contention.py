"""Other processes' CPU time while a cell samples (fwbench.machine.contention)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import pytest

from fwbench.machine.contention import OtherWork, machine_cpu_s, process_cpu_s, tick_error_s


def test_process_cpu_s_reads_this_process_threads_and_grows_with_work():
    before = process_cpu_s(os.getpid())
    assert before is not None and before > 0
    total = 0
    for value in range(2_000_000):
        total += value
    assert process_cpu_s(os.getpid()) > before
    assert process_cpu_s(2 ** 22 + 12345) is None  # no such process


def test_the_machine_counts_at_least_this_process_work():
    machine_before, own_before = machine_cpu_s(), process_cpu_s(os.getpid())
    total = 0
    for value in range(3_000_000):
        total += value
    machine_spent = machine_cpu_s() - machine_before
    own_spent = process_cpu_s(os.getpid()) - own_before
    assert machine_spent >= own_spent - tick_error_s()  # /proc/stat counts in clock ticks


class Counter:
    def __init__(self, values):
        self.values = list(values)

    def __call__(self):
        return self.values.pop(0)


def test_other_cores_are_the_machine_less_this_process_over_the_spans():
    # two spans: 1.0 s of wall with 1.5 s machine and 1.0 s own, then 0.5 s with 0.5 machine and 0.5 own
    work = OtherWork(machine=Counter([10.0, 11.5, 20.0, 20.5]), own=Counter([3.0, 4.0, 5.0, 5.5]),
                     clock=Counter([0.0, 1.0, 2.0, 2.5]), tick_error=lambda: 0.02)
    work.start()
    work.stop()
    work.start()
    work.stop()
    assert work.other_s == pytest.approx(0.5)
    assert work.wall_s == pytest.approx(1.5)
    # less what the ticks can misread: 0.02 s a span, root-sum over the two spans
    assert work.cores == pytest.approx((0.5 - 0.02 * math.sqrt(2)) / 1.5)


def test_nothing_measured_or_unreadable_is_none_and_the_bound_never_goes_negative():
    assert OtherWork().cores is None
    unreadable = OtherWork(machine=lambda: None, own=Counter([1.0, 2.0]), clock=Counter([0.0, 1.0]))
    unreadable.start()
    unreadable.stop()
    assert unreadable.cores is None
    # the machine's ticks lag this process's nanoseconds: a negative difference counts as none
    lagging = OtherWork(machine=Counter([5.0, 5.99]), own=Counter([1.0, 2.0]), clock=Counter([0.0, 1.0]),
                        tick_error=lambda: 0.02)
    lagging.start()
    lagging.stop()
    assert lagging.cores == 0.0


def test_a_process_spinning_beside_reads_as_about_a_core():
    spinner = subprocess.Popen([sys.executable, "-c",
                                "import time\nend = time.time() + 3\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)  # the spinner is running
        work = OtherWork()
        work.start()
        time.sleep(0.5)
        work.stop()
    finally:
        spinner.kill()
        spinner.wait()
    assert work.cores is not None and work.cores >= 0.5


def test_the_threshold_comes_from_the_environment_and_a_bad_value_is_a_user_error(monkeypatch):
    from fwbench.errors import UserError
    from fwbench.stats.pooling import CONTENDED_CORES, contended_threshold

    monkeypatch.delenv("FWBENCH_CONTENDED_CORES", raising=False)
    assert contended_threshold() == CONTENDED_CORES
    monkeypatch.setenv("FWBENCH_CONTENDED_CORES", "off")
    assert contended_threshold() is None
    monkeypatch.setenv("FWBENCH_CONTENDED_CORES", "0.8")
    assert contended_threshold() == 0.8
    monkeypatch.setenv("FWBENCH_CONTENDED_CORES", "lots")
    with pytest.raises(UserError, match="FWBENCH_CONTENDED_CORES"):
        contended_threshold()


def test_only_the_cpus_this_process_may_run_on_count():
    from fwbench.machine.contention import own_cpus

    cpus = own_cpus()
    assert cpus and cpus <= set(range(os.cpu_count()))
    every, first = machine_cpu_s(), machine_cpu_s(frozenset({min(cpus)}))
    assert first is not None and every is not None and first <= every + 0.01
    assert machine_cpu_s(frozenset({10 ** 6})) is None  # no such CPU
    assert tick_error_s(frozenset({0, 1})) == pytest.approx(2 / os.sysconf("SC_CLK_TCK"))  # a tick per CPU counted
