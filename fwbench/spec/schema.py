"""The JSON Schema of spec files (``fwbench schema``), for editors and CI linters.

Its keys come from the validator's own key lists (``TOP_LEVEL_KEYS``,
``COMMON_WORKLOAD_KEYS``, each kind's ``FIELDS`` and ``REQUIRED_FIELDS``),
and its enumerations from the validator's own constants, so a key or a
choice added to the validator appears here (a key without a type below
makes :func:`spec_schema` fail, and the tests with it).  The schema checks
structure and types; what only the validator can check (expressions, sweep
symbols used and defined, sizes that fit in memory) stays in ``fwbench
list``.  With the YAML language server, a first line
``# yaml-language-server: $schema=fwbench-spec.schema.json`` makes editors
complete and check a spec.
"""

from __future__ import annotations

from typing import Any

from fwbench.adapters.base import ALLOCATOR_REGIMES, CACHE_POLICIES, MATMUL_PRECISIONS
from fwbench.kinds import get_kind_class, kind_names
from fwbench.kinds.fields import IDENTIFIER, NAME
from fwbench.spec import loader

SCHEMA_ID = "https://fwbench.invalid/spec.schema.json"
SYMBOL = {"type": "string", "pattern": IDENTIFIER.pattern}
POSITIVE = {"type": "integer", "minimum": 1}
SIZE = {"oneOf": [POSITIVE, SYMBOL]}
SWEEP = {"type": "object", "propertyNames": {"pattern": IDENTIFIER.pattern},
         "additionalProperties": {"type": "array", "minItems": 1,
                                  "items": {"type": "integer", "minimum": 1, "maximum": loader.MAX_SWEEP_VALUE}}}
MODE = {"type": "string", "enum": [*loader.MODE_NAMES,
                                   *(f"{f}/{m}" for f in loader.FRAMEWORK_NAMES for m in loader.MODE_NAMES)]}

COMMON_FIELDS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "pattern": NAME.pattern},
    "kind": {"type": "string"},
    "description": {"type": "string"},
    "sweep": SWEEP,
    "full_sweep": SWEEP,
    "frameworks": {"type": "array", "items": {"enum": list(loader.FRAMEWORK_NAMES)}, "minItems": 1},
    "modes": {"type": "array", "items": MODE, "minItems": 1},
    "devices": {"type": "array", "items": {"enum": list(loader.DEVICE_KINDS)}, "minItems": 1},
    "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    "tolerance": {"type": "number", "exclusiveMinimum": 0},
    "matmul_precision": {"enum": list(MATMUL_PRECISIONS)},
    "cache": {"enum": list(CACHE_POLICIES)},
    "allocator": {"enum": list(ALLOCATOR_REGIMES)},
}


def _kind_fields(kind: str) -> dict[str, dict[str, Any]]:
    """The JSON types of one kind's own fields (the keys the kind's validator accepts)."""
    from fwbench.kinds.base import ITEMSIZES

    dtypes = {"enum": list(ITEMSIZES)}
    if kind == "expression":
        from fwbench.kinds.expression import DTYPES, INITS, INPUT_KEYS
        from fwbench.language.expression import MAX_EXPRESSION_LENGTH

        shape = {"type": "array", "minItems": 1, "items": SIZE}
        one_input = {"type": "object", "required": ["shape"], "additionalProperties": False,
                     "properties": {"shape": shape, "dtype": {"enum": list(DTYPES)}, "init": {"enum": list(INITS)}}}
        assert tuple(one_input["properties"]) == INPUT_KEYS
        return {"expr": {"type": "string", "minLength": 1, "maxLength": MAX_EXPRESSION_LENGTH},
                "inputs": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": IDENTIFIER.pattern},
                           "additionalProperties": one_input}}
    if kind == "matrix_power":
        from fwbench.kinds.matrix_power import MAX_POWER

        return {"power": {"type": "integer", "minimum": 1, "maximum": MAX_POWER}, "size": SIZE, "dtype": dtypes}
    if kind == "mlp_train":
        from fwbench.kinds.mlp_train import ACTIVATIONS, OPTIMIZERS, TASKS

        return {"layers": {"type": "array", "minItems": 2, "items": SIZE},
                "activation": {"enum": list(ACTIVATIONS)}, "batch": SIZE, "task": {"enum": list(TASKS)},
                "optimizer": {"enum": list(OPTIMIZERS)}, "learning_rate": {"type": "number", "exclusiveMinimum": 0},
                "steps": {"type": "integer", "minimum": 1, "maximum": 1000},
                "num_batches": {"type": "integer", "minimum": 1, "maximum": 1000},
                "dtype": {"enum": ["float32", "float64"]}}
    if kind == "stream":
        from fwbench.kinds.stream import OPERATIONS

        return {"operation": {"enum": list(OPERATIONS)}, "elements": SIZE, "dtype": dtypes}
    if kind == "keras":
        from fwbench.kinds.keras_model import MODELS, OPTIMIZERS, TASKS

        return {"model": {"enum": list(MODELS)}, "task": {"enum": list(TASKS)}, "batch": SIZE, "input_size": SIZE,
                "classes": {"type": "integer", "minimum": 2, "maximum": 100_000}, "weights": {"type": "null"},
                "optimizer": {"enum": list(OPTIMIZERS)}, "learning_rate": {"type": "number", "exclusiveMinimum": 0},
                "width": {"type": "integer", "minimum": 8, "maximum": 8192},
                "depth": {"type": "integer", "minimum": 1, "maximum": 64},
                "heads": {"type": "integer", "minimum": 1, "maximum": 128}}
    if kind == "python":
        from fwbench.kinds.python_module import MODULE_NAME

        return {"module": {"type": "string", "pattern": MODULE_NAME.pattern}, "dtype": dtypes}
    return {}  # a kind from another package: its fields are not typed here


def workload_schema(kind: str) -> dict[str, Any]:
    kind_class = get_kind_class(kind)
    typed = _kind_fields(kind)
    properties = {key: COMMON_FIELDS[key] for key in loader.COMMON_WORKLOAD_KEYS}
    properties["kind"] = {"const": kind}
    for field in kind_class.FIELDS:
        properties[field] = typed.get(field, {}) if typed else {}
        if typed and field not in typed:
            raise KeyError(f"the schema has no type for the {kind} field '{field}'")
    return {"type": "object", "title": f"a workload of kind {kind}", "properties": properties,
            "required": ["name", "kind", *kind_class.REQUIRED_FIELDS], "additionalProperties": False}


def spec_schema() -> dict[str, Any]:
    """The schema of a spec file (and of a claim spec, whose ``claim`` mapping it leaves to the validator)."""
    kinds = [kind for kind in kind_names() if kind != "fault"]
    top = {"version": {"enum": list(loader.SUPPORTED_VERSIONS)}, "description": {"type": "string"},
           "workloads": {"type": "array", "minItems": 1, "items": {
               "type": "object", "required": ["name", "kind"],
               "properties": {"kind": {"enum": kinds}},
               "allOf": [{"if": {"properties": {"kind": {"const": kind}}}, "then": workload_schema(kind)}
                         for kind in kinds]}}}
    assert tuple(top) == loader.TOP_LEVEL_KEYS
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "fwbench spec",
        "type": "object",
        "required": ["version", "workloads"],
        "properties": {**top, "claim": {"type": "object", "description": "a published claim (fwbench reproduce)"}},
        "additionalProperties": False,
    }
