"""The ``python`` kind: a workload written as a Python module, for what an expression cannot say.

Example::

    - name: conv2d
      kind: python
      module: conv2d                 # imported in the workers, from the spec's directory or the current one
      dtype: float32                 # what the inputs hold; sets the tolerance
      sweep: {n: [32, 128]}

The module defines::

    def inputs(params, rng) -> dict[str, numpy.ndarray]     # host arrays, from a numpy Generator
    def reference(**inputs) -> numpy.ndarray                # the float64 result
    def numpy(x, w): ...       # one function per framework, taking the device arrays in the order
    def jax(x, w): ...         # inputs() returned them, written with that framework's own API;
    def torch(x, w): ...       # a framework without one is skipped, with that reason
    def tensorflow(x, w): ...
    def flops(params) -> int   # optional, with bytes(params): GFLOP/s and GB/s in the results
    def bytes(params) -> int

fwbench compiles each function per mode (``jax.jit``, ``torch.compile``,
``tf.function``) as it does expressions, syncs, verifies against
``reference`` and reports the cells like any other.  **A spec that names a
module runs that module's code**, in the workers only: the parent process
never imports it (it checks, without running anything, that the module can
be found and defines ``inputs`` and ``reference``), so the parent still
imports no framework.  ``fwbench list`` and ``fwbench run`` print the
modules a spec will import.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from fwbench.kinds.base import ITEMSIZES, Cost, Kind, Reference
from fwbench.kinds.fields import FieldReader

FRAMEWORK_FUNCTIONS = ("numpy", "jax", "torch", "tensorflow")
REQUIRED_FUNCTIONS = ("inputs", "reference")
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def search_paths(spec_file: str) -> list[str]:
    """Where a spec's module is looked for: the directories of ``FWBENCH_MODULE_PATH`` first (``fwbench ab``'s
    ``--baseline-path``/``--candidate-path``: each side its own checkout), then the spec's directory, then the
    current directory."""
    first = [entry for entry in os.environ.get("FWBENCH_MODULE_PATH", "").split(os.pathsep) if entry]
    return [*first, str(Path(spec_file).resolve().parent), str(Path.cwd())]


def find_module_file(name: str, spec_file: str) -> Path | None:
    """The module's source file, found without importing it (nor any package around it)."""
    parts = name.split(".")
    for root in search_paths(spec_file):
        base = Path(root).joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    found = importlib.util.find_spec(parts[0]) if len(parts) == 1 else None  # an installed top-level module
    return Path(found.origin) if found is not None and found.origin and found.origin.endswith(".py") else None


def defined_functions(path: Path) -> set[str]:
    """The names the module defines at top level (functions, assignments, imports), read from its source:
    nothing is executed."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


class PythonModuleKind(Kind):
    NAME = "python"
    FIELDS = ("module", "dtype")
    REQUIRED_FIELDS = ("module",)

    CACHE_INPUTS = False

    def __init__(self, workload) -> None:
        super().__init__(workload)
        self._module: Any = None

    @classmethod
    def parse_options(cls, reader: FieldReader, sweep: dict[str, list[int]]) -> dict[str, Any]:
        name = reader.take_str("module", pattern=MODULE_NAME,
                               expected="an importable module name such as conv2d or my_package.attention")
        path = find_module_file(name, reader.file)
        if path is None:
            raise reader.error("module", f"cannot find the module '{name}' in {' or '.join(search_paths(reader.file))}",
                               "put NAME.py beside the spec, or install the package that holds it")
        try:
            functions = defined_functions(path)
        except SyntaxError as error:
            raise reader.error("module", f"{path}: line {error.lineno}: {error.msg}") from None
        missing = [function for function in REQUIRED_FUNCTIONS if function not in functions]
        if missing:
            raise reader.error("module", f"{path} defines no '{missing[0]}' function",
                               "define inputs(params, rng) and reference(**inputs)")
        if not any(function in functions for function in FRAMEWORK_FUNCTIONS):
            raise reader.error("module", f"{path} defines none of the functions {', '.join(FRAMEWORK_FUNCTIONS)}",
                               "define at least one, e.g. def numpy(x): ...")
        dtype = reader.take_choice("dtype", tuple(ITEMSIZES), "float32")
        return {"module": name, "dtype": dtype, "module_file": str(path),
                "frameworks_defined": sorted(set(FRAMEWORK_FUNCTIONS) & functions)}

    @property
    def dtype(self) -> str:
        return self.options["dtype"]

    def describe(self, params: dict[str, int]) -> str:
        return self.workload.description or f"Python module {self.options['module']}"

    def module(self) -> Any:
        """The user's module, imported on first use (in a worker, never in the parent)."""
        if self._module is None:
            for path in reversed(search_paths(self.workload.spec_file)):
                if path in sys.path:
                    sys.path.remove(path)  # to the front: the search order above is the one that counts
                sys.path.insert(0, path)
            self._module = importlib.import_module(self.options["module"])
        return self._module

    def cost(self, params: dict[str, int]) -> Cost:
        # Unknown in the parent, which does not import the module: runtime_cost() fills it in the worker.
        return Cost(0, 0, 0, 0)

    def runtime_cost(self, params: dict[str, int]) -> Cost | None:
        module = self.module()
        flops = int(module.flops(params)) if hasattr(module, "flops") else None
        moved = int(module.bytes(params)) if hasattr(module, "bytes") else None
        return Cost(flops, moved, moved, 0) if flops is not None or moved is not None else None

    def make_inputs(self, params: dict[str, int], seed: int) -> list[Any]:
        import numpy as np

        produced = self.module().inputs(dict(params), np.random.default_rng(seed))
        if not isinstance(produced, dict) or not produced:
            raise TypeError(f"{self.options['module']}.inputs() returned {type(produced).__name__}, expected a "
                            "non-empty dict of name: numpy array")
        self.input_names = list(produced)
        return [np.asarray(array) for array in produced.values()]

    def reference(self, params: dict[str, int], inputs: list[Any]) -> Reference:
        import numpy as np

        names = getattr(self, "input_names", None) or [f"input{index}" for index in range(len(inputs))]
        wide = {name: np.asarray(array, dtype=np.float64) for name, array in zip(names, inputs)}
        value = np.asarray(self.module().reference(**wide), dtype=np.float64)
        return Reference(value, float(np.max(np.abs(value))) if value.size else 0.0)

    def implementation(self, params: dict[str, int], framework: str, adapter: Any) -> Callable[..., Any]:
        return getattr(self.module(), framework)

    def skip(self, params: dict[str, int], framework: str, mode: str, device: str) -> str | None:
        # Read from the module's source at load time, so the plan shows these skips without importing it.
        if framework not in self.options.get("frameworks_defined", FRAMEWORK_FUNCTIONS):
            defined = ", ".join(self.options.get("frameworks_defined", []))
            return f"the module {self.options['module']} defines no '{framework}' function (it defines {defined})"
        if framework == "numpy" and self.dtype == "bfloat16":
            return "NumPy has no native bfloat16 arithmetic"
        return None

