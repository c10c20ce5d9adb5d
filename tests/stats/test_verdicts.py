"""Verdicts on workload sizes: standings, the level after repeated looks, and what would settle an open one."""

import math

import pytest

from fwbench.stats.ratios import Ratio
from fwbench.stats.verdicts import equivalence_level, rounds_to_settle, size_verdicts, spending_level, standing


def row(series, medians, looks=None, run="r"):
    framework, mode = series.split("/")
    found = {"framework": framework, "mode": mode, "run_id": run, "median_s": sorted(medians)[len(medians) // 2],
             "round_medians_s": medians, "round_numbers": list(range(1, len(medians) + 1)), "n_rounds": len(medians),
             "samples_s": [medians[0]] * 10, "n_loops": 100}
    if looks is not None:
        found["looks"] = looks
    return series, found


def test_alpha_spent_over_any_number_of_looks_stays_within_alpha():
    assert spending_level(1) == pytest.approx(1 - 0.05 * 6 / math.pi ** 2)
    assert spending_level(2) > spending_level(1) > 0.95
    spent = sum(1 - spending_level(look) for look in range(1, 10_000))
    assert 0.0499 < spent < 0.05
    with pytest.raises(ValueError):
        spending_level(0)


def test_standing_is_equivalent_inside_the_band_slower_above_one_else_undecided():
    assert standing(Ratio(1.01, 0.97, 1.04, 0.95, "m", 3)) == "equivalent"
    assert standing(Ratio(1.30, 1.10, 1.50, 0.95, "m", 3)) == "slower"
    assert standing(Ratio(1.03, 1.01, 1.06, 0.95, "m", 3)) == "slower"  # shown slower, if by little
    assert standing(Ratio(1.05, 0.90, 1.20, 0.95, "m", 3)) == "undecided"
    assert standing(Ratio(1.05, None, None, 0.95, "no interval", 1)) == "undecided"


def test_equivalence_reads_the_interval_two_one_sided_tests_read():
    assert equivalence_level(0.95) == pytest.approx(0.90)
    assert equivalence_level(spending_level(1)) == pytest.approx(1 - 2 * (1 - spending_level(1)))
    shown = Ratio(1.01, 0.96, 1.07, 0.95, "m", 3)  # the 95% interval pokes out of the band
    assert standing(shown) == "undecided"
    assert standing(shown, Ratio(1.01, 0.97, 1.045, 0.90, "m", 3)) == "equivalent"  # the 90% one does not
    assert standing(shown, Ratio(1.01, 0.965, 1.055, 0.90, "m", 3)) == "undecided"


def test_a_size_is_equivalent_when_its_90_percent_interval_fits_the_band_though_its_95_does_not():
    # round log ratios about +-0.03: a 95% interval of three rounds just over the band, a 90% one inside
    fastest, runner_up = [1.00, 1.00, 1.00], [1.00, 1.022, 0.983]
    verdict = size_verdicts([[row("numpy/eager", fastest), row("torch/eager", runner_up)]])[0]
    item = verdict.comparisons[0]
    assert item.ratio.high > 1.05 or item.ratio.low < 1 / 1.05
    assert item.equivalence.level == pytest.approx(0.90)
    assert item.equivalence.low >= 1 / 1.05 and item.equivalence.high <= 1.05
    assert item.standing == "equivalent" and verdict.verdict == "equivalent"
    assert item.as_dict()["equivalence"]["level"] == pytest.approx(0.90)


def test_rounds_to_settle_grows_with_the_interval_it_must_shrink():
    narrow = rounds_to_settle(Ratio(1.10, 0.98, 1.23, 0.95, "m", 3))
    wide = rounds_to_settle(Ratio(1.10, 0.80, 1.51, 0.95, "m", 3))
    assert 1 <= narrow < wide
    # log half-width 0.1155, target max(log 1.1, log 1.05 - log 1.1) = log 1.1; without degrees of freedom only
    # the standard error shrinks: 3 (0.1155 / 0.0953)^2 rounds in all
    assert narrow == math.ceil(3 * (math.log(1.23 / 0.98) / 2 / math.log(1.10)) ** 2 - 3)
    # with few degrees of freedom the t quantile shrinks too, so fewer rounds do
    assert rounds_to_settle(Ratio(1.10, 0.80, 1.51, 0.95, "m", 3, 2.5)) < wide
    assert rounds_to_settle(Ratio(1.1, None, None, 0.95, "none", 1)) is None


def test_rounds_to_settle_takes_the_easier_of_excluding_one_and_fitting_the_band():
    from fwbench.stats.settle import more_rounds_to

    # centre 1.01: excluding 1 needs the half-width under log 1.01, fitting the band under log(1.05 / 1.01)
    value = Ratio(1.01, 0.95, 1.0737, 0.95, "m", 3)
    band = rounds_to_settle(value)
    assert band == math.ceil(3 * (math.log(1.0737 / 0.95) / 2 / math.log(1.05 / 1.01)) ** 2 - 3)
    assert rounds_to_settle(value, level=0.99) > band  # a stricter level asks more
    # the equivalence interval (narrower, at 90%) is the one that must fit the band ...
    value = Ratio(1.01, 0.95, 1.0737, 0.95, "m", 3, 2.5)
    equivalence = value.at_level(equivalence_level(0.95))
    assert rounds_to_settle(value, equivalence) < rounds_to_settle(value)
    # ... and at a stricter level it is judged at that level's equivalence level
    room = math.log(1.05 / 1.01)
    assert rounds_to_settle(value, equivalence, level=0.99) == more_rounds_to(equivalence, room,
                                                                              equivalence_level(0.99))
    assert more_rounds_to(equivalence, room, equivalence_level(0.99)) > rounds_to_settle(value, equivalence)


def test_an_undecided_comparison_past_any_run_s_reach_says_no_number():
    from fwbench.stats.settle import LIMIT

    # torch's rounds against NumPy's: e^9, e^-9 and 1.05 times, so a log half-width near 26 that must come down to
    # log 1.05 to exclude 1: some 140,000 rounds, the t quantile's shrinking counted
    rows = [row("numpy/eager", [1.0, 1.0, 1.0]), row("torch/eager", [math.exp(9), math.exp(-9), 1.05])]
    item = size_verdicts([rows])[0].comparisons[0]
    assert item.standing == "undecided" and item.more_rounds is None and item.more_seconds is None
    assert rounds_to_settle(item.ratio, item.equivalence) in (None, LIMIT)


def test_a_looked_at_size_is_judged_at_its_looks_level_and_an_unlooked_one_at_the_plain_level():
    medians_a, medians_b = [1.00, 1.30, 0.90], [1.06, 1.30, 0.99]
    looked = size_verdicts([[row("numpy/eager", medians_a, looks=2), row("torch/eager", medians_b, looks=2)]])[0]
    plain = size_verdicts([[row("numpy/eager", medians_a), row("torch/eager", medians_b)]])[0]
    assert looked.looks == 2 and looked.level == pytest.approx(spending_level(2))
    assert plain.looks == 0 and plain.level == 0.95
    wide, narrow = looked.comparisons[0].ratio, plain.comparisons[0].ratio
    assert wide.value == pytest.approx(narrow.value)
    assert wide.low < narrow.low and wide.high > narrow.high  # a later look pays with a wider interval


def with_turns(item, jitter=0.0):
    """A row whose rounds were taken in turns: two turns a round at the round's median (times ``1 + jitter``
    for the second), beginning at the same moments in every series."""
    name, found = item
    found = dict(found, turns=[{"round": number, "starts_s": [10.0 * number, 10.0 * number + 0.1],
                                "medians_s": [median, median * (1 + jitter)]}
                               for number, median in zip(found["round_numbers"], found["round_medians_s"])])
    return name, found


def test_a_series_that_took_no_later_rounds_stays_judged_at_the_look_that_decided_it():
    # The fastest went on to a second look; torch/eager, decided at the first, took no more rounds.
    fastest, runner_up = [1.00, 1.30, 0.90, 1.00], [1.50, 1.80, 1.30]
    members = [with_turns(row("numpy/eager", fastest, looks=2)), with_turns(row("torch/eager", runner_up, looks=1)),
               with_turns(row("jax/jit", [1.05, 1.36, 0.95, 1.07], looks=2), jitter=0.02)]
    verdict = size_verdicts([members])[0]
    by_series = {item.series: item for item in verdict.comparisons}
    assert verdict.level == pytest.approx(spending_level(2))
    assert by_series["torch/eager"].ratio.rounds == 3  # the rounds both series have
    assert by_series["torch/eager"].ratio.level == pytest.approx(spending_level(1))
    assert by_series["torch/eager"].equivalence.level == pytest.approx(equivalence_level(spending_level(1)))
    assert by_series["jax/jit"].ratio.level == pytest.approx(spending_level(2))
    # Not paired in time, a comparison's centre reads every round of each series: its size's latest look's level.
    plain = size_verdicts([[row("numpy/eager", fastest, looks=2), row("torch/eager", runner_up, looks=1)]])[0]
    assert plain.comparisons[0].ratio.level == pytest.approx(spending_level(2))


def test_an_undecided_comparison_says_how_many_more_rounds_and_seconds_would_settle_it():
    verdict = size_verdicts([[row("numpy/eager", [1.00, 1.30, 0.90]), row("torch/eager", [1.10, 1.25, 1.02])]])[0]
    assert verdict.verdict == "undecided" and verdict.winners == ["numpy/eager", "torch/eager"]
    item = verdict.comparisons[0]
    assert item.standing == "undecided" and item.more_rounds >= 1
    # seconds of sampling per series a round: the samples' sum times their loops over the rounds
    assert item.more_seconds == pytest.approx(item.more_rounds * max(1.00 * 10 * 100 / 3, 1.10 * 10 * 100 / 3))
    assert {"more_rounds", "more_seconds", "standing", "ratio", "low", "high"} <= set(item.as_dict())


def test_a_clear_winner_is_fastest_with_no_settling_advice():
    verdict = size_verdicts([[row("numpy/eager", [2.0, 2.6, 1.8]), row("jax/jit", [1.0, 1.3, 0.9])]])[0]
    assert verdict.verdict == "fastest" and verdict.winners == ["jax/jit"]
    assert "more_rounds" not in verdict.comparisons[0].as_dict()


def test_the_fastest_is_the_series_its_pairs_name_where_the_medians_name_another():
    # NumPy's median is the least (its rounds sampled unevenly), but every turn of torch's took 10% less than
    # NumPy's beside it: compared with NumPy, torch would be neither slower nor equivalent, however many rounds.
    numpy_name, numpy_row = with_turns(row("numpy/eager", [1.00, 1.20, 0.95]))
    numpy_row = dict(numpy_row, median_s=0.5)
    members = [(numpy_name, numpy_row), with_turns(row("torch/eager", [0.90, 1.08, 0.855]), jitter=0.01)]
    verdict = size_verdicts([members])[0]
    assert verdict.fastest == "torch/eager" and verdict.fastest_by_median == "numpy/eager"
    assert verdict.verdict == "fastest" and verdict.winners == ["torch/eager"]
    assert [(item.series, item.standing) for item in verdict.comparisons] == [("numpy/eager", "slower")]
    assert verdict.comparisons[0].ratio.value == pytest.approx(1 / 0.9, rel=0.02)
    # the others follow the fastest by median
    jax = with_turns(row("jax/jit", [0.99, 1.19, 0.94]))
    three = size_verdicts([[(numpy_name, numpy_row), members[1], (jax[0], dict(jax[1], median_s=0.6))]])[0]
    assert three.fastest == "torch/eager" and [item.series for item in three.comparisons] == ["numpy/eager", "jax/jit"]
    # where the pairs agree with the medians, the least median stays the fastest
    agreeing = size_verdicts([[with_turns(row("numpy/eager", [1.00, 1.20, 0.95])),
                               with_turns(row("torch/eager", [1.10, 1.32, 1.045]))]])[0]
    assert agreeing.fastest == agreeing.fastest_by_median == "numpy/eager"
