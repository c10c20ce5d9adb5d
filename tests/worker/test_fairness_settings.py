"""Fairness settings applied alike to every framework and recorded in every row: matmul precision, cache policy."""

import json

import pytest

from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.records.results import read_cells
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
from tests.cli.test_cli import fwbench
from tests.conftest import GEMM_SPEC, SMALL_SPEC, require_framework

GEMM = GEMM_SPEC.format(n=64)
FRAMEWORK_SWITCH = {"jax": ("jax_default_matmul_precision", {"highest": "highest", "high": "high"}),
                    "torch": ("allow_tf32", {"highest": False, "high": True}),
                    "tensorflow": ("tensor_float_32_execution", {"highest": False, "high": True})}


def gemm_cells(write_spec, tmp_path, precision):
    for framework in ("numpy", "jax", "torch", "tensorflow"):
        require_framework(framework)
    out = tmp_path / (precision or "default")
    run(load_specs([write_spec(GEMM, name="gemm.yaml")]),
        RunOptions(out_dir=out, matmul_precision=precision, timer=TimerSettings.quick(),
                   selection=Selection(devices=["cpu"], modes=["eager"])))
    return {cell["framework"]: cell for cell in read_cells(out)}


@pytest.mark.slow
@pytest.mark.parametrize("precision", [None, "high"])
def test_every_row_records_the_same_matmul_precision(write_spec, tmp_path, precision):
    cells = gemm_cells(write_spec, tmp_path, precision)
    expected = precision or "highest"
    assert set(cells) == {"numpy", "jax", "torch", "tensorflow"}
    for framework, cell in cells.items():
        assert cell["status"] == "ok", cell.get("reason")
        assert cell["matmul_precision"] == expected
        assert cell["settings"]["matmul"]["matmul_precision"] == expected
        if framework in FRAMEWORK_SWITCH:
            key, values = FRAMEWORK_SWITCH[framework]
            assert cell["settings"]["matmul"][key] == values[expected], (framework, cell["settings"]["matmul"])
        # float32 results are held to 1e-4 in full precision, to 1e-2 where TF32 may run
        assert cell["tolerance"] == (1e-2 if expected == "high" else 1e-4)
        assert cell["max_rel_err"] < 1e-5  # on the CPU nothing changes: still full float32 arithmetic
        # JAX's peak cannot be reset: the row says what its peak covers (the cell's own process)
        assert cell["settings"]["device_memory_peak_scope"] == (
            "since the cell's process started" if framework == "jax" else "per cell")


def test_a_spec_field_sets_it_and_a_bad_value_names_the_field(write_spec):
    from fwbench.errors import SpecError

    spec = load_specs([write_spec(GEMM.replace("kind: expression", "kind: expression\n    matmul_precision: high"))])
    assert spec[0].workloads[0].matmul_precision == "high"
    with pytest.raises(SpecError, match=r"matmul_precision.*'medium'.*highest, high"):
        load_specs([write_spec(GEMM.replace("kind: expression", "kind: expression\n    matmul_precision: medium"))])


def test_the_flag_rejects_an_unknown_precision(write_spec, tmp_path):
    result = fwbench("run", str(write_spec(GEMM)), "--matmul-precision", "medium", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "--matmul-precision: got 'medium', expected one of: highest, high" in result.stderr


@pytest.mark.slow
def test_env_json_shows_the_same_full_precision_for_every_framework():
    result = fwbench("env", "--json")
    assert result.returncode == 0, result.stderr
    frameworks = {item["framework"]: item for item in json.loads(result.stdout)["frameworks"]}
    for name, item in frameworks.items():
        require_framework(name)
        assert item["settings"]["matmul_precision"] == "highest", (name, item["settings"])
    assert frameworks["tensorflow"]["settings"]["tensor_float_32_execution"] is False  # TF's default is True
    assert frameworks["torch"]["settings"]["allow_tf32"] is False
    assert frameworks["jax"]["settings"]["jax_default_matmul_precision"] == "highest"


NVIDIA_SMI_HEADER = "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4     |"
NVIDIA_SMI_ROW = ("0, NVIDIA H100 80GB HBM3, 550.54.15, P0, 1755, 1980, 2619, 2619, 1755, 700.00, 700.00, "
                  "Enabled, Enabled, Disabled, 81559, 34")


def test_accelerator_facts_from_nvidia_smi_and_a_warning_for_unlocked_clocks():
    from fwbench.machine.accelerators import clock_warnings, nvidia_facts

    commands = []

    def run(command):
        commands.append(command)
        return NVIDIA_SMI_HEADER if command == ["nvidia-smi"] else NVIDIA_SMI_ROW

    facts = nvidia_facts(run)
    assert facts["cuda_version"] == "12.4"
    (gpu,) = facts["gpus"]
    assert (gpu["name"], gpu["driver_version"], gpu["power.limit"]) == ("NVIDIA H100 80GB HBM3", "550.54.15", "700.00")
    assert (gpu["persistence_mode"], gpu["ecc.mode.current"], gpu["mig.mode.current"]) == ("Enabled", "Enabled",
                                                                                           "Disabled")
    (warning,) = clock_warnings(facts)
    assert "1755 MHz of 1980 MHz, not locked" in warning
    assert clock_warnings({"gpus": [dict(gpu, **{"clocks.current.graphics": "1980"})]}) == []
    assert "--query-gpu=" in commands[1][1]


def test_no_gpu_no_nvidia_smi_query(monkeypatch):
    from fwbench.machine import envinfo

    monkeypatch.setenv("FWBENCH_DEVICES", "cpu")
    assert envinfo.host_info()["accelerators"] == {"nvidia_smi": "not queried: no GPU on this host"}


@pytest.mark.slow
def test_a_cold_cache_is_recorded_and_samples_one_call_each(write_spec, tmp_path):
    require_framework("torch")
    out = tmp_path / "cold"
    run(load_specs([write_spec(GEMM, name="gemm.yaml")]),
        RunOptions(out_dir=out, cache="cold", timer=TimerSettings.quick(),
                   selection=Selection(frameworks=["numpy", "torch"], devices=["cpu"], modes=["eager"])))
    for cell in read_cells(out):
        assert cell["status"] == "ok", cell.get("reason")
        assert cell["cache"] == "cold" and cell["n_loops"] == 1
        assert cell["settings"]["cache"].startswith("cold: ") and "MiB written before every call" in \
            cell["settings"]["cache"]
        assert cell["settings"]["device_time"]  # says what the device timer is, or why there is none
        assert "device_samples_s" not in cell  # the CPU has no device clock apart from the host's
    warm = load_specs([write_spec(GEMM, name="warm.yaml")])
    assert warm[0].workloads[0].cache is None  # the run decides: warm unless asked


def test_a_bad_cache_value_names_the_field(write_spec):
    from fwbench.errors import SpecError

    with pytest.raises(SpecError, match=r"cache.*'lukewarm'.*warm, cold"):
        load_specs([write_spec(GEMM.replace("kind: expression", "kind: expression\n    cache: lukewarm"))])


def test_a_gpu_whose_clock_is_not_locked_is_warned_about_at_the_start_of_a_run(write_spec, tmp_path, monkeypatch):
    from fwbench.execution import runner
    from fwbench.execution.runner import Progress

    real = runner.host_info

    def with_a_gpu():
        return dict(real(), accelerators={"nvidia_smi": "found", "gpus": [], "warnings": ["GPU 0: not locked"]})

    monkeypatch.setattr(runner, "host_info", with_a_gpu)
    warnings = []

    class Recording(Progress):
        def warn(self, message):
            warnings.append(message)

    run(load_specs([write_spec(GEMM, name="gemm.yaml")]),
        RunOptions(out_dir=tmp_path / "run", timer=TimerSettings.quick(),
                   selection=Selection(frameworks=["numpy"], devices=["cpu"])), Recording())
    assert "GPU 0: not locked" in warnings
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["host"]["accelerators"]["warnings"] == ["GPU 0: not locked"]


POWER_SUM_512 = SMALL_SPEC.replace("sweep: {n: [64, 128]}", "sweep: {n: [512]}")
assert "[512]" in POWER_SUM_512


def numpy_power_sum(write_spec, tmp_path, regime):
    require_framework("numpy")
    out = tmp_path / (regime or "default")
    run(load_specs([write_spec(POWER_SUM_512, name="power_sum.yaml")]),
        RunOptions(out_dir=out, allocator=regime, timer=TimerSettings.quick(),
                   selection=Selection(frameworks=["numpy"], devices=["cpu"])))
    (cell,) = read_cells(out)
    assert cell["status"] == "ok", cell.get("reason")
    return cell


def test_the_allocator_regime_is_applied_and_recorded_in_every_row(write_spec, tmp_path):
    """NumPy's 1 MiB temporaries at n=512 come from fresh pages in a fresh process (glibc maps blocks above its
    128 KiB threshold) and from reused heap memory once a larger block has been freed: about 3 x 256 fresh
    pages a call against none.  Page counts, not times."""
    steady, fresh = (numpy_power_sum(write_spec, tmp_path, regime) for regime in (None, "fresh"))
    assert steady["allocator_regime"] == "steady" and fresh["allocator_regime"] == "fresh"
    assert steady["settings"]["allocator"]["regime"] == "steady"
    assert "freed a 33546240 byte block" in steady["settings"]["allocator"]["action"]
    assert fresh["settings"]["allocator"]["action"].startswith("none")
    # the steady regime's large blocks start at the round's place in a page; the fresh regime's are mappings
    assert isinstance(steady["settings"]["allocator"]["heap_position"], int)
    assert "heap_position" not in fresh["settings"]["allocator"]
    assert fresh["page_faults_per_call"] > 200
    assert steady["page_faults_per_call"] < fresh["page_faults_per_call"] / 10


def test_a_block_one_page_larger_would_not_raise_the_threshold():
    """The steady block is the largest glibc lets raise its mmap threshold: with one page more, the chunk's
    flag bit puts its size over DEFAULT_MMAP_THRESHOLD_MAX and nothing changes (checked in a fresh process)."""
    import subprocess
    import sys

    program = """import ctypes, resource, sys
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(int(sys.argv[1])))
def call():  # four 4 MiB temporaries alive at once, as an expression's are
    blocks = [libc.malloc(4 << 20) for _ in range(4)]
    for block in blocks:
        ctypes.memset(block, 1, 4 << 20)
    for block in blocks:
        libc.free(block)
call()  # the first call grows the heap in either state
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    call()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""
    from fwbench.worker.process import STEADY_BLOCK_BYTES

    def faults(size):
        return float(subprocess.run([sys.executable, "-c", program, str(size)], capture_output=True, text=True,
                                    check=True).stdout)

    assert faults(STEADY_BLOCK_BYTES) < 100  # 16 MiB of temporaries reused from the heap
    # The threshold stays where the temporaries' own frees put it (4 MiB, trim at 8): the heap is trimmed
    # after every call and its 4096 pages fault in again, most of them.
    assert faults(STEADY_BLOCK_BYTES + 4096) > 2000


def test_kernel_facts_and_variables_are_in_every_row(write_spec, tmp_path):
    cell = numpy_power_sum(write_spec, tmp_path, None)
    gemm = cell["settings"]["kernels"]["gemm"]
    assert gemm["library"] in ("OpenBLAS", "MKL", "BLIS") and gemm["source"] == "threadpoolctl"
    assert gemm["kernel"] and gemm["version"]
    assert "OMP_NUM_THREADS" in cell["settings"]["kernel_environment"]  # fwbench's own thread setting
    assert cell["settings"]["environment_unset"] == []


def test_the_heap_position_places_the_next_array_whatever_came_before():
    """Forks of one worker allocate along one history, so their arrays would land at the same place past a
    cache line; position_heap must put the next large block at the position asked, after any allocation
    history (here 0 to 3 odd blocks first), in fresh processes: addresses, not times."""
    import subprocess
    import sys

    program = """import sys
import numpy as np
from fwbench.worker.process import _libc, position_heap, settle_allocator
settle_allocator("steady")
history = [_libc().malloc(300000 + 48 * k) for k in range(int(sys.argv[2]))]
record = position_heap(int(sys.argv[1]))
x = np.ones((256, 256), dtype="float32")
print(x.ctypes.data % 4096, record["heap_position"])
"""

    def placed(position, history):
        return subprocess.run([sys.executable, "-c", program, str(position), str(history)],
                              capture_output=True, text=True, check=True).stdout.split()

    for position, history in [(0, 0), (16, 1), (1040, 2), (4080, 3)]:
        assert placed(position, history) == [str(position), str(position)]


def test_every_series_of_a_round_shares_its_heap_position_and_rounds_cover_the_cache_line():
    from fwbench.worker.process import heap_position

    positions = [heap_position("20261206T000000Z-abcdef", number) for number in range(1, 9)]
    assert positions == [heap_position("20261206T000000Z-abcdef", number) for number in range(1, 9)]
    assert all(0 <= p < 4096 and p % 16 == 0 for p in positions)
    assert sorted(p % 64 for p in positions[:4]) == [0, 16, 32, 48] == sorted(p % 64 for p in positions[4:])
    assert positions != [heap_position("20261206T000000Z-fedcba", number) for number in range(1, 9)]
