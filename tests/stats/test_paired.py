"""Ratios from turns paired in time, on synthetic turns (a seeded drift and noise; no real timing)."""

import math
import random

import pytest

from fwbench.stats import paired
from fwbench.stats.paired import Turns, paired_log_ratios, paired_ratio, ratios_against, turns_by_size, turns_of


def drifting_round(ratio, drift, noise, turns=40, seed=0, offset=0.0):
    """Two series taking turns 20 ms apart while the machine's speed drifts by ``drift`` (a factor over the
    round): A's true time is ``ratio`` times B's."""
    generator = random.Random(seed)
    a_starts, b_starts, a_medians, b_medians = [], [], [], []
    for index in range(turns):
        speed = 1 + drift * index / turns
        b_starts.append(offset + 0.04 * index)
        a_starts.append(offset + 0.04 * index + 0.02)
        b_medians.append(1e-3 * speed * math.exp(generator.gauss(0, noise)))
        a_medians.append(ratio * 1e-3 * speed * math.exp(generator.gauss(0, noise)))
    return Turns(tuple(a_starts), tuple(a_medians)), Turns(tuple(b_starts), tuple(b_medians))


def test_pairing_in_time_cancels_drift_that_unpaired_medians_keep():
    a, b = drifting_round(0.85, drift=0.6, noise=0.0)
    logs = paired_log_ratios(a, b)
    # each turn of A with B's nearest and each of B with A's nearest: about two pairs a turn, 40 independent
    assert 40 <= len(logs) <= 79 and paired.turn_units(a, b) == 40
    # paired: the drift between adjacent turns is under 2%, against the 60% of the round
    assert all(abs(math.exp(value) / 0.85 - 1) < 0.02 for value in logs)
    # the first half of A against the second half of B (as sequential rounds pair them) misses by far more
    unpaired = sorted(a.medians_s[:20])[10] / sorted(b.medians_s[20:])[10]
    assert abs(unpaired / 0.85 - 1) > 0.2


def test_rounds_are_the_clusters_of_the_interval():
    rounds = [drifting_round(0.85 * shift, drift=0.3, noise=0.05, seed=seed)
              for seed, shift in enumerate((0.97, 1.0, 1.03))]  # process sets differ by a few percent
    result = paired_ratio(rounds)
    assert result.rounds == 3 and result.pairs == 120
    assert result.low < 0.85 < result.high
    assert "clustered by round (t, 2 degrees of freedom)" in result.method
    # the interval reflects the spread between rounds, not the thousands of pairs within them
    within = paired_ratio(rounds[:1])
    assert within.high / within.low < result.high / result.low
    assert within.method.startswith("paired turns within one process set only")


def test_a_prior_lends_degrees_of_freedom_and_never_narrows_a_spread():
    from fwbench.stats.pooling import Prior

    rounds = [drifting_round(1.2 * shift, drift=0.3, noise=0.05, seed=seed)
              for seed, shift in enumerate((0.98, 1.0, 1.02))]
    alone = paired_ratio(rounds)
    pooled = paired_ratio(rounds, prior=Prior(variance=1e-6, degrees_of_freedom=40, cells=20))
    assert "shrunk toward the run's" in pooled.method
    assert pooled.high / pooled.low < alone.high / alone.low  # 42 degrees of freedom instead of 2
    wide = paired_ratio(rounds, prior=Prior(variance=0.04, degrees_of_freedom=40, cells=20))
    assert wide.high / wide.low > pooled.high / pooled.low


def test_turns_come_from_round_records_and_meet_by_size_series_and_round():
    def record(framework, round_number, starts, counts, samples, status="ok"):
        return {"workload": "w", "params": {"n": 8}, "device": "cpu", "framework": framework, "mode": "eager",
                "round": round_number, "status": status, "turn_starts_s": starts, "turn_sample_counts": counts,
                "samples_s": samples}

    a = record("numpy", 1, [0.0, 0.1], [2, 3], [1.0, 3.0, 2.0, 2.0, 9.0])
    assert turns_of(a) == Turns((0.0, 0.1), (2.0, 2.0))
    assert turns_of(dict(a, turn_sample_counts=[2, 2])) is None  # counts that do not add up
    assert turns_of({"samples_s": [1.0]}) is None  # not interleaved
    b = record("torch", 1, [0.05, 0.15], [1, 1], [1.0, 1.0])
    failed = record("jax", 1, [0.0], [1], [5.0], status="error")
    found = turns_by_size([a, b, failed])
    ((size, by_series),) = found.items()
    assert size == ("w", (("n", 8),), "cpu") and set(by_series) == {"numpy/eager", "torch/eager"}
    (ratio,) = ratios_against(by_series, "torch/eager").values()
    assert math.isclose(ratio.ratio, 2.0) and ratio.rounds == 1


def test_variance_parts_split_round_means_spread_into_between_sets_and_within_a_round():
    generator = random.Random(7)

    def rounds(between_sd, within_sd, pairs, count=40):
        found = []
        for _ in range(count):
            offset = generator.gauss(0, between_sd)
            starts = tuple(float(index) for index in range(pairs))
            a = tuple(math.exp(offset + generator.gauss(0, within_sd)) for _ in starts)
            found.append((paired.Turns(starts, a), paired.Turns(starts, tuple(1.0 for _ in starts))))
        return found

    only_within = paired.variance_parts(rounds(0.0, 0.2, pairs=4))
    assert only_within.between < 0.3 * only_within.within  # nothing between sets to find
    assert only_within.within == pytest.approx(0.2 ** 2 / 4, rel=0.3) and only_within.pairs_per_round == 4
    assert only_within.per_pair == pytest.approx(0.2 ** 2, rel=0.3) and only_within.fewest_pairs == 4
    both = paired.variance_parts(rounds(0.1, 0.02, pairs=4))
    assert both.between == pytest.approx(0.1 ** 2, rel=0.5) and both.within < 0.1 * both.between
    assert paired.variance_parts(rounds(0.1, 0.1, pairs=4, count=1)) is None  # one round: nothing to split


def test_rounds_forked_from_one_worker_start_are_each_a_cluster():
    """With --rounds-per-start, rounds 1-2 share a start (worker_round 1) and rounds 3-4 another: still four
    clusters (a process draws its speed per fork), in records and in a combined row's turns alike."""
    from fwbench.stats.ratios import turn_rounds

    def record(framework, round_number, worker_round, median):
        return {"workload": "w", "params": {"n": 8}, "device": "cpu", "framework": framework, "mode": "eager",
                "round": round_number, "worker_round": worker_round, "status": "ok",
                "turn_starts_s": [round_number + 0.0, round_number + 0.1], "turn_sample_counts": [1, 1],
                "samples_s": [median, median]}

    records = [record(framework, number, 1 if number <= 2 else 3, median * (2 if framework == "numpy" else 1))
               for framework in ("numpy", "torch") for number, median in ((1, 1.0), (2, 1.5), (3, 1.0), (4, 2.0))]
    ((_, by_series),) = turns_by_size(records).items()
    assert set(by_series["numpy/eager"]) == {1, 2, 3, 4}
    assert all(len(turns.medians_s) == 2 for turns in by_series["numpy/eager"].values())
    (ratio,) = ratios_against(by_series, "torch/eager").values()
    assert ratio.rounds == 4 and math.isclose(ratio.ratio, 2.0)

    def row(framework):
        return {"turns": [{"round": item["round"], "starts_s": item["turn_starts_s"], "medians_s": item["samples_s"]}
                          for item in records if item["framework"] == framework]}

    rounds = turn_rounds(row("numpy"), row("torch"))
    assert len(rounds) == 4 and all(len(top.medians_s) == 2 for top, _ in rounds)


def test_a_stalled_turn_moves_its_round_no_more_than_any_other_pair():
    """A round's figure is the median of its pairs: one turn of A stalled to three times its time (an interrupt, a
    descheduled pool thread) leaves the round's figure where the other pairs put it, where a mean moves by a
    sixth of log 3 or more (the stalled turn is in one or two of the round's pairs)."""
    rounds = [drifting_round(0.85, drift=0.3, noise=0.01, turns=5, seed=seed) for seed in range(3)]
    a, b = rounds[1]
    stalled = Turns(a.starts_s, (a.medians_s[0] * 3, *a.medians_s[1:]))
    clean = paired_ratio(rounds)
    hit = paired_ratio([rounds[0], (stalled, b), rounds[2]])
    assert abs(math.log(hit.round_ratios[1] / clean.round_ratios[1])) < 0.02
    assert abs(math.log(hit.ratio / clean.ratio)) < 0.01
    logs = paired_log_ratios(stalled, b)
    assert abs(math.exp(sum(logs) / len(logs)) / 0.85 - 1) > 0.15  # what the mean of the pairs would have read
    assert paired.round_locations([rounds[0], (stalled, b)]) == pytest.approx(
        [math.log(clean.round_ratios[0]), math.log(hit.round_ratios[1])])


def test_b_over_a_is_the_inverse_of_a_over_b_when_the_two_took_different_numbers_of_turns():
    # A took five turns, B four, at uneven moments, and a stalled turn of B: pairing chosen by A's turns alone read
    # A/B and B/A 5-10% apart here; pairs chosen by both make every value of B/A the negative of one of A/B.
    a = Turns((0.00, 0.02, 0.05, 0.07, 0.10), (1.00e-3, 1.10e-3, 0.95e-3, 1.05e-3, 1.20e-3))
    b = Turns((0.01, 0.035, 0.06, 0.09), (0.80e-3, 1.60e-3, 0.85e-3, 0.90e-3))
    forward, backward = paired_log_ratios(a, b), paired_log_ratios(b, a)
    assert sorted(forward) == pytest.approx(sorted(-value for value in backward))
    assert paired.turn_units(a, b) == paired.turn_units(b, a) == 4
    slower_b = Turns(b.starts_s, tuple(value * 1.1 for value in b.medians_s))  # a second round, B 10% slower
    there, back = paired_ratio([(a, b), (a, slower_b)]), paired_ratio([(b, a), (slower_b, a)])
    assert there.ratio == pytest.approx(1 / back.ratio)
    assert (there.low, there.high) == pytest.approx((1 / back.high, 1 / back.low))
