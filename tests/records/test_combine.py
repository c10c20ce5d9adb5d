"""Combining a cell's round records (fwbench.records.combine): which attempt of a retried round is read."""

from fwbench.records.combine import combine_rounds


def _record(number, status, median=None, attempt=None, failure=None):
    found = {"cell_id": "w[n=1]/numpy/eager/cpu", "framework": "numpy", "mode": "eager", "device": "cpu",
             "run_id": "r", "round": number, "status": status}
    if status == "ok":
        found.update(median_s=median, samples_s=[median] * 5, n_samples=5, n_loops=1)
    else:
        found.update(failure=failure, reason=f"worker {failure}")
    return {**found, **({"attempt": attempt} if attempt else {})}


def test_a_retry_that_measured_supersedes_a_failure_and_one_that_died_does_not_supersede_a_measurement():
    died = "worker died"
    rounds = [
        _record(1, "ok", 1.0), _record(2, "ok", 2.0),
        _record(1, "ok", 1.5, attempt=2),  # retried beside a dead partner, measured again: the retry is read
        _record(2, "error", attempt=2, failure=died),  # retried beside it, died with it: round 2's 2.0 is kept
        _record(3, "error", failure=died), _record(3, "ok", 3.0, attempt=2),  # the dead cell's own retry
    ]
    (cell,) = combine_rounds(rounds)
    assert cell["status"] == "ok" and cell["round_numbers"] == [1, 2, 3]
    assert cell["round_medians_s"] == [1.5, 2.0, 3.0]
    assert [entry["round"] for entry in cell["failed_rounds"]] == [2, 3]  # each failure noted, superseded
    assert all(entry["retried"] for entry in cell["failed_rounds"])


def test_a_round_that_failed_on_every_attempt_is_read_by_its_last():
    rounds = [_record(1, "ok", 1.0), _record(2, "error", failure="worker died"),
              _record(2, "error", attempt=2, failure="cell process died")]
    (cell,) = combine_rounds(rounds)
    assert cell["n_rounds"] == 1 and cell["median_s"] == 1.0  # round 2 gives way to the round that measured
    # its first attempt superseded by the retry, the retry's own failure not retried again
    assert [(entry["round"], entry["reason"], entry["retried"]) for entry in cell["failed_rounds"]] == [
        (2, "worker worker died", True), (2, "worker cell process died", False)]
