"""The run manifest (``run.json``): a frozen record, built in one place and changed only by making a new one.

:func:`fwbench.execution.runner.run` makes a :class:`RunManifest` when a run starts (:meth:`RunManifest.new`
takes the run's identity, its settings and the host facts) and, as the run goes on, replaces it with one more
round (:meth:`with_round`, then its workers' hellos with :meth:`with_workers`), one more look
(:meth:`with_look`), the run's findings about itself (:meth:`with_facts`: busy at start, repeated and retried
rounds, machine noise) and, at the end, :meth:`finish` or :meth:`interrupt`. Nothing mutates a manifest: each
of these returns a new one, and :class:`ManifestFile` writes each new one to ``run.json`` atomically, so the
file always holds a whole manifest as of the last change. ``--resume`` reads it back with :meth:`from_dict`,
which keeps keys it does not know (a newer fwbench's) and gives older files' missing keys their defaults.
Readers of finished runs (reports, ``merge``) read ``run.json`` as a plain mapping with
:func:`fwbench.records.results.read_manifest`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from fwbench.files import write_json_atomic

MANIFEST_VERSION = 1

# Fields present in every manifest, in the order run.json lists them; the others are written when set.
_ALWAYS = ("version", "run_id", "fwbench_version", "command", "started", "num_threads", "selection", "timer",
           "rounds_planned", "rounds_per_start", "round_timer", "interleave", "turn_s", "extend", "matmul_precision",
           "cache", "allocator", "allocator_default", "unset_environment", "executor", "specs", "host", "workers",
           "rounds", "calibration")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class RunManifest:
    """What a run was asked to do, on which machine, and what happened to it as a whole (per-cell results
    are in ``results.jsonl``).  Lists are tuples, so a manifest cannot change in place."""

    run_id: str
    fwbench_version: str
    started: str
    num_threads: int
    selection: Mapping[str, Any]
    timer: Mapping[str, Any]
    rounds_planned: int
    round_timer: Mapping[str, Any]
    host: Mapping[str, Any]
    rounds_per_start: int = 1  # rounds one start of the workers serves (--rounds-per-start)
    command: tuple[str, ...] = ()
    interleave: bool = False
    turn_s: float | None = None
    extend: bool = False
    matmul_precision: str | None = None
    cache: str | None = None
    allocator: str | None = None
    allocator_default: str | None = None
    unset_environment: tuple[str, ...] = ()
    executor: str = "local"
    specs: tuple[str, ...] = ()
    workers: tuple[Mapping[str, Any], ...] = ()  # every worker's hello: versions, settings, import time
    rounds: tuple[Mapping[str, Any], ...] = ()  # every round: number, start, order, machine probe, look
    calibration: Mapping[str, Any] | None = None
    busy_at_start: tuple[str, ...] | None = None
    looks: tuple[Mapping[str, Any], ...] | None = None  # fwbench.execution.extension
    repeated: Mapping[str, Any] | None = None
    retried: Mapping[str, Any] | None = None  # round -> the cells whose process died, run once more
    # round -> the cells run again beside them, their partners in that round (fwbench.execution.retry)
    rerun_beside: Mapping[str, Any] | None = None
    machine_noise: Mapping[str, Any] | None = None
    handoff: Mapping[str, Any] | None = None  # the cross-core hand-off probe's spells (fwbench.execution.handoff)
    resumed: tuple[str, ...] | None = None
    interrupted: str | None = None
    finished: str | None = None
    wall_s: float | None = None
    version: int = MANIFEST_VERSION
    other: Mapping[str, Any] = field(default_factory=dict)  # keys this fwbench does not know, kept as read

    @classmethod
    def new(cls, run_id: str, host: Mapping[str, Any], fwbench_version: str, **settings: Any) -> "RunManifest":
        """A manifest for a run starting now, by ``fwbench_version`` (``fwbench.__version__``)."""
        return cls(run_id=run_id, fwbench_version=fwbench_version, started=_now(), host=host, **settings)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunManifest":
        """A manifest read back from ``run.json`` (``--resume``)."""
        known = {item.name for item in dataclasses.fields(cls)} - {"other"}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in known:
                values[name] = tuple(value) if isinstance(value, list) else value
        values.setdefault("run_id", "unknown")
        values.setdefault("num_threads", 0)
        values.setdefault("fwbench_version", "unknown")
        values.setdefault("started", "")
        values.setdefault("selection", {})
        values.setdefault("timer", {})
        values.setdefault("rounds_planned", 1)
        values.setdefault("round_timer", values["timer"])
        values.setdefault("host", {})
        return cls(**values, other={name: value for name, value in data.items() if name not in known})

    def to_dict(self) -> dict[str, Any]:
        """``run.json``'s content: the fields every manifest has, then those set, then unknown keys kept."""
        found: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            if item.name == "other":
                continue
            value = getattr(self, item.name)
            if item.name in _ALWAYS or value is not None:
                found[item.name] = _plain(value)
        found.update(_plain(self.other))
        return found

    def with_round(self, entry: Mapping[str, Any]) -> "RunManifest":
        """One more round, as it starts (number, start time, order of its workers, machine probe, look)."""
        return dataclasses.replace(self, rounds=(*self.rounds, dict(entry)))

    def with_workers(self, hellos: Any) -> "RunManifest":
        """The hellos of a round's workers, once it has run."""
        return dataclasses.replace(self, workers=(*self.workers, *(dict(hello) for hello in hellos)))

    def with_look(self, entry: Mapping[str, Any]) -> "RunManifest":
        """One more look at the open sizes (:mod:`fwbench.execution.extension`)."""
        return dataclasses.replace(self, looks=(*(self.looks or ()), dict(entry)))

    def with_last_look(self, **changes: Any) -> "RunManifest":
        """The latest look with ``changes`` (what its round cost, the pool left)."""
        looks = self.looks or ()
        if not looks:
            raise ValueError("there is no look to change")
        return dataclasses.replace(self, looks=(*looks[:-1], {**looks[-1], **changes}))

    def with_facts(self, **facts: Any) -> "RunManifest":
        """The run's findings about itself (``busy_at_start``, ``repeated``, ``retried``, ``rerun_beside``,
        ``machine_noise``, ``handoff``)."""
        allowed = {"busy_at_start", "repeated", "retried", "rerun_beside", "machine_noise", "handoff"}
        unknown = sorted(set(facts) - allowed)
        if unknown:
            raise ValueError(f"not a run fact: {', '.join(unknown)}")
        return dataclasses.replace(self, **{name: tuple(value) if isinstance(value, list) else value
                                           for name, value in facts.items()})

    @classmethod
    def merged(cls, manifests: list[Mapping[str, Any]], directories: list[Any],
               mixed_hosts: list[str]) -> "RunManifest":
        """The manifest of shard runs joined by ``fwbench merge``: the first shard's settings and host, every
        shard's workers and wall time, no rounds or looks of its own, and where each shard came from
        (``merged_from``, ``hosts``, ``mixed_hosts``: kept beside the fields, as keys this type does not own)."""
        first = cls.from_dict(manifests[0])
        origins = [{"directory": str(directory), "run_id": data.get("run_id"),
                    "host": (data.get("host") or {}).get("hostname"), "command": data.get("command")}
                   for directory, data in zip(directories, manifests)]
        return dataclasses.replace(
            first, run_id="merged-" + "+".join(sorted({data.get("run_id", "?") for data in manifests})),
            workers=tuple(dict(worker) for data in manifests for worker in data.get("workers", [])),
            wall_s=sum(data.get("wall_s") or 0 for data in manifests), rounds=(), looks=None, finished=_now(),
            other={**first.other, "merged_from": origins,
                   "hosts": sorted({(data.get("host") or {}).get("hostname") or "?" for data in manifests}),
                   "mixed_hosts": list(mixed_hosts)})

    def resume(self) -> "RunManifest":
        """The manifest of a run continued now (``--resume``)."""
        return dataclasses.replace(self, resumed=(*(self.resumed or ()), _now()))

    def interrupt(self) -> "RunManifest":
        return dataclasses.replace(self, interrupted=_now())

    def finish(self, wall_s: float) -> "RunManifest":
        """The run ended now, having taken ``wall_s`` seconds (a resumed run's sessions added up)."""
        return dataclasses.replace(self, finished=_now(), wall_s=wall_s)


def _plain(value: Any) -> Any:
    """Tuples as lists and mappings as dicts, all the way down: what JSON writes."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


class ManifestFile:
    """The run's manifest as it stands, written to ``run.json`` after every change (atomically: a reader
    never sees half a file).  :attr:`manifest` is the latest."""

    def __init__(self, path: Path, manifest: RunManifest) -> None:
        self.path = Path(path)
        self.manifest = manifest

    def save(self, manifest: RunManifest | None = None) -> RunManifest:
        """Make ``manifest`` (default: the current one) the latest and write it."""
        if manifest is not None:
            self.manifest = manifest
        write_json_atomic(self.manifest.to_dict(), self.path)
        return self.manifest
