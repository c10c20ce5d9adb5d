"""The import rules of ../shared/architecture.md, checked on the source.

Imports inside functions count (they run too); ``if TYPE_CHECKING:`` blocks
count for the cycle checks (a type-only import that runs back up is a cycle a
reader and a type checker must follow) and for nothing else.  A package's own
``__init__`` being loaded when one of its modules is imported is Python's doing,
not an import, and is not an edge.
"""

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "fwbench"
EXECUTION = ("fwbench.execution", "fwbench.worker", "fwbench.claims.reproduce")
MAX_TOP_LEVEL_MODULES = 5


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}


def _runtime_nodes(tree: ast.AST, type_only: bool = False):
    """Every node except those under ``if TYPE_CHECKING:`` (with ``type_only``, those too)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if not type_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, type_only: bool = False) -> list[tuple[str, list[str]]]:
    """(imported fwbench module, names taken from it) for each runtime import in module ``name`` (with
    ``type_only``, the imports under ``if TYPE_CHECKING:`` too)."""
    found = []
    for node in _runtime_nodes(ast.parse(MODULES[name].read_text(encoding="utf-8")), type_only):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names if alias.name.startswith("fwbench"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fwbench") and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((submodule, []) if submodule in MODULES else (node.module, [alias.name]))
    return found


def graph(type_only: bool = False) -> dict[str, set[str]]:
    return {name: {target for target, _ in imports_of(name, type_only) if target in MODULES and target != name}
            for name in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_fwbench_modules_type_only_imports_included():
    assert cycles(graph(type_only=True)) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def package_of(name: str) -> str:
    """``fwbench.stats.pooling`` belongs to ``fwbench.stats``; a module at the top is its own package."""
    return ".".join(name.split(".")[:2])


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for name, targets in edges.items():
        source = package_of(name)
        packages.setdefault(source, set()).update(package_of(t) for t in targets if package_of(t) != source)
    return packages


def test_no_package_imports_a_package_that_imports_it_back_type_only_imports_included():
    assert cycles(package_graph(graph(type_only=True))) == []


def test_type_only_imports_are_seen_by_the_cycle_checks():
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fwbench.spec.loader import Workload\n"
    tree = ast.parse(source)
    found = [node for node in _runtime_nodes(tree, type_only=True) if isinstance(node, ast.ImportFrom)]
    assert sorted(node.module for node in found) == ["fwbench.spec.loader", "typing"]
    assert [node.module for node in _runtime_nodes(tree) if isinstance(node, ast.ImportFrom)] == ["typing"]


def test_the_package_check_sees_a_cycle_between_two_packages_of_acyclic_modules():
    edges = {"fwbench.kinds.expression": {"fwbench.spec.fields"}, "fwbench.spec.fields": set(),
             "fwbench.spec.loader": {"fwbench.kinds.base"}, "fwbench.kinds.base": set()}
    assert cycles(edges) == []
    assert cycles(package_graph(edges)) == [["fwbench.kinds", "fwbench.spec"]]


def test_few_modules_at_the_top_of_the_package():
    top = sorted(path.name for path in PACKAGE_ROOT.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_cli_commands_share_only_cli_common():
    offences = [f"{name} imports {target}" for name in MODULES if name.startswith("fwbench.cli.")
                for target, _ in imports_of(name)
                if target.startswith("fwbench.cli.") and target not in ("fwbench.cli.common", name)]
    assert offences == []


def test_no_module_imports_another_modules_private_names():
    offences = [f"{name} imports {target}.{taken}" for name in MODULES for target, names in imports_of(name)
                for taken in names if taken.startswith("_") and not taken.startswith("__")]
    assert offences == []


def test_the_report_package_reaches_no_execution_module():
    edges = graph()
    reached, frontier = set(), [name for name in MODULES if name.startswith("fwbench.report")]
    while frontier:
        name = frontier.pop()
        if name in reached:
            continue
        reached.add(name)
        frontier.extend(edges[name])
    assert sorted(name for name in reached if name.startswith(EXECUTION)) == []
