"""The one definition of "the same machine", read from the host facts a run records (``host_info``).

Numbers measured on two machines belong in one table only when these facts
agree; a run resumes only on the same host (the hostname too); stored
calibrations are keyed on them (with the framework versions).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SAME_MACHINE = (("cpu_model", "CPU"), ("logical_cores", "logical cores"), ("usable_cores", "usable cores"),
                ("machine", "architecture"), ("device_kinds", "devices"))
HOSTNAME = ("hostname", "hostname")


def machine_facts(host: dict[str, Any], with_hostname: bool = False) -> dict[str, Any]:
    """The facts of ``host`` that define the machine, by key; facts the host did not record are left out."""
    keys = ((HOSTNAME,) if with_hostname else ()) + SAME_MACHINE
    return {key: host[key] for key, _ in keys if host.get(key) is not None}


def labelled_facts(host: dict[str, Any]) -> dict[str, str]:
    """:func:`machine_facts` under their labels (``CPU``, ``logical cores``, ...), as text."""
    labels = dict(SAME_MACHINE)
    return {labels[key]: str(value) for key, value in machine_facts(host).items()}


def machine_changes(then: dict[str, Any], now: dict[str, Any], with_hostname: bool = True) -> list[str]:
    """``the cpu_model changed (A then, B now)`` for each defining fact both hosts recorded and that differs."""
    before, after = machine_facts(then, with_hostname), machine_facts(now, with_hostname)
    return [f"the {key} changed ({before[key]} then, {after[key]} now)"
            for key in before if key in after and before[key] != after[key]]


def machine_fingerprint(host: dict[str, Any], framework_versions: dict[str, str | None]) -> str:
    """A short hash of the host's defining facts (hostname included) and the framework versions."""
    parts = {"machine": machine_facts(host, with_hostname=True), "frameworks": framework_versions}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
