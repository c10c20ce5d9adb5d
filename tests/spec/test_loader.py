import pytest

from fwbench.errors import SpecError, UserError
from fwbench.spec.loader import load_spec, load_specs
from tests.conftest import SMALL_SPEC


def test_valid_spec_loads(write_spec):
    spec = load_spec(write_spec(SMALL_SPEC))
    assert spec.version == 1
    (workload,) = spec.workloads
    assert workload.name == "power_sum"
    assert workload.parameter_sets() == [{"n": 64}, {"n": 128}]
    assert workload.parameter_sets(quick=True) == [{"n": 64}]
    assert workload.options["inputs"]["x"] == {"shape": ["n", "n"], "dtype": "float32", "init": "normal"}
    assert len(spec.sha256) == 64


def error_for(write_spec, text):
    path = write_spec(text)
    with pytest.raises(UserError) as caught:
        load_specs([path])
    return str(path), caught.value.one_line()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    exprr: x\n    inputs: {x: {shape: [2]}}\n",
         ["workload 'a'", "field 'exprr'", "unknown key 'exprr'", "valid keys: name, kind",
          "did you mean 'expr'?"]),
        ("version: 2\nworkloads: []\n", ["field 'version'", "got 2 (int)", "expected one of [1]"]),
        ("workloads: []\n", ["the required key 'version' is missing"]),
        ("version: 1\nworkloads: []\n", ["field 'workloads'", "expected a non-empty list"]),
        ("- 1\n- 2\n", ["expected a mapping", "got [1, 2] (list)"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: magic\n",
         ["workload 'a'", "field 'kind'", "got 'magic' (str)", "expected one of: expression"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n    inputs: {x: {shape: [n]}}\n"
         "    sweep: {n: [0]}\n", ["field 'sweep.n'", "got 0, expected an integer >= 1"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n    inputs: {x: {shape: [n]}}\n"
         "    sweep: {n: [2.5]}\n", ["field 'sweep.n'", "got 2.5 (float), expected an integer"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n    inputs: {x: {shape: [m]}}\n"
         "    sweep: {n: [2]}\n", ["field 'inputs.x.shape'", "the symbol 'm' is not defined in the sweep"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n    inputs: {x: {shape: [4]}}\n"
         "    sweep: {n: [2]}\n", ["field 'sweep'", "the symbol 'n' is not used"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n"
         "    inputs: {x: {shape: [4], dtype: float33}}\n",
         ["field 'inputs.x.dtype'", "got 'float33' (str)", "expected one of: float16", "did you mean 'float32'?"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n    inputs: {x: {shape: [4]}}\n"
         "    frameworks: [numpy, mxnet]\n", ["field 'frameworks'", "got 'mxnet'", "expected one of: numpy"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: \"__import__('os')\"\n"
         "    inputs: {x: {shape: [4]}}\n", ["field 'expr'", "unknown function '__import__'"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    inputs: {x: {shape: [4]}}\n",
         ["field 'expr'", "the required key 'expr' is missing"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n    inputs: {x: {shape: [4]}}\n"
         "  - name: a\n    kind: expression\n    expr: x\n    inputs: {x: {shape: [4]}}\n",
         ["duplicate workload name 'a'"]),
        ("version: 1\nworkloads:\n  - name: a\n    kind: expression\n    expr: x\n    inputs: {x: {shape: [4]}}\n"
         "    modes: [jit, turbo]\n", ["field 'modes'", "got 'turbo'"]),
        ("version: 1\nworkloads: [\n", ["malformed YAML", "line"]),
        ("", ["the file is empty"]),
    ],
)
def test_errors_name_file_field_received_and_expected(write_spec, text, expected):
    path, message = error_for(write_spec, text)
    assert message.startswith(path)
    assert "\n" not in message
    for part in expected:
        assert part in message, message


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"version: 1\nworkloads: \xff\xfe\n")
    with pytest.raises(SpecError, match="not valid UTF-8"):
        load_spec(path)


def test_directory_without_specs_is_refused(tmp_path):
    with pytest.raises(UserError, match="holds no spec files"):
        load_specs([tmp_path])


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(UserError, match="no such file or directory"):
        load_specs([tmp_path / "nope.yaml"])


def test_default_workloads_are_valid():
    from tests.conftest import REPO_ROOT

    specs = load_specs([REPO_ROOT / "workloads"])
    names = [w.name for s in specs for w in s.workloads]
    assert "power_sum" in names
    power_sum = next(w for s in specs for w in s.workloads if w.name == "power_sum")
    assert power_sum.options["expr"] == "x + x*x + x*x*x"
    assert 10000 in power_sum.full_sweep["n"]  # the claim's 10000 x 10000 array, with --full
    assert 10000 not in power_sum.sweep["n"] and 1000 in power_sum.sweep["n"]
    kinds = {w.kind for s in specs for w in s.workloads}
    assert kinds == {"expression", "matrix_power", "mlp_train", "keras"}


def test_full_sweep_adds_sizes_only_when_asked(write_spec):
    spec = write_spec("""
version: 1
workloads:
  - name: wide
    kind: expression
    expr: "x * 2"
    inputs:
      x: {shape: [n]}
    sweep: {n: [8, 64]}
    full_sweep: {n: [4096, 16]}
  - name: variant
    kind: expression
    expr: "x * 3"
    inputs:
      x: {shape: [n]}
    full_sweep: {n: [32]}
""")
    wide, variant = load_specs([spec])[0].workloads
    assert [p["n"] for p in wide.parameter_sets()] == [8, 64]
    assert [p["n"] for p in wide.parameter_sets(full=True)] == [8, 16, 64, 4096]
    assert [p["n"] for p in wide.parameter_sets(quick=True, full=True)] == [8]
    assert variant.parameter_sets() == []  # its only size is a full one
    assert variant.parameter_sets(full=True) == [{"n": 32}]


def test_a_full_size_that_cannot_fit_is_refused_when_full_plans_it(write_spec):
    from fwbench.execution.plan import Selection, plan_cells

    spec = write_spec("""
version: 1
workloads:
  - name: w
    kind: expression
    expr: "x * 2"
    inputs:
      x: {shape: [n, n]}
    sweep: {n: [8]}
    full_sweep: {n: [100000000]}
""")
    specs = load_specs([spec])
    assert len(plan_cells(specs, Selection(frameworks=["numpy"], devices=["cpu"]))) == 1
    with pytest.raises(SpecError, match="the sizes n=100000000 need about"):
        plan_cells(specs, Selection(frameworks=["numpy"], devices=["cpu"], full=True))
