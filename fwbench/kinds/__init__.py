"""Workload kinds: one module per kind, looked up by the spec's ``kind:`` field.

Kind modules import no framework at module level; per-framework code is
reached through the adapter handed to :meth:`Kind.implementation`.
"""

from __future__ import annotations

import importlib
import os

from fwbench.kinds.base import Kind

_KINDS = {
    "expression": "fwbench.kinds.expression:ExpressionKind",
    "matrix_power": "fwbench.kinds.matrix_power:MatrixPowerKind",
    "mlp_train": "fwbench.kinds.mlp_train:MLPTrainKind",
    "stream": "fwbench.kinds.stream:StreamKind",
}
# Kinds that exist only to test fwbench itself (wrong results, crashes).
_TEST_KINDS = {
    "fault": "fwbench.kinds.fault:FaultKind",
}
TEST_KINDS_VARIABLE = "FWBENCH_ENABLE_TEST_KINDS"


def _registry() -> dict[str, str]:
    if os.environ.get(TEST_KINDS_VARIABLE) == "1":
        return {**_KINDS, **_TEST_KINDS}
    return dict(_KINDS)


def kind_names() -> list[str]:
    return list(_registry())


def get_kind_class(name: str) -> type[Kind]:
    module_name, class_name = _registry()[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["Kind", "get_kind_class", "kind_names", "TEST_KINDS_VARIABLE"]
