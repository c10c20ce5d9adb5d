"""Inputs and references saved once per run: which are worth saving, and saving them safely side by side."""

import os
import types

import numpy as np

from fwbench.kinds.base import Reference
from fwbench.worker import cells
from fwbench.worker.cache import cache_load, cache_save, worth_caching


def test_arrays_are_saved_when_making_them_cost_more_than_reading_them_back():
    eight_mb = [np.zeros((1024, 1024), dtype=np.float64)]
    assert worth_caching(0.34, eight_mb)  # matrix_poly's float64 reference at n=1024, made again in every fork
    assert not worth_caching(0.005, eight_mb)  # below the floor: a file costs more than the arithmetic
    assert not worth_caching(0.05, [np.zeros(64 * 1024 * 1024, dtype=np.float64)])  # 512 MB of zeros: reading
    # it back would take longer than making it
    assert worth_caching(0.03, [np.ones(10)])


def test_a_process_that_saves_leaves_no_file_of_its_own_behind_and_the_next_reads_it(tmp_path):
    stem = str(tmp_path / "cache" / "key-input")
    arrays = [np.arange(6.0).reshape(2, 3), np.ones(4, dtype=np.float32)]
    cache_save(stem, arrays, {"scale": 2.0})
    cache_save(stem, arrays, {"scale": 2.0})  # a second process that made the same arrays at once
    loaded, meta = cache_load(stem)
    assert [a.tolist() for a in loaded] == [a.tolist() for a in arrays]
    assert meta == {"scale": 2.0, "count": 2}
    assert not [name for name in os.listdir(tmp_path / "cache") if ".tmp" in name]


def test_a_reference_slow_enough_to_make_is_made_once_and_then_loaded(tmp_path, monkeypatch):
    """The rule as the runner applies it: the first process makes the reference and saves it; the next loads
    the saved one instead of making it again."""
    made: list[int] = []

    class Kind:
        @staticmethod
        def reference(params, inputs):
            made.append(1)
            return Reference(np.full((3, 3), 7.0), 1.0)

    clock = iter([0.0, 0.4, 10.0, 10.4])  # what the runner's clock reads around each making
    monkeypatch.setattr(cells.time, "perf_counter", lambda: next(clock))
    runner = types.SimpleNamespace(config={"cache_dir": str(tmp_path)}, _cache_key=lambda workload, params: "k")
    first = cells.CellRunner._reference(runner, Kind, None, {"n": 3}, [])
    second = cells.CellRunner._reference(runner, Kind, None, {"n": 3}, [])
    assert made == [1]
    assert second.value.tolist() == first.value.tolist() and second.scale == 1.0
