"""The JSON Schema of spec files: it accepts every shipped spec, rejects every structural mistake in the
bad-input corpus, and has exactly the keys the validator accepts."""

import json

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from fwbench.cli import app
from fwbench.kinds import get_kind_class
from fwbench.spec import loader
from fwbench.spec.schema import spec_schema, workload_schema
from tests.conftest import REPO_ROOT

BAD_INPUTS = REPO_ROOT / "tests" / "bad_inputs"
# What a schema cannot see: the meaning of an expression, symbols defined and used, names unique across
# workloads, sizes that fit in memory.  The validator refuses these with its own line.
SEMANTIC = {"duplicate_names", "expr_attribute", "expr_builtin_subscript", "expr_comprehension",
            "expr_deep_nesting", "expr_fstring", "expr_import", "expr_lambda", "expr_unknown_name",
            "expr_walrus", "shape_unknown_symbol", "sweep_absurd", "sweep_explosion", "sweep_unused_symbol"}
# The loader refuses these while reading the YAML (a syntax error, bad bytes, an object tag, an alias bomb whose
# expansion a schema validator would walk for minutes, a key given twice that a plain YAML reader drops),
# before any schema could apply.
NOT_YAML = {"malformed_yaml", "non_utf8", "yaml_python_tag", "yaml_billion_laughs", "duplicate_keys"}


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(spec_schema())


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(spec_schema())


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "workloads").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_spec_is_valid(validator, path):
    errors = [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize("path", sorted(p for p in BAD_INPUTS.glob("*.yaml")
                                       if p.name != "expected.yaml" and p.stem not in NOT_YAML),
                         ids=lambda p: p.stem)
def test_every_structural_mistake_in_the_corpus_is_rejected(validator, path):
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert bool(errors) == (path.stem not in SEMANTIC), [error.message for error in errors]


@pytest.mark.parametrize("kind", ["expression", "matrix_power", "mlp_train", "stream", "python"])
def test_the_schema_has_exactly_the_keys_the_validator_accepts(kind):
    schema = workload_schema(kind)
    assert list(schema["properties"]) == [*loader.COMMON_WORKLOAD_KEYS, *get_kind_class(kind).FIELDS]
    assert schema["required"] == ["name", "kind", *get_kind_class(kind).REQUIRED_FIELDS]


def test_a_field_added_to_a_kind_without_a_type_fails_the_schema(monkeypatch):
    kind_class = get_kind_class("stream")
    monkeypatch.setattr(kind_class, "FIELDS", (*kind_class.FIELDS, "new_field"))
    with pytest.raises(KeyError, match="no type for the stream field 'new_field'"):
        spec_schema()


def test_fwbench_schema_prints_and_writes_it(tmp_path):
    printed = CliRunner().invoke(app, ["schema"])
    assert printed.exit_code == 0
    assert json.loads(printed.output)["$schema"].startswith("https://json-schema.org/draft/2020-12")
    out = tmp_path / "spec.schema.json"
    written = CliRunner().invoke(app, ["schema", "--out", str(out)])
    assert written.exit_code == 0 and json.loads(out.read_text()) == spec_schema()
