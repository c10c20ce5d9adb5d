"""The run manifest is a frozen record: built in one place, changed only by making a new one, written whole."""

import dataclasses
import json

import pytest

from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions
from fwbench.records.manifest import ManifestFile, RunManifest
from fwbench.stats.timing import TimerSettings


def _manifest(**changes):
    settings = dict(num_threads=2, selection={"frameworks": ["numpy"], "devices": None, "modes": None,
                                              "filter_text": None, "quick": False, "full": False, "shard": [2, 3],
                                              "replicas": 1, "sides": []},
                    timer=TimerSettings(budget_s=0.5).to_dict(), rounds_planned=3,
                    round_timer=TimerSettings(budget_s=0.5 / 3).to_dict(), interleave=True, turn_s=0.02,
                    extend=True, specs=("workloads/a.yaml",), command=("fwbench", "run"))
    settings.update(changes)
    return RunManifest.new("run-1", {"hostname": "h"}, "0.test", **settings)


def test_a_manifest_cannot_change_in_place_and_each_change_is_a_new_one():
    first = _manifest()
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.finished = "now"
    second = first.with_round({"round": 1, "order": ["numpy@cpu"]}).with_workers([{"framework": "numpy"}])
    assert first.rounds == () and first.workers == ()
    assert second.rounds == ({"round": 1, "order": ["numpy@cpu"]},) and second.workers == ({"framework": "numpy"},)
    looked = second.with_look({"look": 1, "open": []}).with_last_look(round_wall_s=3.0, pool_left_s=1.0)
    assert looked.looks == ({"look": 1, "open": [], "round_wall_s": 3.0, "pool_left_s": 1.0},)
    assert second.looks is None
    with pytest.raises(ValueError, match="no look"):
        first.with_last_look(pool_left_s=0.0)
    with pytest.raises(ValueError, match="not a run fact: wall_s"):
        first.with_facts(wall_s=1.0)
    finished = looked.finish(12.5)
    assert finished.wall_s == 12.5 and finished.finished and looked.finished is None


def test_run_json_lists_the_fields_every_run_has_then_those_set():
    data = _manifest().with_facts(busy_at_start=["load"]).to_dict()
    assert list(data)[:6] == ["run_id", "fwbench_version", "started", "num_threads", "selection", "timer"]
    assert data["version"] == 1 and data["busy_at_start"] == ["load"] and data["rounds"] == [] and data["workers"] == []
    assert "finished" not in data and "looks" not in data  # not set: not written
    assert isinstance(data["specs"], list) and isinstance(data["command"], list)
    json.dumps(data)  # plain JSON all the way down


def test_reading_run_json_back_keeps_unknown_keys_and_fills_an_older_files_gaps():
    data = _manifest().with_round({"round": 1}).to_dict()
    data["from_a_newer_fwbench"] = {"x": 1}
    back = RunManifest.from_dict(data)
    assert back.rounds == ({"round": 1},) and back.other == {"from_a_newer_fwbench": {"x": 1}}
    assert back.to_dict() == data
    older = RunManifest.from_dict({"run_id": "old", "num_threads": 2, "timer": {"budget_s": 1.0}})
    assert RunManifest.from_dict({}).run_id == "unknown"  # a shard without run.json still merges
    assert older.rounds_planned == 1 and older.round_timer == {"budget_s": 1.0} and older.selection == {}
    resumed = back.resume().resume()
    assert len(resumed.resumed) == 2 and back.resumed is None


def test_the_manifest_file_holds_the_latest_manifest_whole(tmp_path):
    path = tmp_path / "run.json"
    journal = ManifestFile(path, _manifest())
    journal.save()
    assert json.loads(path.read_text())["rounds"] == []
    journal.save(journal.manifest.with_round({"round": 1}))
    assert json.loads(path.read_text())["rounds"] == [{"round": 1}]
    assert not list(tmp_path.glob("*.tmp*"))  # the atomic writer left no temporary behind


def test_resume_options_come_from_the_manifest_and_the_caller_gives_the_rest(tmp_path):
    manifest = _manifest(matmul_precision="high", unset_environment=("OPENBLAS_CORETYPE",), num_threads=1)
    options = RunOptions.from_manifest(manifest, tmp_path, cell_timeout_s=7.0, command=["fwbench", "run"])
    assert options.resume and options.out_dir == tmp_path and options.num_threads == 1 and options.rounds == 3
    assert options.timer == TimerSettings(budget_s=0.5) and options.interleave and options.extend
    assert options.turn_s == 0.02 and options.matmul_precision == "high"
    assert options.unset_environment == ("OPENBLAS_CORETYPE",) and options.cell_timeout_s == 7.0
    assert options.selection == Selection(frameworks=["numpy"], shard=(2, 3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.rounds = 5


def test_merged_shards_make_one_manifest_from_the_first_shards_settings_and_every_shards_workers():
    shards = [_manifest().with_workers([{"framework": "numpy"}]).finish(10.0).to_dict(),
              dict(_manifest().with_workers([{"framework": "torch"}]).finish(5.0).to_dict(), run_id="run-2")]
    merged = RunManifest.merged(shards, ["a", "b"], mixed_hosts=[])
    assert merged.run_id == "merged-run-1+run-2" and merged.wall_s == 15.0
    assert [worker["framework"] for worker in merged.workers] == ["numpy", "torch"] and merged.rounds == ()
    data = merged.to_dict()
    assert [origin["directory"] for origin in data["merged_from"]] == ["a", "b"] and data["hosts"] == ["h"]
    assert data["timer"] == shards[0]["timer"] and data["mixed_hosts"] == []
