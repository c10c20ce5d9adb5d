"""Spending the budget on open sizes: the pool, the looks, and rounds given only to the sizes still open."""

import dataclasses
import json
import math

import pytest

from fwbench.execution import extension
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.records.results import read_cells, read_records
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
from fwbench.stats.verdicts import spending_level
from tests.conftest import SMALL_SPEC, killed_worker_spec


def test_the_pool_is_the_budget_the_first_pass_leaves():
    timer = TimerSettings(budget_s=2.0)
    assert extension.first_pass_timer(timer).budget_s == 2.0 * extension.FIRST_PASS_SHARE
    assert extension.pool_s(timer, 10) == pytest.approx(2.0 * (1 - extension.FIRST_PASS_SHARE) * 10)


def test_open_sizes_reads_the_run_and_judges_each_size_at_the_looks_level(tmp_path):
    def record(n, framework, medians):
        return [{"version": 1, "cell_id": f"w[n={n}]/{framework}/eager/cpu", "workload": "w", "params": {"n": n},
                 "framework": framework, "mode": "eager", "device": "cpu", "dtype": "float32", "status": "ok",
                 "run_id": "r", "round": number, "look": 1, "median_s": median, "samples_s": [median] * 5,
                 "n_samples": 5, "n_loops": 1} for number, median in enumerate(medians, start=1)]

    lines = (record(1, "numpy", [1.0, 1.3, 0.9]) + record(1, "torch", [2.0, 2.6, 1.8])      # torch 2x slower
             + record(2, "numpy", [1.0, 1.3, 0.9]) + record(2, "torch", [1.04, 1.2, 1.0]))  # too close to call
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    found = extension.open_sizes(tmp_path)
    assert list(found) == [("w", '{"n": 2}', "cpu")]
    assert "torch/eager" in found[("w", '{"n": 2}', "cpu")].undecided
    assert all(row["looks"] == 1 for row in read_cells(tmp_path))
    assert extension.open_sizes(tmp_path, among={("w", '{"n": 1}', "cpu")}) == {}  # n=2 was not asked about


def _run_two_copies_of_numpy(write_spec, tmp_path):
    """An interleaved, extended run of the small spec: numpy/eager and its copy, two rounds, a 0.12 s budget."""
    timer = TimerSettings(budget_s=0.12, min_samples=3, max_samples=50, min_sample_s=0.002, warmup_s=0.01,
                          max_warmup_s=0.02)
    options = RunOptions(out_dir=tmp_path / "out", timer=timer, rounds=2, interleave=True, turn_s=0.01, extend=True,
                         selection=Selection(frameworks=["numpy"], devices=["cpu"], replicas=2))
    run(load_specs([write_spec(SMALL_SPEC)]), options)


def test_the_runner_gives_more_rounds_only_to_the_sizes_its_look_finds_open(write_spec, tmp_path, monkeypatch):
    # The judgment is the one thing faked: the first look finds n=64 open, the second finds nothing open.
    looks = []

    def judge(out_dir, among, *_):
        looks.append(among)
        found = extension.OpenSize("numpy/eager#2 1.1 [0.9, 1.3]", rounds_needed=1, round_s=0.01)
        return {("power_sum", '{"n": 64}', "cpu"): found} if among is None else {}

    monkeypatch.setattr("fwbench.execution.runner.open_sizes", judge)
    _run_two_copies_of_numpy(write_spec, tmp_path)
    records = read_records(tmp_path / "out")
    first_pass = [r for r in records if r["round"] <= 2]
    extra = [r for r in records if r["round"] > 2]
    assert len(first_pass) == 8 and {r["look"] for r in first_pass} == {1}
    # the pool: 0.12 x (1 - 0.5) x 4 cells = 0.24 s; a round of n=64's 2 cells samples 2 x 0.03 s: 2 rounds at most
    # the pool, 0.12 x (1 - 0.5) x 4 cells = 0.24 s of wall clock, pays for one round whatever it costs
    assert sorted({r["round"] for r in extra}) == [3]
    assert {r["cell_id"].split("/")[0] for r in extra} == {"power_sum[n=64]"}
    assert {r["look"] for r in extra} == {2} and len(extra) == 2
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert looks == [None, {("power_sum", '{"n": 64}', "cpu")}] and manifest["extend"] is True
    assert [(entry["look"], entry["round_given"]) for entry in manifest["looks"]] == [(1, True), (2, False)]
    assert manifest["looks"][0]["open"][0]["size"] == ["power_sum", '{"n": 64}', "cpu"]
    wall = manifest["looks"][0]["round_wall_s"]
    assert manifest["looks"][1]["pool_left_s"] == pytest.approx(0.24 - wall) == manifest["looks"][0]["pool_left_s"]
    cells = {row["cell_id"]: row for row in read_cells(tmp_path / "out")}
    assert cells["power_sum[n=64]/numpy/eager/cpu"]["looks"] == 2
    assert cells["power_sum[n=64]/numpy/eager/cpu"]["n_rounds"] == 3
    assert cells["power_sum[n=128]/numpy/eager/cpu"]["looks"] == 1
    assert spending_level(2) > spending_level(1)


def _verdict(low, high, rounds=3, looks=1, degrees=None):
    from fwbench.stats.ratios import Ratio
    from fwbench.stats.verdicts import Comparison, SizeVerdict

    value = Ratio((low * high) ** 0.5, low, high, spending_level(looks), "test", rounds, degrees)
    comparison = Comparison("torch/eager", value, "undecided")
    verdict = SizeVerdict("undecided", "numpy/eager", {}, (comparison,), looks, spending_level(looks))
    return verdict, value


def test_rounds_to_settle_asks_for_more_than_at_the_interval_s_own_level_since_the_next_look_is_stricter():
    from fwbench.stats.verdicts import rounds_to_settle

    for degrees in (None, 3.2):
        verdict, value = _verdict(0.99, 1.60, degrees=degrees)  # centre 1.26: it must lose its tail below 1
        needed = extension.rounds_to_settle(verdict)
        assert needed > rounds_to_settle(value) >= 1
        assert needed == rounds_to_settle(value, level=spending_level(2))
        wide, _ = _verdict(0.5, 2.0, degrees=degrees)
        assert extension.rounds_to_settle(wide) > needed  # a wider interval of the same rounds needs more
    # the t quantile's degrees of freedom grow with the rounds: fewer needed than the standard error alone says
    assert extension.rounds_to_settle(_verdict(0.90, 1.80, degrees=3.2)[0]) < extension.rounds_to_settle(
        _verdict(0.90, 1.80)[0])
    # rounds that vary less settle it in fewer
    verdict, _ = _verdict(0.90, 1.80, degrees=3.2)
    assert extension.rounds_to_settle(verdict, {"torch/eager": 0.4}) < extension.rounds_to_settle(verdict)
    no_interval, _ = _verdict(1.0, 1.0)
    no_interval = dataclasses.replace(no_interval, comparisons=(dataclasses.replace(
        no_interval.comparisons[0], ratio=dataclasses.replace(no_interval.comparisons[0].ratio, low=None,
                                                              high=None)),))
    assert extension.rounds_to_settle(no_interval) is None


def test_a_size_is_within_the_pool_when_its_rounds_times_their_cost_fit():
    size = extension.OpenSize("x", rounds_needed=4, round_s=10.0)
    assert size.within(40.0) and not size.within(39.9)
    assert extension.OpenSize("x", rounds_needed=None, round_s=10.0).within(0.1)  # unknown: given a chance
    assert size.as_dict(("w", "{}", "cpu"), 20.0)["within_pool"] is False


def test_a_round_of_a_sizes_contested_series_costs_their_share_of_its_latest_round():
    # 8 series in its latest round took 4 s; the fastest and one undecided runner-up need rounds
    size = extension.OpenSize("x", rounds_needed=3, round_s=4.0, contested=("a/eager", "b/eager"), latest_series=8)
    assert size.contested_round_s() == pytest.approx(1.0) and size.cost_s() == pytest.approx(3.0)
    assert size.within(3.0) and not size.within(2.9)
    assert extension.OpenSize("x", 3, 4.0).contested_round_s() == 4.0  # naming none: every series
    assert size.needs("a/eager") and not size.needs("c/eager") and extension.OpenSize("x", 3, 4.0).needs("c/eager")
    described = size.as_dict(("w", "{}", "cpu"), 10.0, rounds_given=3)
    assert described["series"] == ["a/eager", "b/eager"] and described["rounds_given"] == 3


def test_the_pool_goes_to_the_sizes_cheapest_to_settle_each_the_rounds_it_needs():
    cheap = extension.OpenSize("x", rounds_needed=2, round_s=1.0)           # 2 s
    dear = extension.OpenSize("x", rounds_needed=30, round_s=1.0)           # 30 s: past what is left
    middling = extension.OpenSize("x", rounds_needed=5, round_s=2.0)        # 10 s
    unknown = extension.OpenSize("x", rounds_needed=None, round_s=3.0)      # given one round, free
    sizes = {("w", "1", "cpu"): dear, ("w", "2", "cpu"): middling, ("w", "3", "cpu"): cheap,
             ("w", "4", "cpu"): unknown}
    assert extension.allot(sizes, 20.0) == {("w", "4", "cpu"): 1, ("w", "3", "cpu"): 2, ("w", "2", "cpu"): 5}
    assert extension.allot(sizes, 5.0) == {("w", "4", "cpu"): 1, ("w", "3", "cpu"): 2}
    assert extension.allot({}, 100.0) == {}
    uncosted = extension.OpenSize("x", rounds_needed=500, round_s=None)  # a need but no cost: one round, free
    assert extension.allot({("w", "5", "cpu"): uncosted}, 1.0) == {("w", "5", "cpu"): 1}


def test_the_latest_round_of_a_size_counts_its_series_and_its_longest_budget():
    def record(n, number, cell, budget=None):
        return {"workload": "w", "params": {"n": n}, "device": "cpu", "round": number, "cell_id": cell,
                **({"settings": {"timer": {"budget_s": budget}}} if budget else {})}

    found = extension.latest_rounds([record(1, 1, "a", 0.1), record(1, 1, "b"), record(1, 1, "c"),
                                     record(1, 2, "a", 0.4), record(1, 2, "c", 0.2), record(2, 1, "a")])
    assert found == {("w", '{"n": 1}', "cpu"): extension.LatestRound(None, 2, 0.4),
                     ("w", '{"n": 2}', "cpu"): extension.LatestRound(None, 1, None)}


def test_the_extension_serves_a_sizes_rounds_from_one_start_to_its_contested_series_alone(write_spec, tmp_path,
                                                                                            monkeypatch):
    # Three copies of numpy/eager; the first look finds n=64 open with the first and third contested, needing two
    # rounds; the second look finds nothing open.
    def judge(out_dir, among, *_):
        found = extension.OpenSize("numpy/eager#3 1.1 [0.9, 1.3]", rounds_needed=2, round_s=0.03,
                                   contested=("numpy/eager", "numpy/eager#3"), latest_series=3)
        return {("power_sum", '{"n": 64}', "cpu"): found} if among is None else {}

    monkeypatch.setattr("fwbench.execution.runner.open_sizes", judge)
    monkeypatch.setattr("fwbench.execution.runner.pool_s", lambda timer, cells: 60.0)  # time for both rounds
    timer = TimerSettings(budget_s=0.12, min_samples=3, max_samples=50, min_sample_s=0.002, warmup_s=0.01,
                          max_warmup_s=0.02)
    options = RunOptions(out_dir=tmp_path / "out", timer=timer, rounds=2, interleave=True, turn_s=0.01, extend=True,
                         rounds_per_start=2,
                         selection=Selection(frameworks=["numpy"], devices=["cpu"], replicas=3))
    run(load_specs([write_spec(SMALL_SPEC)]), options)
    extra = [r for r in read_records(tmp_path / "out") if r["round"] > 2]
    assert sorted((r["round"], r["cell_id"]) for r in extra) == [
        (3, "power_sum[n=64]/numpy/eager/cpu"), (3, "power_sum[n=64]/numpy/eager/cpu#3"),
        (4, "power_sum[n=64]/numpy/eager/cpu"), (4, "power_sum[n=64]/numpy/eager/cpu#3")]
    assert {r["look"] for r in extra} == {2}
    assert len({r["process_id"] for r in extra}) == 4  # a fresh fork per cell and round
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["looks"][0]["open"][0]["rounds_given"] == 2
    assert [item.get("workers_of_round") for item in manifest["rounds"] if item["round"] > 2] == [None, 3]
    cells = {row["cell_id"]: row for row in read_cells(tmp_path / "out")}
    assert cells["power_sum[n=64]/numpy/eager/cpu#2"]["n_rounds"] == 2
    assert cells["power_sum[n=64]/numpy/eager/cpu#3"]["n_rounds"] == 4


def test_a_sizes_round_cost_is_the_span_of_its_cells_in_its_latest_round():
    def record(n, number, end, wall):
        return {"workload": "w", "params": {"n": n}, "device": "cpu", "round": number, "cell_wall_s": wall,
                "timestamp": f"2026-12-06T10:00:{end:02d}+00:00"}

    found = extension.latest_rounds([record(1, 1, 10, 9.0), record(1, 2, 30, 4.0), record(1, 2, 32, 5.0),
                                     record(2, 1, 40, 2.0), {"workload": "w", "timestamp": "not a time"}])
    assert found[("w", '{"n": 1}', "cpu")].span_s == pytest.approx(32 - 26)
    assert found[("w", '{"n": 2}', "cpu")].span_s == pytest.approx(2.0)
    assert found[("w", "{}", None)].span_s is None  # no record of its latest round says when it ran


def test_the_runner_stops_looking_when_no_open_size_fits_the_pool(write_spec, tmp_path, monkeypatch):
    def judge(out_dir, among, *_):
        return {("power_sum", '{"n": 64}', "cpu"): extension.OpenSize("numpy/eager#2 1.1 [0.9, 1.3]",
                                                                       rounds_needed=50, round_s=10.0)}

    monkeypatch.setattr("fwbench.execution.runner.open_sizes", judge)
    _run_two_copies_of_numpy(write_spec, tmp_path)
    assert max(record["round"] for record in read_records(tmp_path / "out")) == 2
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [entry["round_given"] for entry in manifest["looks"]] == [False]
    assert manifest["looks"][0]["open"][0]["within_pool"] is False
    assert manifest["looks"][0]["open"][0]["rounds_needed"] == 50


@pytest.mark.parametrize("n64_round_s, first", [(0.0, 64), (0.00025, 128)])
def test_once_the_pools_time_is_up_a_start_takes_its_first_size_round_and_no_other(write_spec, tmp_path,
                                                                                    monkeypatch, n64_round_s, first):
    # Both sizes open, each allotted two rounds of both copies; the pool is a millisecond, spent before the
    # workers have said hello: the start still takes the first size's first round (its imports are paid), then
    # nothing, and the progress bar takes back the three size-rounds it had counted.  The sizes go cheapest
    # first: with n=64 at half the pool, n=128 takes that round, though the workers list n=64 first.
    from fwbench.execution.groups import Progress

    def judge(out_dir, among, *_):
        if among is not None:
            return {}
        return {("power_sum", '{"n": 64}', "cpu"): extension.OpenSize("x", 2, n64_round_s),
                ("power_sum", '{"n": 128}', "cpu"): extension.OpenSize("x", 2, 0.0)}  # free: fits any pool

    class Counting(Progress):
        def __init__(self):
            self.expected = self.finished = 0

        def begin(self, total):
            self.expected = total

        def add(self, cells):
            self.expected += cells

        def cell_finished(self, cell, record):
            self.finished += 1

    monkeypatch.setattr("fwbench.execution.runner.open_sizes", judge)
    monkeypatch.setattr("fwbench.execution.runner.pool_s", lambda timer, cells: 0.001)
    timer = TimerSettings(budget_s=0.12, min_samples=3, max_samples=50, min_sample_s=0.002, warmup_s=0.01,
                          max_warmup_s=0.02)
    options = RunOptions(out_dir=tmp_path / "out", timer=timer, rounds=2, interleave=True, turn_s=0.01, extend=True,
                         rounds_per_start=2, selection=Selection(frameworks=["numpy"], devices=["cpu"], replicas=2))
    progress = Counting()
    run(load_specs([write_spec(SMALL_SPEC)]), options, progress)
    extra = [r for r in read_records(tmp_path / "out") if r["round"] > 2]
    assert sorted((r["round"], r["cell_id"].split("/")[0]) for r in extra) == [(3, f"power_sum[n={first}]")] * 2
    assert progress.expected == progress.finished == 8 + 2


def _rows_with_turns(round_shifts, pair_noise):
    """numpy/eager and torch/eager rows of three rounds of eight turn pairs: torch's log-ratio in round r is
    0.05 + round_shifts[r] + the pair's noise (alternately +pair_noise and -pair_noise)."""
    def row(logs):
        return {"run_id": "r", "turns": [{"round": number, "starts_s": [0.1 * turn for turn in range(8)],
                                          "medians_s": [math.exp(value) for value in values]}
                                         for number, values in enumerate(logs, start=1)]}

    torch = [[0.05 + shift + (pair_noise if turn % 2 else -pair_noise) for turn in range(8)] for shift in round_shifts]
    return {"numpy/eager": row([[0.0] * 8] * 3), "torch/eager": row(torch)}


def test_a_longer_round_varies_less_as_its_pairs_are_most_of_the_rounds_variance():
    from fwbench.stats.paired import VarianceParts

    # rounds of 4 pairs, each pair varying by 0.04: within a round 0.01, between process sets 0.01
    parts = VarianceParts(between=0.01, within=0.01, rounds=3, pairs_per_round=4, per_pair=0.04, fewest_pairs=4)
    assert extension.relative_variance(parts, 1) == pytest.approx(1.0)
    assert extension.relative_variance(parts, 4) == pytest.approx((0.01 + 0.04 / 16) / 0.02)
    # no sign of a between part: it is still taken to be a fifth of the whole
    nil = VarianceParts(between=0.0, within=0.02, rounds=3, pairs_per_round=4, per_pair=0.08, fewest_pairs=4)
    assert extension.relative_variance(nil, 8) == pytest.approx((0.004 + 0.08 / 32) / 0.024)
    # the rounds so far already had eight times the pairs on average: another long round gains less
    longer = VarianceParts(between=0.01, within=0.01 / 8, rounds=9, pairs_per_round=20, per_pair=0.04,
                           fewest_pairs=4)
    assert extension.relative_variance(longer, 8) > extension.relative_variance(parts, 8)
    assert extension.relative_variance(None, 8) == 1.0


def test_a_size_whose_rounds_vary_within_takes_the_cheapest_longer_rounds_and_one_whose_sets_differ_does_not():
    verdict, _ = _verdict(0.95, 1.17)
    within = _rows_with_turns([0.0, 0.01, -0.01], 0.3)      # pairs spread widely, round means alike
    between = _rows_with_turns([0.0, 0.15, -0.15], 0.0)     # every pair of a round alike, rounds apart
    plain = extension.rounds_to_settle(verdict)
    size = extension.OpenSize("x", None, round_s=1.1, sampling_s=0.1)  # 1 s of forks and warm-up, 0.1 s of turns
    length, needed = extension.cheapest_length(verdict, within, size)
    assert length > 1 and needed < plain
    costs = {}
    for other in extension.ROUND_LENGTHS:  # it is the cheapest length, not merely one cheaper than the first
        parts = extension.cheapest_length(verdict, within, size, (other,))
        costs[other] = parts[1] * size.contested_round_s(other)
    assert costs[length] == min(costs.values()) and costs[length] < costs[1]
    assert extension.cheapest_length(verdict, between, size) == (1, plain)
    assert extension.cheapest_length(verdict, within, extension.OpenSize("x", None, None)) == (1, plain)  # no cost
    # turns that cost as much as the forks make a longer round dearer than it is worth
    dear = extension.OpenSize("x", None, round_s=6.0, sampling_s=5.0)
    assert extension.cheapest_length(verdict, within, dear) == (1, plain)


def test_a_round_of_another_length_costs_the_latest_rounds_forks_and_its_own_turns():
    size = extension.OpenSize("x", 3, round_s=5.0, sampling_s=0.5, latest_length=4.0)  # 3 s of forks, 2 s of turns
    assert size.contested_round_s(1) == pytest.approx(3.5) and size.contested_round_s(8) == pytest.approx(7.0)
    assert dataclasses.replace(size, length=2).contested_round_s() == pytest.approx(4.0)
    # turns that would take more than the whole span leave a tenth of it for the forks
    assert extension.OpenSize("x", 3, 1.0, sampling_s=0.5, latest_length=4.0).contested_round_s(1) == pytest.approx(
        0.1 + 0.5)


def test_open_sizes_picks_each_sizes_round_length_from_its_turns(tmp_path):
    # Two series in three rounds of eight turns; torch's turns spread by 0.3 in log around 1.05 times NumPy's,
    # the process sets alike: a look allowed lengths picks a longer round, one allowed only the first pass's
    # does not.
    import random

    generator = random.Random(3)
    lines = []
    for framework, shift in (("numpy", 0.0), ("torch", 0.05)):
        for number in (1, 2, 3):
            medians = [1e-3 * math.exp(shift + generator.gauss(0, 0.3) * (framework == "torch"))
                       for turn in range(8)]
            lines.append({"version": 1, "cell_id": f"w[n=1]/{framework}/eager/cpu", "workload": "w",
                          "params": {"n": 1}, "framework": framework, "mode": "eager", "device": "cpu",
                          "dtype": "float32", "status": "ok", "run_id": "r", "round": number, "look": 1,
                          "median_s": sorted(medians)[4], "samples_s": medians, "n_samples": 8, "n_loops": 1,
                          "turn_starts_s": [number * 10 + 0.1 * turn for turn in range(8)],
                          "turn_sample_counts": [1] * 8, "cell_wall_s": 2.0,
                          "timestamp": f"2026-12-06T10:00:{10 * number:02d}+00:00",
                          "settings": {"timer": {"budget_s": 0.05}}})
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    longer = extension.open_sizes(tmp_path, None, 0.05, extension.ROUND_LENGTHS)[("w", '{"n": 1}', "cpu")]
    first = extension.open_sizes(tmp_path, None, 0.05)[("w", '{"n": 1}', "cpu")]
    assert first.length == 1 and longer.length > 1 and longer.rounds_needed < first.rounds_needed
    assert longer.sampling_s == pytest.approx(2 * 0.05 * extension.TURN_SECONDS_PER_SAMPLING_SECOND)
    assert longer.latest_length == pytest.approx(1.0) and longer.round_s == pytest.approx(2.0)
    assert longer.cost_s() < first.cost_s()


def test_a_longer_extension_round_samples_its_multiple_of_a_first_pass_round(write_spec, tmp_path, monkeypatch):
    # The first look gives n=64 a round four times as long, the second (a start of its own) a round of the first
    # pass's length, the third finds nothing open.
    looks = []

    def judge(out_dir, among, *_):
        looks.append(among)
        if len(looks) > 2:
            return {}
        found = extension.OpenSize("numpy/eager#2 1.1 [0.9, 1.3]", rounds_needed=1, round_s=0.01,
                                   length=4 if len(looks) == 1 else 1)
        return {("power_sum", '{"n": 64}', "cpu"): found}

    monkeypatch.setattr("fwbench.execution.runner.open_sizes", judge)
    monkeypatch.setattr("fwbench.execution.runner.pool_s", lambda timer, cells: 60.0)
    _run_two_copies_of_numpy(write_spec, tmp_path)
    records = [r for r in read_records(tmp_path / "out") if r["cell_id"].startswith("power_sum[n=64]")]
    by_round = {number: [r for r in records if r["round"] == number] for number in (1, 2, 3, 4)}
    # a first-pass round: 0.12 s x 0.5 over 2 rounds = 0.03 s a cell; the longer one 0.12 s
    assert [r["settings"]["timer"]["budget_s"] for r in by_round[1] + by_round[2]] == pytest.approx([0.03] * 4)
    assert [r["settings"]["timer"]["budget_s"] for r in by_round[3]] == pytest.approx([0.12] * 2)
    assert [r["settings"]["timer"]["max_samples"] for r in by_round[3]] == [200, 200]  # 50 x 4
    assert [r["settings"]["timer"]["budget_s"] for r in by_round[4]] == pytest.approx([0.03] * 2)
    assert min(r["interleave_turns"] for r in by_round[3]) > max(r["interleave_turns"] for r in by_round[1])
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [look["open"][0]["round_length"] for look in manifest["looks"][:2]] == [4, 1]
    assert manifest["round_timer"]["budget_s"] == pytest.approx(0.03)


def test_an_extension_round_whose_worker_died_runs_again_at_its_look_and_length(write_spec, tmp_path, monkeypatch):
    # The fault kills its worker at the first call made while the file is absent (and writes the file): present
    # through the first pass, it is taken away at the first look, so the look's round-4x-long round dies once.
    once = tmp_path / "killed-once"
    once.touch()
    monkeypatch.setenv("FWBENCH_ENABLE_TEST_KINDS", "1")
    spec = write_spec(killed_worker_spec(once))
    size = ("killed", '{"n": 64}', "cpu")
    looks = []

    def judge(out_dir, among, *_):
        looks.append(among)
        if len(looks) > 1:
            return {}
        once.unlink()
        return {size: extension.OpenSize("numpy/eager#2 1.1 [0.9, 1.3]", rounds_needed=1, round_s=0.01, length=4)}

    monkeypatch.setattr("fwbench.execution.runner.open_sizes", judge)
    monkeypatch.setattr("fwbench.execution.runner.pool_s", lambda timer, cells: 60.0)
    timer = TimerSettings(budget_s=0.12, min_samples=3, max_samples=50, min_sample_s=0.002, warmup_s=0.01,
                          max_warmup_s=0.02)
    options = RunOptions(out_dir=tmp_path / "out", timer=timer, rounds=2, interleave=True, turn_s=0.01, extend=True,
                         selection=Selection(frameworks=["numpy"], devices=["cpu"], replicas=2))
    run(load_specs([spec]), options)
    assert once.exists()
    records = read_records(tmp_path / "out")
    extra = [r for r in records if r["round"] == 3]
    failed = [r for r in extra if r["status"] == "error"]
    retried = [r for r in extra if r.get("attempt") == 2]
    assert failed and {r["failure"] for r in failed} == {"worker died"} and {r["look"] for r in failed} == {2}
    # each dead cell-round again: at the look that judges its round, four times a first-pass round's sampling
    assert sorted(r["cell_id"] for r in retried) == sorted(r["cell_id"] for r in failed)
    assert {r["status"] for r in retried} == {"ok"} and {r["look"] for r in retried} == {2}
    assert [r["settings"]["timer"]["budget_s"] for r in retried] == pytest.approx([0.12] * len(retried))
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert list(manifest["retried"]) == ["3"]
    assert {row["cell_id"]: row["n_rounds"] for row in read_cells(tmp_path / "out")} == {
        f"killed[n=64]/numpy/eager/cpu{suffix}": 3 for suffix in ("", "#2")}
