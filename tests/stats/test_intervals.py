"""Intervals that hold: exact ranks for small samples, and an interval over rounds that covers shifts."""

import math
import random
import statistics

import pytest

from fwbench.stats.intervals import binomial_cdf, median_interval, median_ranks, rounds_interval, t_quantile_975


def test_binomial_cdf_matches_direct_sums():
    assert binomial_cdf(0, 3) == pytest.approx(1 / 8)
    assert binomial_cdf(1, 5) == pytest.approx(6 / 32)
    assert binomial_cdf(5, 5) == pytest.approx(1.0)


@pytest.mark.parametrize("n, ranks, level", [
    (3, (1, 3), 0.75),  # [min, max] covers the median 75% of the time, not 95%
    (5, (1, 5), 0.9375),
    (6, (1, 6), 0.96875),  # the first n at which [min, max] reaches 95%
    (10, (2, 9), 1 - 2 * 11 / 1024),
    (20, (6, 15), 1 - 2 * binomial_cdf(5, 20)),
])
def test_exact_ranks_and_the_level_they_give(n, ranks, level):
    low, high, achieved = median_ranks(n)
    assert (low, high) == ranks
    assert achieved == pytest.approx(level)
    assert (achieved >= 0.95) == (n >= 6)


def test_ranks_for_many_samples_are_those_of_the_direct_binomial_sums():
    # The ranks are summed one tail term at a time; each must be the largest k with P(B <= k - 1) <= 2.5%.
    for n in (7, 50, 171, 400, 901):
        low, high, level = median_ranks(n)
        assert binomial_cdf(low - 1, n) <= 0.025 < binomial_cdf(low, n)
        assert high == n + 1 - low and level == pytest.approx(1 - 2 * binomial_cdf(low - 1, n))
    assert median_ranks(901) is median_ranks(901)  # asked after every sample: computed once per count


def test_exact_rank_intervals_cover_the_median_as_stated():
    generator = random.Random(1)
    for n in (3, 5, 9):
        hits = 0
        trials = 4000
        for _ in range(trials):
            samples = sorted(generator.expovariate(1.0) for _ in range(n))
            interval = median_interval(samples)
            hits += interval.low <= math.log(2) <= interval.high  # the exponential's median
        assert hits / trials == pytest.approx(median_ranks(n)[2], abs=0.03)


def test_t_quantiles():
    assert t_quantile_975(2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile_975(1000) == pytest.approx(1.96, abs=0.01)


def simulated_rounds(generator, true_median, round_sigma, sample_sigma, rounds, samples_per_round):
    """Per-round medians and per-round samples of one run: each round (process) shifted by a log-normal factor."""
    round_medians, per_round = [], []
    for _ in range(rounds):
        shift = generator.gauss(0.0, round_sigma)
        samples = [true_median * math.exp(shift + generator.gauss(0.0, sample_sigma)) for _ in range(samples_per_round)]
        round_medians.append(statistics.median(samples))
        per_round.append(samples)
    return round_medians, per_round


def _simulated_run(generator, true_median, round_sigma, sample_sigma, rounds, samples_per_round):
    """Per-round medians and all samples of one run."""
    round_medians, per_round = simulated_rounds(generator, true_median, round_sigma, sample_sigma, rounds,
                                                samples_per_round)
    return round_medians, [value for samples in per_round for value in samples]


def test_the_interval_over_rounds_covers_round_to_round_shifts_and_one_round_does_not():
    # Processes differ by ~10% (the machine's measured spread is larger); samples within one are tight.
    generator = random.Random(7)
    true_median, trials = 1.0, 600
    ours = one_round = 0
    for _ in range(trials):
        round_medians, samples = _simulated_run(generator, true_median, 0.10, 0.02, rounds=3, samples_per_round=20)
        interval = rounds_interval(round_medians, statistics.median(samples))
        ours += interval.low <= true_median <= interval.high
        _, first_round = _simulated_run(generator, true_median, 0.10, 0.02, rounds=1, samples_per_round=20)
        single = median_interval(sorted(first_round))
        one_round += single.low <= true_median <= single.high
    assert ours / trials >= 0.92
    assert one_round / trials < 0.5


def _next_run_coverage(interval_of, rounds=3, trials=1000, seed=11):
    generator = random.Random(seed)
    hits = 0
    for _ in range(trials):
        first = _simulated_run(generator, 1.0, 0.10, 0.02, rounds=rounds, samples_per_round=20)
        _, second_samples = _simulated_run(generator, 1.0, 0.10, 0.02, rounds=rounds, samples_per_round=20)
        interval = interval_of(*first)
        hits += interval[0] <= statistics.median(second_samples) <= interval[1]
    return hits / trials


def test_the_interval_holds_the_next_runs_median_as_promised():
    # The promise a reader takes from it: another run's median lands inside, 95% of the time.
    def ours(medians, samples):
        interval = rounds_interval(medians, statistics.median(samples))
        return interval.low, interval.high

    assert _next_run_coverage(ours) >= 0.93

    def confidence_only(medians, samples):  # sqrt(1/R) instead of sqrt(2/R): describes this run only
        logs = [math.log(m) for m in medians]
        half = t_quantile_975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
        return statistics.median(samples) * math.exp(-half), statistics.median(samples) * math.exp(half)

    assert _next_run_coverage(confidence_only, rounds=5) < 0.91  # 0.88 in theory


def test_rounds_interval_needs_two_rounds():
    with pytest.raises(ValueError):
        rounds_interval([1.0], 1.0)


def test_the_geometric_mean_and_its_interval_have_one_home():
    import math

    from fwbench.stats.intervals import Z_975, geometric_mean_interval, normal_quantile

    assert geometric_mean_interval([2.0, 8.0]) == (pytest.approx(4.0), None, None)
    assert geometric_mean_interval([2.0, 8.0], [1.0, None], [4.0, 16.0])[1:] == (None, None)
    value, low, high = geometric_mean_interval([2.0, 8.0], [1.0, 4.0], [4.0, 16.0])
    # each interval is +-log 2 on the log scale: sd log2/Z_975 each, the mean's sd sqrt(2) log2 / (2 Z_975)
    assert value == pytest.approx(4.0) and high / value == pytest.approx(math.exp(math.sqrt(2) * math.log(2) / 2))
    assert low * high == pytest.approx(value ** 2)
    assert Z_975 == pytest.approx(1.959963984540054) and normal_quantile(0.99) == pytest.approx(2.3263478740408408)
