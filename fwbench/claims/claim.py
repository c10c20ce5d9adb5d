"""A published claim's spec: a normal spec file with a ``claim:`` mapping beside ``workloads:`` (see
``workloads/claims/``), read into a :class:`Claim`.  Two evaluations exist:

* ``speedup`` ("JAX is 86x faster than NumPy"): the claimed ratio between a
  baseline series on one device and a subject series on another;
* ``fusion`` ("XLA fuses x + y*z and the reduction into one kernel"): the
  compiled series against eager, and whether its time is below what moving
  the unfused bytes would take at the measured bandwidth (proof it fused).

What was measured for it is :mod:`fwbench.claims.measured`; its verdict, :mod:`fwbench.claims.verdict`.
Nothing here imports a framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fwbench.errors import UserError
from fwbench.kinds.fields import FieldReader
from fwbench.spec.loader import DEVICE_KINDS, Spec, load_spec

CLAIMS_DIRECTORY = Path("workloads") / "claims"
EVALUATIONS = ("speedup", "fusion")
VERDICTS = ("reproduced", "holds in direction", "not reproduced", "undecided", "not testable here")
CLAIM_KEYS = ("id", "statement", "source", "evaluation", "workload", "bandwidth_workload", "baseline", "subject",
              "ratio", "tolerance", "setup", "timeit", "context")
DEVICE_NAMES = {"cpu": "CPU", "gpu": "GPU", "tpu": "TPU"}


@dataclass
class Claim:
    id: str
    statement: str
    source: dict[str, str]
    evaluation: str
    workload: str
    bandwidth_workload: str | None
    baseline: dict[str, Any]
    subject: dict[str, Any]
    ratio: float | None
    tolerance: float
    setup: dict[str, str]
    timeit: dict[str, Any]
    context: list[str]
    spec: Spec = field(repr=False)


def _series_entry(reader: FieldReader, key: str) -> dict[str, Any]:
    entry = reader.child(key, reader.raw(key), f"the {key} (series, device, seconds)")
    entry.check_keys(("series", "device", "seconds"), required=("series", "device"))
    series = entry.take_str("series", pattern=None)
    if series.count("/") != 1:
        raise entry.error("series", f"got {series!r}, expected framework/mode such as numpy/eager")
    return {"series": series, "device": entry.take_choice("device", DEVICE_KINDS),
            "seconds": entry.take_float("seconds", None)}


def load_claim(path: str | Path) -> Claim:
    spec = load_spec(path, extra_keys=("claim",))
    reader = FieldReader(spec.document["claim"], file=spec.path, prefix="claim.", what="the claim")
    reader.check_keys(CLAIM_KEYS, required=("id", "statement", "source", "evaluation", "workload", "baseline",
                                            "subject"))
    source = reader.child("source", reader.raw("source"), "the source (title, url)")
    source.check_keys(("title", "url", "publisher", "date"), required=("title", "url"))
    source_fields = {key: source.take_str(key, "") for key in ("title", "url", "publisher", "date")}
    if not source_fields["title"].strip() or not source_fields["url"].strip():
        raise reader.error("source", "the source needs a non-empty title and url",
                           "cite where the claim was published")
    names = {w.name for w in spec.workloads}
    workload = reader.take_str("workload")
    if workload not in names:
        raise reader.error("workload", f"got {workload!r}, expected one of this file's workloads: "
                                       f"{', '.join(sorted(names))}")
    bandwidth = reader.take_str("bandwidth_workload", None)
    if bandwidth is not None and bandwidth not in names:
        raise reader.error("bandwidth_workload", f"got {bandwidth!r}, expected one of: {', '.join(sorted(names))}")
    setup = reader.raw("setup", {})
    if not isinstance(setup, dict) or not all(isinstance(v, str) for v in setup.values()):
        raise reader.error("setup", "expected a mapping of descriptions (text)")
    timeit = reader.raw("timeit", {})
    if not isinstance(timeit, dict):
        raise reader.error("timeit", "expected a mapping: {repeats: 5, loops: {numpy/eager: 5}}")
    context = reader.raw("context", [])
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        raise reader.error("context", "expected a list of framework/mode series")
    return Claim(
        id=reader.take_str("id"),
        statement=reader.take_str("statement"),
        source=source_fields,
        evaluation=reader.take_choice("evaluation", EVALUATIONS),
        workload=workload,
        bandwidth_workload=bandwidth,
        baseline=_series_entry(reader, "baseline"),
        subject=_series_entry(reader, "subject"),
        ratio=reader.take_float("ratio", None),
        tolerance=reader.take_float("tolerance", 0.25),
        setup=dict(setup),
        timeit=dict(timeit),
        context=list(context),
        spec=spec,
    )


def available_claims(directory: Path = CLAIMS_DIRECTORY) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {path.stem: path for path in sorted(directory.glob("*.yaml"))}


def find_claim(name: str, directory: Path = CLAIMS_DIRECTORY) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    claims = available_claims(directory)
    if name not in claims:
        known = ", ".join(claims) or "(none found)"
        raise UserError(f"unknown claim '{name}'; known claims: {known}", hint="see 'fwbench reproduce --list'")
    return claims[name]
