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
