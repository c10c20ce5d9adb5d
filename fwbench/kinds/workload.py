"""A validated workload: what the spec loader builds and every kind reads.

It lives here, below both ``fwbench.spec`` (which builds it from YAML) and ``fwbench.kinds.base`` (which
holds one), so neither package imports the other back, type checks included.  ``fwbench.spec.loader``
re-exports it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Workload:
    """One validated workload; ``options`` holds the kind's own fields (JSON-able)."""

    name: str
    kind: str
    options: dict[str, Any]
    sweep: dict[str, list[int]] = field(default_factory=dict)
    full_sweep: dict[str, list[int]] = field(default_factory=dict)  # more values, used with --full
    description: str = ""
    frameworks: list[str] | None = None
    modes: list[str] | None = None
    devices: list[str] | None = None
    seed: int = 0
    tolerance: float | None = None
    matmul_precision: str | None = None  # "highest" or "high"; None: the run's (--matmul-precision, else highest)
    cache: str | None = None  # "warm" or "cold"; None: the run's (--cache, else warm)
    allocator: str | None = None  # "steady" or "fresh"; None: the run's (--allocator, else steady)
    spec_file: str = ""
    spec_hash: str = ""
    spec_git_commit: str | None = None  # HEAD of the repository holding the spec, "+dirty" if it has edits

    def parameter_sets(self, quick: bool = False, full: bool = False) -> list[dict[str, int]]:
        """The cartesian product of the sweep (with ``full``, of the sweep and ``full_sweep`` together);
        ``quick`` keeps each symbol's smallest value.  A workload with a symbol that only ``full_sweep``
        gives has no cells without ``full``."""
        if not full and any(symbol not in self.sweep for symbol in self.full_sweep):
            return []
        merged = merge_sweeps(self.sweep, self.full_sweep) if full else self.sweep
        symbols = list(merged)
        if quick:
            values = [[min(merged[symbol])] for symbol in symbols]
        else:
            values = [merged[symbol] for symbol in symbols]
        return [dict(zip(symbols, combination)) for combination in itertools.product(*values)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "options": self.options,
            "sweep": self.sweep,
            "full_sweep": self.full_sweep,
            "description": self.description,
            "frameworks": self.frameworks,
            "modes": self.modes,
            "devices": self.devices,
            "seed": self.seed,
            "tolerance": self.tolerance,
            "matmul_precision": self.matmul_precision,
            "cache": self.cache,
            "allocator": self.allocator,
            "spec_file": self.spec_file,
            "spec_hash": self.spec_hash,
            "spec_git_commit": self.spec_git_commit,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Workload":
        return cls(**data)


def merge_sweeps(sweep: dict[str, list[int]], extra: dict[str, list[int]]) -> dict[str, list[int]]:
    """Each symbol's values from both, ascending, once each."""
    return {symbol: sorted({*sweep.get(symbol, []), *extra.get(symbol, [])}) for symbol in {**sweep, **extra}}
