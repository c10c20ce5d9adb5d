"""Workload kinds: one module per kind, looked up by the spec's ``kind:`` field.

Kind modules import no framework at module level; per-framework code is
reached through the adapter handed to :meth:`Kind.implementation`.  Other
packages add kinds through the ``fwbench.kinds`` entry-point group
(``name = package.module:KindClass`` in their metadata); a built-in name
cannot be taken over.
"""

from __future__ import annotations

import functools
import importlib
import os

from fwbench.kinds.base import Kind

_KINDS = {
    "expression": "fwbench.kinds.expression:ExpressionKind",
    "matrix_power": "fwbench.kinds.matrix_power:MatrixPowerKind",
    "mlp_train": "fwbench.kinds.mlp_train:MLPTrainKind",
    "stream": "fwbench.kinds.stream:StreamKind",
    "python": "fwbench.kinds.python_module:PythonModuleKind",
    "keras": "fwbench.kinds.keras_model:KerasKind",
}
ENTRY_POINT_GROUP = "fwbench.kinds"
# Kinds that exist only to test fwbench itself (wrong results, crashes).
_TEST_KINDS = {
    "fault": "fwbench.kinds.fault:FaultKind",
}
TEST_KINDS_VARIABLE = "FWBENCH_ENABLE_TEST_KINDS"


def _registry() -> dict[str, str]:
    registry = {**_installed_kinds(), **_KINDS}
    if os.environ.get(TEST_KINDS_VARIABLE) == "1":
        registry.update(_TEST_KINDS)
    return registry


@functools.lru_cache(maxsize=1)
def _installed_kinds() -> dict[str, str]:
    """Kinds other installed packages register (``fwbench.kinds`` entry points); read, not imported, and
    read once per process (the scan of installed packages takes milliseconds, and every spec's workload
    asks)."""
    from importlib.metadata import entry_points

    return {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}


def kind_names() -> list[str]:
    return list(_registry())


def get_kind_class(name: str) -> type[Kind]:
    module_name, class_name = _registry()[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["Kind", "get_kind_class", "kind_names", "TEST_KINDS_VARIABLE"]
