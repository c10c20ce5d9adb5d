"""Each cell in its own child, forked from the worker after the framework import: the fork, the
relay of its messages, and the turns it takes under ``--interleave``."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any, Callable, TextIO

from fwbench.adapters.base import DeviceUnavailable
from fwbench.errors import describe_exit
from fwbench.files import json_safe
from fwbench.stats.sampler import REWARM_BELOW_BLOCKS
from fwbench.worker.cells import CellRunner
from fwbench.worker.process import die_with_parent


class CellChild:
    """One cell's process: a fork of the worker, which has imported its framework and done nothing else.

    ``body(emit, commands)`` runs in the child; ``emit`` sends a message to
    the parent through a pipe and ``commands`` reads the lines the parent
    :meth:`send` s (``--interleave``).  The parent relays the child's messages
    to the protocol stream, so it alone writes there, and it sees the child's
    end: :meth:`receive` returns None once the child has exited.
    """

    def __init__(self, body: Callable[[Callable[[dict], None], TextIO], None]) -> None:
        messages_read, messages_write = os.pipe()
        commands_read, commands_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(messages_read)
            os.close(commands_write)
            run_child(body, os.fdopen(messages_write, "w", buffering=1, encoding="utf-8"),
                       os.fdopen(commands_read, encoding="utf-8"))
        os.close(messages_write)
        os.close(commands_read)
        self.messages = os.fdopen(messages_read, encoding="utf-8")
        self.commands = os.fdopen(commands_write, "w", buffering=1, encoding="utf-8")

    def send(self, command: dict[str, Any]) -> None:
        try:
            self.commands.write(json.dumps(command) + "\n")
        except BrokenPipeError:
            pass  # the child has gone; receive() reports it

    def receive(self) -> dict[str, Any] | None:
        line = self.messages.readline()
        return json.loads(line) if line else None

    def end(self) -> str | None:
        """Wait for the child; None if it exited normally, else how it died."""
        for stream in (self.commands, self.messages):
            try:
                stream.close()
            except OSError:
                pass
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return None if code == 0 else f"the cell's process {describe_exit(code)}"


def run_child(body: Callable[[Callable[[dict], None], TextIO], None], messages: TextIO, commands: TextIO) -> None:
    code = 1
    try:
        die_with_parent()

        def emit(message: dict[str, Any]) -> None:
            messages.write(json.dumps(json_safe(message)) + "\n")

        body(emit, commands)
        code = 0
    except BaseException:  # noqa: BLE001 - reported through the exit code and stderr
        traceback.print_exc()
    finally:
        try:
            messages.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def cell_child(runner: CellRunner, cell: dict[str, Any], interleaved: bool) -> CellChild:
    def body(emit, commands) -> None:
        runner.select_device()
        if interleaved:
            serve_cell_commands(runner, cell, emit, commands)
        else:
            emit({"event": "result", "record": runner.run(cell)})

    return CellChild(body)


def relay(runner: CellRunner, cell: dict[str, Any], child: CellChild, emit) -> bool:
    """Pass the child's next message on; True once the cell is finished (its result sent, the child ended).

    A child that ends without a result gets one: an error naming how it died."""
    message = child.receive()
    if message is not None:
        emit(message)
        if message.get("event") != "result":
            return False
    cause = child.end()
    if message is None:
        emit({"event": "result", "record": runner.failed_outside(
            cell, cause or "the cell's process ended without a result")})
    return True


def serve_cell_commands(runner: CellRunner, cell: dict[str, Any], emit, commands: TextIO) -> None:
    """In a cell's child under ``--interleave``: prepare, then one turn per command (:func:`take_turn`), then
    finish."""
    state = runner.begin(cell)
    if isinstance(state, dict):
        emit({"event": "result", "record": state})
        return
    if cell.get("prepared_together"):
        # the size's other cells warmed up beside this one: other processes' CPU counts from the first turn
        from fwbench.machine.contention import OtherWork

        state.other_work = OtherWork()
    emit({"event": "prepared", "cell_id": cell["cell_id"], "pid": os.getpid()})
    for line in commands:
        command = json.loads(line)
        action = command.get("cmd")
        if action == "sample":
            state.other_work.start()
            first, started = len(state.sampler.samples), time.monotonic()
            try:
                taken = take_turn(state.sampler, float(command.get("block_s") or 0.0))
                state.turns.append((started, len(state.sampler.samples) - first))
            except Exception as error:  # noqa: BLE001
                emit({"event": "result", "record": runner.fail(state, error)})
                return
            finally:
                state.other_work.stop()
            emit({"event": "sampled", "cell_id": cell["cell_id"], "done": state.sampler.done(interval_stops=False),
                  "samples": taken})
        elif action == "finish":
            emit({"event": "result", "record": runner.conclude(state)})
            return
        else:
            return


MIN_TURN_SAMPLES = 3  # a turn of short samples takes at least this many, so one stretched sample is not its median
MAX_TURN_BLOCKS = 5  # ... but never samples past this many times its block


def take_turn(sampler: Any, block_s: float) -> int:
    """One turn of a cell under ``--interleave``: one sample, or with ``block_s`` an untimed call that wakes
    the framework's threads and then samples for ``block_s`` of sampling or until the cell's budget is spent
    (its interval meeting ``--target-ci`` ends no turn: its partners pair their turns with its turns).  A cell
    whose samples are :data:`fwbench.stats.sampler.REWARM_BELOW_BLOCKS` blocks long or longer (40 ms at 20 ms
    turns) makes no untimed call: its first call after the switch reads as its others do.

    A cell whose samples are short (three of its fastest fit in two blocks: calls up to about 13 ms at 20 ms
    turns) takes at least :data:`MIN_TURN_SAMPLES` a turn, up to :data:`MAX_TURN_BLOCKS` blocks: an interrupt or
    a burst of page faults that stretched one 2 ms sample to 40 ms used to fill a whole 20 ms turn alone and
    become its median (in one `fwbench ab` of 25% more work, torch's round ratios read 0.34 to 2.84).
    Returns the number of samples taken."""
    if block_s <= 0:
        sampler.sample()
        return 1
    if sampler.expected_sample_s < REWARM_BELOW_BLOCKS * block_s:
        sampler.rewarm()
    wanted = MIN_TURN_SAMPLES if MIN_TURN_SAMPLES * sampler.expected_sample_s <= 2 * block_s else 1
    began, taken = sampler.sampling_s, 0
    while True:
        sampler.sample()
        taken += 1
        spent = sampler.sampling_s - began
        if spent >= MAX_TURN_BLOCKS * block_s:
            return taken
        if taken >= wanted and (sampler.done(interval_stops=False) or spent >= block_s):
            return taken


def serve_interleaved(runner: CellRunner, cells: dict[str, dict[str, Any]], commands: TextIO, emit,
                      warm_later: Callable[[int], None] | None = None) -> None:
    """Obey the parent's commands one line at a time: prepare, sample, finish (``--interleave``).

    ``prepare`` forks the cell's child; later commands for that cell go to
    it, and each command gets exactly one reply.  When this start serves several rounds
    (``--rounds-per-start``) from the first, ``warm_later(round)`` runs once in the worker before the first fork
    of a later round: what a later round's start does before its hello (Inductor's probe of the CPU), so
    those forks do not each pay it in their first call, while the first round's forks pay it as a fresh
    script does."""
    children: dict[str, CellChild] = {}
    first_round, warmed = runner.round_index, False
    for line in commands:
        command = json.loads(line)
        action, cell_id = command.get("cmd"), command.get("cell_id")
        if action == "exit":
            break
        if action == "prepare":
            runner.round_index = command.get("round") or runner.round_index
            if warm_later is not None and not warmed and first_round <= 1 < runner.round_index:
                warm_later(runner.round_index)
                warmed = True
            emit({"event": "start", "cell_id": cell_id})
            cells[cell_id] = dict(cells[cell_id], prepared_together=bool(command.get("together")),
                                  budget_s=command.get("budget_s"))
            children[cell_id] = cell_child(runner, cells[cell_id], interleaved=True)
        elif cell_id in children:
            children[cell_id].send(command)
        else:
            continue
        if relay(runner, cells[cell_id], children[cell_id], emit):
            del children[cell_id]
    for child in children.values():
        child.send({"cmd": "exit"})
        child.end()


def select_device_in_child(adapter: Any, device_kind: str) -> tuple[dict[str, Any] | None, str | None]:
    """Select the device in a throwaway child (backends start threads, which must not exist before a fork)."""

    def body(emit, _commands) -> None:
        try:
            emit({"event": "device", "device": adapter.select_device(device_kind)})
        except DeviceUnavailable as error:
            emit({"event": "device", "reason": str(error)})

    child = CellChild(body)
    message = child.receive()
    cause = child.end()
    if message is None:
        return None, f"device selection failed: {cause}"
    return message.get("device"), message.get("reason")
