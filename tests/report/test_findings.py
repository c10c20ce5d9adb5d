"""Findings about the host allocator's state, and reports of runs with a single series."""

from fwbench.records.combine import combine_rounds
from fwbench.records.results import RESULTS_FILE, records_to_frame
from fwbench.report import aggregate
from fwbench.report.findings import allocator_sentences
from fwbench.report.html_page import to_html
from fwbench.report.markdown_page import to_markdown
from fwbench.report.render import build_report, load_runs
from tests.report.test_aggregate import record


def rounds(faults_by_round, medians_s, framework="torch", mode="eager"):
    """One cell's per-round records, as results.jsonl holds them."""
    base = record("power_sum", 1000, framework, mode, medians_s[0])
    return [dict(base, round=index, median_s=median, samples_s=[median] * 5, page_faults_per_call=faults)
            for index, (faults, median) in enumerate(zip(faults_by_round, medians_s), start=1)]


def sentences_for(*cells):
    frame = aggregate.prepare(records_to_frame(combine_rounds([r for cell in cells for r in cell])))
    return allocator_sentences(frame)


def test_combined_cells_keep_every_rounds_page_faults():
    (cell,) = combine_rounds(rounds([1.2, 4853.0, 4755.5], [0.37e-3, 6.5e-3, 6.4e-3]))
    assert cell["page_faults_per_call_by_round"] == [1.2, 4853.0, 4755.5]


def test_rounds_in_different_allocator_states_are_a_finding():
    (sentence,) = sentences_for(rounds([1.2, 4853.0, 4755.5], [0.37e-3, 6.5e-3, 6.4e-3]))
    assert sentence.startswith("torch/eager on power_sum (n=1000): its rounds faulted in 1 to 4804 fresh pages")
    assert ("two states of the host allocator: 370 µs a call in round 1 (1 fresh pages a call) and 6.45 ms a "
            "call in rounds 2, 3 (4804 fresh pages a call)") in sentence
    assert "README: the allocator" in sentence


def test_rounds_in_one_state_or_with_few_faults_are_not():
    assert sentences_for(rounds([4850.0, 4853.0, 4851.0], [6.5e-3, 6.6e-3, 6.4e-3])) == []  # always fresh pages
    assert sentences_for(rounds([2.0, 200.0, 3.0], [1e-3, 1.1e-3, 1e-3])) == []  # under 1 MiB a call
    # 3130 faults (0.8 ms at 0.25 µs) cannot explain a tenth of 22 ms
    assert sentences_for(rounds([6.0, 3136.0], [21.9e-3, 25e-3])) == []
    assert sentences_for(rounds([1.0], [1e-3])) == []  # one round: nothing to compare
    assert sentences_for(rounds([None, 4000.0], [1e-3, 2e-3])) == []  # faults not recorded in a round
    assert len(sentences_for(rounds([1000.0, 3000.0], [1e-3, 2e-3]))) == 1  # 0.5 ms of faults in 1 ms calls


def test_a_run_with_a_single_series_reports(tmp_path):
    """No series has a speedup, so the table of geometric means is empty (this used to raise KeyError)."""
    import json

    (tmp_path / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in
                                                 rounds([1.2, 4853.0], [0.37e-3, 6.5e-3])))
    report = build_report(*load_runs([tmp_path]))
    markdown = to_markdown(report)
    assert "faulted in 1 to 4853" in to_html(report)
    assert "| torch/eager |" in markdown and "faulted in 1 to 4853" in markdown and "two states" in markdown


def test_set_apart_rounds_are_named_by_cause():
    import pandas as pd

    from fwbench.report.findings import disturbed_sentences

    frame = pd.DataFrame([
        {"cell_id": "a/numpy/eager/cpu", "median_s": 1.0, "excluded_rounds": [
            {"round": 2, "median_s": 1.4, "cause": "contended",
             "reason": "other processes took 0.97 of a core on average while it was timed: disturbed"}]},
        {"cell_id": "b/numpy/eager/cpu", "median_s": 2.0, "excluded_rounds": [
            {"round": 3, "median_s": 6.0, "cause": "slow",
             "reason": "3.00x the median of the cell's rounds, beyond the run's spread"}]},
        {"cell_id": "c/numpy/eager/cpu", "median_s": 1.0, "excluded_rounds": None},
    ])
    contended, slower = disturbed_sentences(frame)
    assert contended.startswith("1 round of 1 cells were timed while other processes took CPU (rounds 2;")
    assert "a/numpy/eager/cpu round 2 (1.40x)" in contended
    assert slower.startswith("1 round of 1 cells ran far slower") and "b/numpy/eager/cpu round 3 (3.00x)" in slower
    assert disturbed_sentences(frame.drop(columns="excluded_rounds")) == []


def test_a_machine_whose_speed_moved_between_rounds_is_named_and_a_quiet_one_is_not():
    from fwbench.report.findings import machine_sentences

    moving = {"run_id": "r1", "rounds": [{"round": 1, "machine_probe_s": 0.0146},
                                         {"round": 2, "machine_probe_s": 0.0288},
                                         {"round": 3, "machine_probe_s": 0.0150}]}
    quiet = {"run_id": "r2", "rounds": [{"round": 1, "machine_probe_s": 0.0146},
                                        {"round": 2, "machine_probe_s": 0.0150}]}
    (sentence,) = machine_sentences([moving, quiet, {"run_id": "r3"}])
    assert sentence.startswith("This machine's own speed moved 97% between the rounds of run r1")
    assert "14.6 ms to 28.8 ms" in sentence and "bench/noise_floor.py" in sentence


def test_the_machine_sentence_follows_the_count_of_decided_sizes(tmp_path):
    import json

    from fwbench.records.results import MANIFEST_FILE

    records = rounds([1.0, 1.0, 1.0], [1e-3, 1.1e-3, 1.05e-3]) + rounds([1.0, 1.0, 1.0], [2e-3, 2.1e-3, 2.2e-3],
                                                                         framework="jax", mode="jit")
    (tmp_path / RESULTS_FILE).write_text("".join(json.dumps(dict(r, run_id="r1")) + "\n" for r in records))
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"run_id": "r1", "rounds": [
        {"round": 1, "machine_probe_s": 0.010}, {"round": 2, "machine_probe_s": 0.020}]}))
    report = build_report(*load_runs([tmp_path]))
    assert report.findings[0].startswith("Of 1 workload sizes")
    assert report.findings[1].startswith("This machine's own speed moved 100% between the rounds of run r1")


def test_a_run_whose_hand_off_ran_slow_before_some_size_rounds_says_so():
    from fwbench.report.findings import handoff_sentences

    slow = {"run_id": "r1", "handoff": {"size_rounds": 40, "slow_size_rounds": 6, "lowest_speedup": 1.12,
                                        "highest_speedup": 1.8, "slow_below": 1.4,
                                        "sizes_in_both": ['matmul[{"n": 256}]']}}
    quiet = {"run_id": "r2", "handoff": {"size_rounds": 40, "slow_size_rounds": 0, "lowest_speedup": 1.6,
                                         "highest_speedup": 1.8, "slow_below": 1.4, "sizes_in_both": []}}
    sentences = handoff_sentences([slow, quiet, {"run_id": "r3"}])
    assert len(sentences) == 1
    assert "6 of 40 size-rounds of run r1" in sentences[0] and "1.12-1.80x" in sentences[0]
    assert 'matmul[{"n": 256}]' in sentences[0]


def test_an_undecided_size_says_how_its_fastest_leads_where_the_pairs_and_the_medians_disagree():
    from fwbench.report.findings import _size_sentence

    ratio = {"series": "numpy/eager", "standing": "undecided", "ratio": 1.03, "low": 0.98, "high": 1.09}
    row = {"params": "n=256", "verdict": "undecided", "fastest": "torch/eager", "ratios": [ratio],
           "fastest_by_median": "numpy/eager"}
    assert "torch/eager leads numpy/eager by its paired turns, but numpy/eager cannot be told apart" in \
        _size_sentence(row, "At matmul")
    assert "torch/eager has the lowest median, but" in _size_sentence(dict(row, fastest_by_median="torch/eager"),
                                                                       "At matmul")
