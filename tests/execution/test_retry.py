"""Cell-rounds whose process died, run once more (fwbench.execution.retry): whole size-rounds, at their look and
length, consecutive extension rounds in one start."""

import json

from fwbench.execution.plan import Selection
from fwbench.execution.retry import merged, retried_round_settings, retry_starts, with_partners
from fwbench.execution.runner import RunOptions, run
from fwbench.records.results import read_cells, read_records
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
from tests.conftest import killed_worker_spec


class Cell:  # the two names of fwbench.execution.plan.Cell that the retry reads
    def __init__(self, name, size):
        self.cell_id, self.size = name, size


def test_a_retried_round_takes_the_look_of_its_failed_records_and_the_length_its_look_chose():
    long, short = ("a", '{"n": 1}', "cpu"), ("b", '{"n": 1}', "cpu")
    looks = [{"look": 1, "open": [{"size": list(long), "round_length": 4, "rounds_given": 2},
                                  {"size": list(short), "round_length": 1, "rounds_given": 3}]},
             {"look": 2, "open": [{"size": list(long), "round_length": 8, "rounds_given": 1}]}]
    records = [{"cell_id": "a/numpy", "round": 5, "look": 2, "status": "error"},
               {"cell_id": "b/numpy", "round": 5, "look": 2, "status": "error"},
               {"cell_id": "a/numpy", "round": 7, "look": 3, "status": "error"},
               {"cell_id": "a/numpy", "round": 1, "look": 1, "status": "error"}]
    both = [Cell("a/numpy", long), Cell("b/numpy", short)]
    assert retried_round_settings(records, looks, 5, both, 0.5) == (2, {long: 2.0})
    assert retried_round_settings(records, looks, 7, [Cell("a/numpy", long)], 0.5) == (3, {long: 4.0})
    assert retried_round_settings(records, looks, 1, [Cell("a/numpy", long)], 0.5) == (1, {})  # a first-pass round
    assert retried_round_settings([], looks, 2, [Cell("a/numpy", long)], 0.5) == (None, {})  # a run that does not look


def test_consecutive_rounds_retried_alike_share_one_start():
    size = ("a", '{"n": 1}', "cpu")
    one, two = Cell("a/numpy", size), Cell("a/numpy#2", size)
    looks = [{"look": 1, "open": [{"size": list(size), "round_length": 2, "rounds_given": 4}]}]
    records = [{"cell_id": cell.cell_id, "round": number, "look": 1 if number <= 2 else 2, "status": "error"}
               for number in (1, 2, 3, 4, 5, 6) for cell in (one, two)]
    retry = {1: {"x": one}, 2: {"x": one}, 3: {"x": one, "y": two}, 4: {"x": one, "y": two},
             5: {"x": one}, 6: {"x": one}}
    found = [(served, [cell.cell_id for cell in cells], look, budgets)
             for served, cells, look, budgets in retry_starts(records, looks, retry, 0.5, per_start=3)]
    # the first pass's two rounds (look 1, its length), then the look's rounds: two cells, then one
    assert found == [((1, 2), ["a/numpy"], 1, {}), ((3, 4), ["a/numpy", "a/numpy#2"], 2, {size: 1.0}),
                     ((5, 6), ["a/numpy"], 2, {size: 1.0})]
    # where one start serves one round (--sequential, Ray), every round is a start of its own
    assert len(retry_starts(records, looks, retry, 0.5, per_start=1)) == 6


def test_a_dead_cell_s_round_runs_again_with_the_other_series_of_its_size_that_measured_in_it():
    size, other = ("a", '{"n": 1}', "cpu"), ("b", '{"n": 1}', "cpu")
    dead, partner, elsewhere, later = (Cell("a/numpy", size), Cell("a/jax", size), Cell("b/jax", other),
                                       Cell("a/torch", size))
    runnable = {cell.cell_id: cell for cell in (dead, partner, elsewhere, later)}
    records = [{"cell_id": "a/numpy", "round": 2, "status": "error"}, {"cell_id": "a/jax", "round": 2, "status": "ok"},
               {"cell_id": "b/jax", "round": 2, "status": "ok"},  # another size
               {"cell_id": "a/torch", "round": 3, "status": "ok"},  # another round
               {"cell_id": "a/torch", "round": 2, "status": "skipped"}]  # did not measure
    found = with_partners(records, {2: {"a/numpy": dead}}, runnable)
    assert {number: sorted(todo) for number, todo in found.items()} == {2: ["a/jax", "a/numpy"]}


def test_under_fwbench_ab_a_dead_side_s_partner_is_its_other_side_alone():
    class SideCell(Cell):
        def __init__(self, name, size, framework, side):
            super().__init__(name, size)
            self.framework, self.mode, self.method, self.side = framework, "eager", "fwbench", side

    size = ("a", '{"n": 1}', "cpu")
    cells = [SideCell(f"a/{framework}#{side}", size, framework, side)
             for framework in ("numpy", "jax") for side in ("baseline", "candidate")]
    runnable = {cell.cell_id: cell for cell in cells}
    records = [{"cell_id": cell.cell_id, "round": 1, "status": "error" if cell is cells[1] else "ok"}
               for cell in cells]
    found = with_partners(records, {1: {cells[1].cell_id: cells[1]}}, runnable)
    assert sorted(found[1]) == ["a/numpy#baseline", "a/numpy#candidate"]  # not jax's sides


def test_retried_rounds_alike_share_a_start_whatever_order_their_cells_came_in():
    size = ("a", '{"n": 1}', "cpu")
    one, two = Cell("a/numpy", size), Cell("a/jax", size)
    looks = [{"look": 1, "open": [{"size": list(size), "round_length": 1, "rounds_given": 2}]}]
    records = [{"cell_id": "a/numpy", "round": number, "look": 2, "status": "error"} for number in (3, 4)]
    found = retry_starts(records, looks, {3: {"x": one, "y": two}, 4: {"y": two, "x": one}}, 0.5, per_start=3)
    assert [(served, [cell.cell_id for cell in cells]) for served, cells, *_ in found] == [
        ((3, 4), ["a/jax", "a/numpy"])]


def numpy_killed_beside_jax(write_spec, tmp_path, monkeypatch) -> tuple:
    """A spec whose NumPy worker is killed at its first call (the file is absent: the kill writes it, so the
    retry runs), jax/eager beside it at the same size, and a short timer for it."""
    monkeypatch.setenv("FWBENCH_ENABLE_TEST_KINDS", "1")
    extra = "    fault_frameworks: [numpy]\n    modes: [numpy/eager, jax/eager]\n"
    spec = write_spec(killed_worker_spec(tmp_path / "killed-once", extra))
    return spec, TimerSettings(budget_s=0.12, min_samples=3, max_samples=50, min_sample_s=0.002, warmup_s=0.01,
                               max_warmup_s=0.02)


def test_a_killed_worker_s_round_runs_again_with_its_size_s_other_series(write_spec, tmp_path, monkeypatch):
    # NumPy's worker is killed at its first call (the file is absent: the kill writes it, so the retry runs);
    # jax's cell of the same size measured that round alone, so it runs again beside NumPy's retry.
    spec, timer = numpy_killed_beside_jax(write_spec, tmp_path, monkeypatch)
    options = RunOptions(out_dir=tmp_path / "out", timer=timer, rounds=2, rounds_per_start=2, interleave=True,
                         turn_s=0.01, extend=False, selection=Selection(frameworks=["numpy", "jax"], devices=["cpu"]))
    run(load_specs([spec]), options)
    records = read_records(tmp_path / "out")
    first = sorted((r["framework"], r["round"], r["status"], r.get("attempt") or 1) for r in records)
    # killed in round 1, NumPy's worker takes its round 2 with it; each dead round runs again, jax's beside it
    assert first == [("jax", 1, "ok", 1), ("jax", 1, "ok", 2), ("jax", 2, "ok", 1), ("jax", 2, "ok", 2),
                     ("numpy", 1, "error", 1), ("numpy", 1, "ok", 2), ("numpy", 2, "error", 1), ("numpy", 2, "ok", 2)]
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["retried"] == {"1": ["killed[n=64]/numpy/eager/cpu"], "2": ["killed[n=64]/numpy/eager/cpu"]}
    assert manifest["rerun_beside"] == {"1": ["killed[n=64]/jax/eager/cpu"], "2": ["killed[n=64]/jax/eager/cpu"]}
    cells = {row["framework"]: row for row in read_cells(tmp_path / "out")}
    assert cells["numpy"]["status"] == cells["jax"]["status"] == "ok"
    retried_jax = [r for r in records if r["framework"] == "jax" and r.get("attempt") == 2]
    assert sorted(cells["jax"]["round_medians_s"]) == sorted(r["median_s"] for r in retried_jax)  # the retries'


def test_a_manifest_s_round_to_cells_mapping_takes_each_round_s_union_and_stays_none_while_empty():
    assert merged(None, {}) is None and merged(None, {3: set()}) is None
    assert merged({"1": ["a"]}, {1: {"b"}, 4: {"c", "a"}}) == {"1": ["a", "b"], "4": ["a", "c"]}


def test_a_retry_start_takes_no_looks_of_its_own(write_spec, tmp_path, monkeypatch):
    # fwbench ab's looks stop a size's decided cells after its first rounds in a start; a retry start serves
    # the dead rounds again and judges nothing, so each retried round runs whole however its start counts.
    spec, timer = numpy_killed_beside_jax(write_spec, tmp_path, monkeypatch)
    looked = []

    def settled(records, after_rounds):
        looked.append(after_rounds)
        return set()  # nothing decided: every round runs

    options = RunOptions(out_dir=tmp_path / "out", timer=timer, rounds=3, rounds_per_start=3, interleave=True,
                         turn_s=0.01, extend=False, settled=settled, look_after_rounds=(1, 2),
                         selection=Selection(frameworks=["numpy", "jax"], devices=["cpu"]))
    run(load_specs([spec]), options)
    # NumPy's worker died in round 1 and took its rounds 2 and 3 with it; the first pass's start looked after
    # one and two rounds.  The retry start serves the three again, jax beside NumPy, and looks at nothing.
    assert looked == [1, 2]
    retried = json.loads((tmp_path / "out" / "run.json").read_text())["retried"]
    assert sorted(retried) == ["1", "2", "3"]
    records = read_records(tmp_path / "out")
    for framework in ("numpy", "jax"):
        rounds = sorted(r["round"] for r in records if r["framework"] == framework and r.get("attempt") == 2)
        assert rounds == sorted(int(number) for number in retried), framework
