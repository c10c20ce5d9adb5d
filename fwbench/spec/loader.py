"""Loading and validating workload spec files (YAML, versioned).

A spec file is data.  It is read with ``yaml.safe_load`` and every value is
checked here; expressions are parsed by :mod:`fwbench.language.expression`, never
evaluated.  Any problem raises :class:`~fwbench.errors.SpecError` naming the
file, the workload and the field.

Format (version 1)::

    version: 1
    workloads:
      - name: power_sum
        kind: expression
        expr: "x + x*x + x*x*x"
        inputs:
          x: {shape: [n, n], dtype: float32, init: normal}
        sweep: {n: [1000, 4000, 10000]}
        frameworks: [numpy, jax]      # optional restriction
        modes: [eager, jit]           # optional, a mode or framework/mode
        devices: [cpu]                # optional
        seed: 0                       # optional
        allocator: steady             # optional: steady (default) or fresh
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fwbench.adapters.base import ALLOCATOR_REGIMES, CACHE_POLICIES, MATMUL_PRECISIONS
from fwbench.errors import SpecError, UserError, describe
from fwbench.kinds.fields import NAME, FieldReader, check_int
from fwbench.kinds.workload import Workload, merge_sweeps  # Workload lives below both spec and kinds

SPEC_VERSION = 1
SUPPORTED_VERSIONS = (1,)
FRAMEWORK_NAMES = ("numpy", "jax", "torch", "tensorflow")
MODE_NAMES = ("eager", "jit", "compile", "function", "xla")
DEVICE_KINDS = ("cpu", "gpu", "tpu")
DTYPES = ("float16", "bfloat16", "float32", "float64")
MAX_SWEEP_VALUE = 2**40
MAX_SIZES_PER_WORKLOAD = 10_000  # the sizes one workload's sweeps may give together (each is checked at load)
TOP_LEVEL_KEYS = ("version", "description", "workloads")
COMMON_WORKLOAD_KEYS = (
    "name",
    "kind",
    "description",
    "sweep",
    "full_sweep",
    "frameworks",
    "modes",
    "devices",
    "seed",
    "tolerance", "matmul_precision", "cache", "allocator",
)
SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class Spec:
    path: str
    version: int
    sha256: str
    description: str
    workloads: list[Workload]
    document: dict[str, Any] = field(default_factory=dict, repr=False)  # the parsed YAML, for extensions


def find_spec_files(paths: list[str | Path]) -> list[Path]:
    """Expand directories (their ``*.yaml``/``*.yml``, not recursive) and check files exist."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())
            if not found:
                raise UserError(
                    f"{path}: the directory holds no spec files (*.yaml, *.yml)",
                    hint="point at a spec file or a directory of them, e.g. workloads/",
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path}: no such file or directory", hint="check the path")
    return files


def load_specs(paths: list[str | Path]) -> list[Spec]:
    """Load every spec under ``paths``; workload names must be unique across them."""
    specs = [load_spec(path) for path in find_spec_files(paths)]
    seen: dict[str, str] = {}
    for spec in specs:
        for workload in spec.workloads:
            if workload.name in seen:
                raise SpecError(
                    f"duplicate workload name '{workload.name}' (also in {seen[workload.name]})",
                    file=spec.path,
                    workload=workload.name,
                    field="name",
                    hint="give each workload a unique name",
                )
            seen[workload.name] = spec.path
    return specs


def load_spec(path: str | Path, extra_keys: tuple[str, ...] = ()) -> Spec:
    """Load one spec file; ``extra_keys`` are further top-level keys a caller validates (``claim``)."""
    path = Path(path)
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"{file}: cannot read the file: {error.strerror or error}",
                        hint="check the path and its permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(
            f"the file is not valid UTF-8 (byte {error.start}: {data[error.start:error.start + 1]!r})",
            file=file,
            hint="save the file as UTF-8",
        ) from None
    spec = parse_spec_text(text, file=file, sha256=hashlib.sha256(data).hexdigest(), extra_keys=extra_keys)
    commit = git_commit(path)
    for workload in spec.workloads:
        workload.spec_git_commit = commit
    return spec


def git_commit(path: Path) -> str | None:
    """The commit of the repository holding ``path`` (with "+dirty" if the file has changes), or None."""
    import subprocess

    try:
        directory = str(path.resolve().parent)
        head = subprocess.run(["git", "-C", directory, "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", directory, "status", "--porcelain", "--", path.name],
                                capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, first_line: int, line: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key, self.first_line, self.line = key, first_line, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (merge keys ``<<`` aside)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the constructor below reports it
                    continue
                if first is not None:
                    raise DuplicateKeyError(key, first, key_node.start_mark.line + 1)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def parse_spec_text(text: str, *, file: str, sha256: str | None = None, extra_keys: tuple[str, ...] = ()) -> Spec:
    """Validate a spec given as text; ``file`` is used in error messages."""
    if sha256 is None:
        sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader that refuses duplicate keys
    except DuplicateKeyError as error:
        raise SpecError(f"the key '{error.key}' is given twice, at lines {error.first_line} and {error.line}; YAML "
                        "would silently keep the second", file=file, field=str(error.key),
                        hint="keep one of them") from None
    except yaml.constructor.ConstructorError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"a YAML tag that builds objects{where} is not allowed ({error.problem}); spec files are "
                        "plain data", file=file, hint="remove the !!tag") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError(f"malformed YAML{where}: {problem}", file=file,
                        hint="fix the YAML syntax (indentation, colons, quotes)") from None
    except RecursionError:
        raise SpecError("malformed YAML: nested too deeply", file=file) from None
    if document is None:
        raise SpecError("the file is empty", file=file,
                        hint="start with 'version: 1' and a 'workloads:' list")
    top = FieldReader(document, file=file, what="the top level of a spec file")
    top.check_keys([*TOP_LEVEL_KEYS, *extra_keys], required=("version", "workloads", *extra_keys))
    version = top.raw("version")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise top.error(
            "version",
            f"got {describe(version)}, expected one of {list(SUPPORTED_VERSIONS)}",
            "write 'version: 1', or upgrade fwbench if the file is newer",
        )
    description = top.take_str("description", "")
    items = top.raw("workloads")
    if not isinstance(items, list) or not items:
        raise top.error("workloads", f"got {describe(items)}, expected a non-empty list of workloads")
    workloads = []
    names: set[str] = set()
    for index, item in enumerate(items):
        workload = _parse_workload(item, index, file, sha256)
        if workload.name in names:
            raise SpecError(f"duplicate workload name '{workload.name}'", file=file,
                            workload=workload.name, field="name", hint="give each workload a unique name")
        names.add(workload.name)
        workloads.append(workload)
    return Spec(path=file, version=version, sha256=sha256, description=description, workloads=workloads,
                document=dict(document))


def _parse_workload(item: Any, index: int, file: str, sha256: str) -> Workload:
    from fwbench.kinds import get_kind_class, kind_names

    label = f"#{index + 1}"
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        label = item["name"]
    reader = FieldReader(item, file=file, workload=label, prefix="", what=f"workload {label}")
    if "name" not in reader.mapping:
        raise reader.error("name", "the required key 'name' is missing", "add 'name: my_workload'")
    name = reader.take_str("name", pattern=NAME,
                           expected="a name of letters, digits, '_', '.' and '-'")
    kind = reader.take_choice("kind", kind_names())
    kind_class = get_kind_class(kind)
    reader.check_keys([*COMMON_WORKLOAD_KEYS, *kind_class.FIELDS],
                      required=["name", "kind", *kind_class.REQUIRED_FIELDS])
    sweep = _parse_sweep(reader, "sweep")
    full_sweep = _parse_sweep(reader, "full_sweep")
    _check_sweep_size(reader, merge_sweeps(sweep, full_sweep), "full_sweep" if full_sweep else "sweep")
    workload = Workload(
        name=name,
        kind=kind,
        options={},
        sweep=sweep,
        full_sweep=full_sweep,
        description=reader.take_str("description", ""),
        frameworks=reader.take_list_of_choices("frameworks", FRAMEWORK_NAMES, None),
        modes=_parse_modes(reader),
        devices=reader.take_list_of_choices("devices", DEVICE_KINDS, None),
        seed=reader.take_int("seed", 0, minimum=0, maximum=2**32 - 1),
        tolerance=reader.take_float("tolerance", None),
        matmul_precision=reader.take_choice("matmul_precision", MATMUL_PRECISIONS, None),
        cache=reader.take_choice("cache", CACHE_POLICIES, None),
        allocator=reader.take_choice("allocator", ALLOCATOR_REGIMES, None),
        spec_file=file,
        spec_hash=sha256,
    )
    # The kind checks every size either sweep can give (shapes, memory), so --full never meets a bad one.
    workload.options = kind_class.parse_options(reader, merge_sweeps(sweep, full_sweep))
    return workload


def _parse_sweep(reader: FieldReader, key: str) -> dict[str, list[int]]:
    raw = reader.raw(key, {})
    sweep_reader = reader.child(key, raw, f"the {key.replace('_', ' ')} (symbol: [values])")
    sweep: dict[str, list[int]] = {}
    for symbol, values in sweep_reader.mapping.items():
        if not isinstance(symbol, str) or not symbol.isidentifier():
            raise reader.error(key, f"got the symbol {describe(symbol)}, expected a name like n")
        if isinstance(values, int) and not isinstance(values, bool):
            values = [values]
        if not isinstance(values, list) or not values:
            raise sweep_reader.error(symbol, f"got {describe(values)}, expected a non-empty list of sizes")
        checked = []
        for value in values:
            checked.append(check_int(value, 1, MAX_SWEEP_VALUE,
                                     lambda message: sweep_reader.error(symbol, message)))
        sweep[symbol] = list(dict.fromkeys(checked))
    return sweep


def _check_sweep_size(reader: FieldReader, merged: dict[str, list[int]], key: str) -> None:
    """Refuse sweeps whose product exceeds :data:`MAX_SIZES_PER_WORKLOAD` before any size is expanded."""
    total = 1
    for values in merged.values():
        total *= len(values)
    if total > MAX_SIZES_PER_WORKLOAD:
        factors = " x ".join(f"{len(values)} values of {symbol}" for symbol, values in merged.items())
        raise reader.error(key, f"the sweeps give {total:,} sizes ({factors}); at most "
                                f"{MAX_SIZES_PER_WORKLOAD:,} are allowed per workload",
                           "sweep fewer values, or split the sweep over several workloads")


def _parse_modes(reader: FieldReader) -> list[str] | None:
    """Modes are names (``jit``) or framework/mode pairs (``jax/jit``)."""
    valid = [*MODE_NAMES, *(f"{f}/{m}" for f in FRAMEWORK_NAMES for m in MODE_NAMES)]
    value = reader.raw("modes", None)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise reader.error("modes", f"got {describe(value)}, expected a non-empty list of modes "
                                    f"({', '.join(MODE_NAMES)} or framework/mode)")
    for item in value:
        if item not in valid or not isinstance(item, str):
            raise reader.error("modes", f"got {describe(item)} in the list, expected one of "
                                        f"{', '.join(MODE_NAMES)} or framework/mode such as jax/jit")
    return list(dict.fromkeys(value))
