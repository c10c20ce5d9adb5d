"""Turns under ``--interleave``: a block of samples per turn, and the cell's process stopped between its turns."""

from __future__ import annotations

import time

from fwbench.execution import interleave
from fwbench.worker.children import take_turn


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def test_a_process_is_stopped_between_its_turns_and_runs_again_for_the_next():
    import subprocess
    import sys

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        interleave.pause(spinner.pid)
        deadline = time.monotonic() + 10
        while process_state(spinner.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_state(spinner.pid) == "T"  # stopped: its threads take no core from the next turn
        interleave.resume(spinner.pid)
        while process_state(spinner.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_state(spinner.pid) in ("R", "S")
    finally:
        spinner.kill()
        spinner.wait()
    interleave.pause(spinner.pid)  # a process that has gone is no error
    interleave.resume(None)


def test_a_turns_main_thread_runs_on_the_cycles_core_and_cycles_take_the_cores_in_turn():
    import os
    import subprocess
    import sys

    cores = sorted(os.sched_getaffinity(0))
    assert [interleave.cycle_core(cores, cycle) for cycle in range(2 * len(cores))] == cores + cores
    assert interleave.cycle_core([], 3) is None
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        interleave.pin_main_thread(sleeper.pid, cores[-1])
        assert os.sched_getaffinity(sleeper.pid) == {cores[-1]}
        interleave.pin_main_thread(sleeper.pid, cores[0])
        assert os.sched_getaffinity(sleeper.pid) == {cores[0]}
        interleave.pin_main_thread(sleeper.pid, None)  # no core to choose from: left as it is
        assert os.sched_getaffinity(sleeper.pid) == {cores[0]}
    finally:
        sleeper.kill()
        sleeper.wait()
    interleave.pin_main_thread(sleeper.pid, cores[0])  # a process that has gone is no error
    interleave.pin_main_thread(None, cores[0])


THREADED_SLEEPER = """
import os, threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print(threading.get_native_id(), flush=True)
time.sleep(60)
"""


def test_the_parent_knows_which_frameworks_compute_in_the_calling_thread():
    """From the adapters' constants, in the parent, so both sides of an A/B are placed alike."""
    assert {name: interleave.caller_works(name) for name in ("numpy", "torch", "jax", "tensorflow", "nope")} == {
        "numpy": True, "torch": True, "jax": False, "tensorflow": False, "nope": False}


def test_where_the_caller_computes_its_pool_threads_run_on_the_other_cores():
    """A framework whose calling thread computes beside its pool (CALLER_WORKS) gets its other threads on the
    cores the main thread does not have for the turn; without pool cores they keep what they had."""
    import os
    import subprocess
    import sys

    cores = sorted(os.sched_getaffinity(0))
    assert len(cores) >= 2, "this test needs two cores, as make test's machine has"
    process = subprocess.Popen([sys.executable, "-c", THREADED_SLEEPER], stdout=subprocess.PIPE, text=True)
    try:
        main_thread = int(process.stdout.readline())
        threads = [int(name) for name in os.listdir(f"/proc/{process.pid}/task") if int(name) != process.pid]
        assert main_thread == process.pid and len(threads) == 1
        interleave.pin_main_thread(process.pid, cores[0])
        assert os.sched_getaffinity(threads[0]) == set(cores)  # no pool cores: the pool keeps the worker's
        interleave.pin_main_thread(process.pid, cores[0], cores)
        assert os.sched_getaffinity(process.pid) == {cores[0]}
        assert os.sched_getaffinity(threads[0]) == set(cores[1:])
        interleave.pin_main_thread(process.pid, cores[-1], cores)
        assert os.sched_getaffinity(threads[0]) == set(cores[:-1])
    finally:
        process.kill()
        process.wait()
    interleave.pin_main_thread(process.pid, cores[0], cores)  # gone: no error


def test_a_single_threaded_cells_threads_all_run_on_the_cycles_core():
    """Under --threads 1 the caller and the one pool thread (jax's, TensorFlow's) share the turn's core."""
    import os
    import subprocess
    import sys

    cores = sorted(os.sched_getaffinity(0))
    assert len(cores) >= 2, "this test needs two cores, as make test's machine has"
    process = subprocess.Popen([sys.executable, "-c", THREADED_SLEEPER], stdout=subprocess.PIPE, text=True)
    try:
        process.stdout.readline()
        threads = [int(name) for name in os.listdir(f"/proc/{process.pid}/task")]
        assert len(threads) == 2
        for core in (cores[-1], cores[0]):
            interleave.pin_process(process.pid, core)
            assert [os.sched_getaffinity(thread) for thread in threads] == [{core}, {core}]
        interleave.pin_process(process.pid, None)  # no core to choose from: left as it is
        assert os.sched_getaffinity(threads[1]) == {cores[0]}
    finally:
        process.kill()
        process.wait()
    interleave.pin_process(process.pid, cores[0])  # gone: no error
    interleave.pin_process(None, cores[0])


PIN_SCRIPT = """
import os, sys
from fwbench.worker.process import pin_threads
print(pin_threads(int(sys.argv[1]), interleaved=sys.argv[2] == "yes"), sorted(os.sched_getaffinity(0)))
"""


def test_a_single_threaded_worker_is_pinned_unless_the_interleaver_places_its_turns():
    """A plain run's one-thread worker keeps to the first core; an interleaved one keeps every core for its
    import and its forks' preparation (the interleaver places each turn)."""
    import os
    import subprocess
    import sys

    cores = sorted(os.sched_getaffinity(0))

    def pinned(threads: int, interleaved: bool) -> str:
        return subprocess.run([sys.executable, "-c", PIN_SCRIPT, str(threads), "yes" if interleaved else "no"],
                              capture_output=True, text=True, check=True).stdout.strip()

    assert pinned(1, False) == f"{cores[:1]} {cores[:1]}"
    assert pinned(1, True) == f"{cores} {cores}"
    assert pinned(2, True) == f"{cores[:2]} {cores[:2]}"


class FakeSampler:
    """A sampler whose samples take ``durations_s`` of sampling time in turn (the last one repeated); done after
    ``done_after`` samples; ``expected_sample_s`` what its warm-up predicted."""

    def __init__(self, per_sample_s: float, done_after: int = 10 ** 6, durations_s: tuple[float, ...] = (),
                 expected_sample_s: float | None = None) -> None:
        self.durations_s = list(durations_s) or [per_sample_s]
        self.expected_sample_s = per_sample_s if expected_sample_s is None else expected_sample_s
        self.done_after = done_after
        self.sampling_s, self.samples, self.rewarms = 0.0, 0, 0

    def rewarm(self) -> None:
        self.rewarms += 1

    def sample(self) -> float:
        duration = self.durations_s[min(self.samples, len(self.durations_s) - 1)]
        self.samples += 1
        self.sampling_s += duration
        return duration

    def done(self, interval_stops: bool = True) -> bool:
        assert not interval_stops  # a turn ends on the budget, never on the cell's own interval
        return self.samples >= self.done_after


def test_a_turn_wakes_the_framework_once_then_samples_for_its_block():
    sampler = FakeSampler(per_sample_s=0.01)
    assert take_turn(sampler, block_s=0.045) == 5
    assert sampler.rewarms == 1 and sampler.samples == 5


def test_a_turn_stops_when_the_stopping_rule_holds_once_it_has_three_samples():
    assert take_turn(FakeSampler(per_sample_s=0.01, done_after=4), block_s=1.0) == 4
    assert take_turn(FakeSampler(per_sample_s=0.01, done_after=1), block_s=1.0) == 3


def test_one_stretched_sample_does_not_fill_a_turn_of_short_samples():
    # 2 ms samples, the first stretched to 40 ms by an interrupt: two more follow, so the turn's median is 2 ms
    sampler = FakeSampler(per_sample_s=0.002, durations_s=(0.040, 0.002))
    assert take_turn(sampler, block_s=0.02) == 3


def test_a_turn_of_long_samples_may_be_one_sample_and_no_turn_runs_past_five_blocks():
    # 15 ms samples: three do not fit in two 20 ms blocks, so a turn is over once its block is
    assert take_turn(FakeSampler(per_sample_s=0.015, durations_s=(0.030, 0.015)), block_s=0.02) == 1
    # short samples, each stretched to 60 ms: the turn gives up at 100 ms of sampling
    assert take_turn(FakeSampler(per_sample_s=0.060, expected_sample_s=0.002), block_s=0.02) == 2


def test_a_call_two_blocks_long_or_longer_takes_its_turn_without_the_untimed_call():
    short, long = FakeSampler(per_sample_s=0.039), FakeSampler(per_sample_s=0.040)
    assert take_turn(short, block_s=0.02) == 1 and short.rewarms == 1
    assert take_turn(long, block_s=0.02) == 1 and long.rewarms == 0


def test_a_turn_without_a_block_is_one_sample_and_no_wake_up_call():
    sampler = FakeSampler(per_sample_s=0.01)
    assert take_turn(sampler, block_s=0.0) == 1
    assert sampler.rewarms == 0


def test_a_cells_two_sides_take_their_turns_back_to_back_and_lone_cells_shuffle_as_before():
    import random

    from fwbench.execution.plan import Selection, plan_cells
    from fwbench.spec.loader import parse_spec_text

    spec = parse_spec_text("version: 1\nworkloads:\n  - name: w\n    kind: expression\n    expr: 'x + x'\n"
                           "    inputs:\n      x: {shape: [8]}\n", file="w.yaml")
    frameworks = ("numpy", "torch", "jax", "tensorflow")
    sides = plan_cells([spec], Selection(frameworks=list(frameworks), devices=["cpu"], modes=["eager"],
                                         sides=("baseline", "candidate")))
    assert len(sides) == 8
    generator, orders = random.Random(7), set()
    for _ in range(50):
        order = interleave.turn_order(sides, generator)
        assert sorted(cell.cell_id for cell in order) == sorted(cell.cell_id for cell in sides)
        for first, second in zip(order[::2], order[1::2]):  # each framework's two sides one after the other
            assert first.framework == second.framework and {first.side, second.side} == {"baseline", "candidate"}
        orders.add(tuple(cell.cell_id for cell in order))
    assert len(orders) > 20  # the frameworks and the sides within each in a new random order
    lone = plan_cells([spec], Selection(frameworks=list(frameworks), devices=["cpu"], modes=["eager"]))
    expected = list(lone)
    random.Random(3).shuffle(expected)
    assert interleave.turn_order(lone, random.Random(3)) == expected  # a plain run's turns: the shuffle of before


def test_an_extension_size_takes_its_allotted_rounds_and_none_begins_past_the_deadline():
    from types import SimpleNamespace

    from fwbench.execution.interleave import _out_of_time, _rounds_of

    cell = SimpleNamespace(size=("w", '{"n": 1}', "cpu"))
    allotted = SimpleNamespace(size_rounds={("w", '{"n": 1}', "cpu"): 2}, deadline=None)
    assert _rounds_of([cell], allotted, (5, 6, 7)) == (5, 6)
    assert _rounds_of([cell], SimpleNamespace(size_rounds=None, deadline=None), (5, 6, 7)) == (5, 6, 7)
    assert _rounds_of([cell], SimpleNamespace(size_rounds={("other",): 1}, deadline=None), (5, 6)) == (5, 6)
    assert _out_of_time(SimpleNamespace(deadline=100.0), now=100.0)
    assert not _out_of_time(SimpleNamespace(deadline=100.0), now=99.5)
    assert not _out_of_time(SimpleNamespace(deadline=None)) and not _out_of_time(None)


def test_a_plain_runs_first_round_prepares_one_cell_at_a_time_and_its_later_rounds_side_by_side(write_spec,
                                                                                                tmp_path):
    from fwbench.execution.plan import Selection
    from fwbench.execution.runner import RunOptions, run
    from fwbench.records.results import read_cells, read_records
    from fwbench.spec.loader import load_specs
    from fwbench.stats.timing import TimerSettings
    from tests.conftest import SMALL_SPEC

    timer = TimerSettings(budget_s=0.06, min_samples=3, max_samples=30, min_sample_s=0.002, warmup_s=0.01,
                          max_warmup_s=0.02)
    options = RunOptions(out_dir=tmp_path / "out", timer=timer, rounds=2, interleave=True, turn_s=0.01,
                         extend=False, selection=Selection(frameworks=["numpy"], devices=["cpu"], replicas=2))
    run(load_specs([write_spec(SMALL_SPEC)]), options)
    records = read_records(tmp_path / "out")
    assert {r["round"] for r in records} == {1, 2} and all(r["status"] == "ok" for r in records)
    for record in records:  # the first round's first calls alone, as a fresh script's; the second's shared
        assert ("prepared side by side" in record["settings"]["interleave"]) == (record["round"] == 2)
    for row in read_cells(tmp_path / "out"):  # the first call reported is the first round's
        first = next(r for r in records if r["cell_id"] == row["cell_id"] and r["round"] == 1)
        assert row["first_call_s"] == first["first_call_s"]
