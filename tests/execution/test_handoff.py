"""The cross-core hand-off probe: a process of its own, stopped between probes, and the run's summary of it."""

from __future__ import annotations

import os

from fwbench.execution.handoff import SLOW_SPEEDUP, HandoffProbe, handoff_summary


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def stopped(pid: int) -> bool:
    """Whether the process is stopped, waiting a few seconds for SIGSTOP to take effect (it is asynchronous)."""
    import time

    deadline = time.monotonic() + 10
    while process_state(pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    return process_state(pid) == "T"


def test_no_probe_where_nothing_is_handed_off():
    assert HandoffProbe.start(1, [0, 1]) is None  # one thread: no cell hands work to another core
    assert HandoffProbe.start(2, [0]) is None  # one core


def test_the_probe_runs_on_request_and_is_stopped_between_probes():
    cores = sorted(os.sched_getaffinity(0))
    probe = HandoffProbe.start(2, cores)
    if len(cores) < 2:
        assert probe is None
        return
    assert probe is not None
    try:
        assert stopped(probe.process.pid)  # its pool takes no core from a turn
        speedups = [probe.measure(core) for core in cores]
        assert all(speedup is not None and speedup > 0 for speedup in speedups)
        assert stopped(probe.process.pid)
    finally:
        probe.close()
    assert probe.process.poll() is not None
    assert probe.measure(cores[0]) is None  # a probe that has gone answers nothing, and the run goes on


def record(n: int, round_index: int, speedup: float | None) -> dict:
    found = {"workload": "matmul", "params": {"n": n}, "device": "cpu", "round": round_index}
    if speedup is not None:
        found["handoff_speedup"] = speedup
    return found


def test_the_summary_counts_size_rounds_that_began_in_a_slow_spell_and_sizes_seen_in_both():
    records = [record(256, 1, 1.75), record(256, 1, 1.75),  # two cells of one size-round: one probe
               record(256, 2, 1.2), record(1024, 1, 1.7), record(1024, 2, 1.68), record(64, 1, None)]
    summary = handoff_summary(records)
    assert summary["size_rounds"] == 4 and summary["slow_size_rounds"] == 1
    assert summary["sizes_in_both"] == ['matmul[{"n": 256}]']
    assert summary["lowest_speedup"] == 1.2 and summary["highest_speedup"] == 1.75
    assert summary["slow_below"] == SLOW_SPEEDUP
    assert handoff_summary([record(64, 1, None)]) is None
