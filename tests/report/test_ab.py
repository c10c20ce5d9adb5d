"""fwbench ab's verdicts from recorded rows: slower, faster, same, undecided, broken, and the documents."""

import json

import pytest

from fwbench.report import ab
from fwbench.stats.ratios import Ratio, ratio


def row(cell, side, medians, status="ok", run="r"):
    return {"cell_id": f"{cell}#{side}", "side": side, "status": status, "run_id": run, "reason": None,
            "median_s": sorted(medians)[len(medians) // 2] if medians else None, "round_medians_s": medians,
            "round_numbers": list(range(1, len(medians) + 1)), "framework": "numpy", "mode": "eager"}


@pytest.mark.parametrize("low, high, expected", [
    (1.20, 1.40, "slower"), (0.70, 0.85, "faster"), (0.95, 1.05, "same"), (1.05, 1.30, "undecided"),
    (0.80, 1.20, "undecided")])
def test_classify_against_the_threshold_band(low, high, expected):
    assert ab.classify(Ratio((low * high) ** 0.5, low, high, 0.95, "m", 3), 0.10) == expected


def test_no_interval_is_undecided():
    assert ab.classify(Ratio(1.5, None, None, 0.95, "one round", 1), 0.10) == "undecided"


def test_cells_from_rows_pair_each_candidate_with_its_baseline():
    rows = [row("a", "baseline", [1.0, 1.3, 0.9]), row("a", "candidate", [1.5, 1.95, 1.35]),   # 1.5x throughout
            row("b", "baseline", [1.0, 1.3, 0.9]), row("b", "candidate", [1.0, 1.3, 0.9]),     # identical
            row("c", "baseline", [1.0, 1.3, 0.9]), row("c", "candidate", [], status="mismatch"),
            row("d", "baseline", [], status="error"), row("d", "candidate", [1.0, 1.1, 1.2])]
    found = {cell.cell: cell for cell in ab.ab_cells(rows, 0.10)}
    assert found["a"].verdict == "slower" and found["a"].ratio == pytest.approx(1.5)
    assert found["b"].verdict == "same" and found["b"].low == pytest.approx(1.0)
    assert found["c"].verdict == "broken" and "mismatch" in found["c"].reason
    assert found["d"].verdict == "undecided" and "baseline error" in found["d"].reason
    assert ab.exit_code(list(found.values())) == 1
    assert ab.exit_code([found["b"], found["d"]]) == 0
    assert [cell.cell for cell in ab.ordered(list(found.values()))] == ["c", "a", "d", "b"]


def test_documents_carry_every_cell():
    rows = [row("a", "baseline", [1.0, 1.3, 0.9]), row("a", "candidate", [1.5, 1.95, 1.35])]
    cells = ab.ab_cells(rows, 0.10)
    sides = {"baseline": {"describe": "/py"}, "candidate": {"describe": "/py X=1"}}
    document = json.loads(json.dumps(ab.document(cells, 0.10, sides, "dir")))
    assert document["version"] == 1 and document["counts"]["slower"] == 1
    assert {"cell", "verdict", "ratio", "low", "high"} <= set(document["cells"][0])
    assert "| `a` | slower |" in ab.markdown(cells, 0.10, sides)
    page = ab.html(cells, 0.10, sides)
    assert page.startswith("<!doctype html>") and "<svg" in page and "http" not in page


def test_each_verdict_spends_five_percent_over_three_looks_so_the_last_interval_is_the_ninety_three_percent_one():
    rows = [row("a", "baseline", [1.0, 1.3, 0.9, 1.1, 1.2]), row("a", "candidate", [1.2, 1.5, 1.2, 1.3, 1.5])]
    default, = ab.ab_cells(rows, 0.10)
    at_99, at_98 = (ab.ab_cells(rows, 0.10, level)[0] for _, level in ab.AB_LOOKS)
    at_93, = ab.ab_cells(rows, 0.10, 0.93)
    # one-sided 0.5% and 1% at the looks and 3.5% at the last round: 5% in all (Bonferroni)
    assert sum((1 - level) / 2 for _, level in ab.AB_LOOKS) + (1 - ab.AB_LEVEL) / 2 == pytest.approx(0.05)
    assert ab.AB_LEVEL == 0.93 and (default.low, default.high) == (at_93.low, at_93.high)
    # a cell settled at a look keeps its verdict at every later level
    assert at_99.low < at_98.low < at_93.low < at_93.ratio < at_93.high < at_98.high < at_99.high
    assert ab.look_rounds(10) == (3, 5) and ab.look_rounds(5) == (3,) and ab.look_rounds(3) == ()
    # the looks count rounds within one start of the workers: with several starts, none at all
    assert ab.look_rounds(20, 20) == (3, 5) and ab.look_rounds(20, 10) == () and ab.look_rounds(10, 5) == ()
    document = ab.document([default], 0.10, {}, "dir")
    assert document["level"] == 0.93 and "93% interval" in ab.markdown([default], 0.10, {})


@pytest.mark.parametrize("value, low, high, expected", [
    (1.15, 1.05, 1.26, 33),   # to leave the band above: half-width 0.091 down to log(1.15 / 1.1) = 0.044
    (1.0, 0.85, 1.18, 20),    # to fit inside it: half-width 0.164 down to log(1.1) = 0.095
    (1.1, 1.0, 1.21, None),   # on the band's edge: no number of rounds
    (1.1001, 1.0, 1.21, None),  # next to it: more than MAX_MORE_ROUNDS
    (1.5, None, None, None)])  # no interval
def test_rounds_to_settle_an_undecided_ratio(value, low, high, expected):
    assert ab.rounds_to_settle(Ratio(value, low, high, 0.93, "m", 10), 0.10) == expected


def test_an_undecided_cell_says_how_many_more_rounds_would_settle_it():
    rows = [row("a", "baseline", [1.0, 1.3, 0.9]), row("a", "candidate", [1.0, 1.45, 1.0])]  # 1.0 [0.86, 1.16]
    cell, = ab.ab_cells(rows, 0.10)
    assert cell.verdict == "undecided" and cell.rounds == 3 and cell.more_rounds >= 1
    value = ratio(rows[1], rows[0], 0.93)  # paired over 3 rounds: 2 degrees of freedom
    assert value.degrees_of_freedom == 2 and (value.low, value.high) == (cell.low, cell.high)
    assert cell.more_rounds == ab.rounds_to_settle(value, 0.10)
    # the t quantile of 2 degrees of freedom shrinks fast: fewer rounds than the standard error alone asks
    assert cell.more_rounds < ab.rounds_to_settle(Ratio(cell.ratio, cell.low, cell.high, 0.93, "m", 3), 0.10)
    text = f"about {cell.more_rounds} more rounds would settle it (--rounds {3 + cell.more_rounds})"
    assert cell.settle_text() == text and text in ab.markdown([cell], 0.10, {}) and text in ab.html([cell], 0.10, {})
    assert ab.document([cell], 0.10, {}, "dir")["cells"][0]["more_rounds"] == cell.more_rounds
    decided, = ab.ab_cells([row("b", "baseline", [1.0, 1.3, 0.9]), row("b", "candidate", [1.5, 1.95, 1.35])], 0.10)
    assert decided.more_rounds is None and decided.settle_text() == "" and "more_rounds" not in decided.as_dict()


def test_a_cell_next_to_the_band_edge_says_more_rounds_than_the_cap_would_not_do():
    cell = ab.AbCell("a", "undecided", 1.1001, 1.0, 1.21, 1.21, "m", rounds=10, more_rounds=None)
    assert cell.settle_text() == f"its ratio sits at or near the band's edge: more than {ab.MAX_MORE_ROUNDS} more " \
                                 "rounds to settle it"
