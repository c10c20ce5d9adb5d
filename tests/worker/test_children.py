"""The worker's side of turns: what it does between the rounds one start serves."""

import io
import json
import types

from fwbench.worker import children


def test_a_start_serving_later_rounds_warms_once_before_their_first_fork(monkeypatch):
    """Round 1's forks pay what a fresh script pays (Inductor's probe in their first call); before the first
    fork of a later round the worker warms itself once, as a later round's own start would have."""
    forks: list[int] = []
    warmed: list[tuple[int, list[int]]] = []

    def fork(runner, cell, interleaved):
        forks.append(runner.round_index)
        return object()

    monkeypatch.setattr(children, "cell_child", fork)
    monkeypatch.setattr(children, "relay", lambda runner, cell, child, emit: True)  # the cell done at once
    runner = types.SimpleNamespace(round_index=1)
    commands = io.StringIO("".join(json.dumps({"cmd": "prepare", "cell_id": cell, "round": number}) + "\n"
                                   for number in (1, 2, 3) for cell in ("a", "b")))
    children.serve_interleaved(runner, {"a": {}, "b": {}}, commands, lambda message: None,
                               warm_later=lambda number: warmed.append((number, list(forks))))
    assert forks == [1, 1, 2, 2, 3, 3]
    assert warmed == [(2, [1, 1])]


def test_a_start_of_a_later_round_does_not_warm_again(monkeypatch):
    """A start whose first round is 4 warmed before its hello: its forks of rounds 4 and 5 need nothing more."""
    monkeypatch.setattr(children, "cell_child", lambda runner, cell, interleaved: object())
    monkeypatch.setattr(children, "relay", lambda runner, cell, child, emit: True)
    warmed: list[int] = []
    commands = io.StringIO("".join(json.dumps({"cmd": "prepare", "cell_id": "a", "round": number}) + "\n"
                                   for number in (4, 5)))
    children.serve_interleaved(types.SimpleNamespace(round_index=4), {"a": {}}, commands, lambda message: None,
                               warm_later=warmed.append)
    assert warmed == []
