"""The package's imports run one way: no module imports another that (through any chain) imports it back.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING`` (STYLE.md: a lower layer never
imports a higher one, not even lazily). ``from package import module`` is an edge to the module; importing a
submodule is not an edge to its package's ``__init__`` (which only re-exports).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "registry_core"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            yield from submodules
            if len(submodules) < len(node.names):
                yield base


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {target for target in imported(name, path, known) if target in known and target != name}
        for name, path in known.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walker_sees_function_level_and_type_checking_imports() -> None:
    edges = graph()
    assert "registry_core.registry" in edges["registry_core.cli._context"]  # imported inside open_registry()
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_there_is_no_import_circle_in_the_package() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("registry_core.storage", "registry_core.registry"),
        ("registry_core.storage", "registry_core.store"),
        ("registry_core.deploy", "registry_core.registry"),
        ("registry_core.lifecycle", "registry_core.registry"),
        ("registry_core.lifecycle", "registry_core.storage"),
        ("registry_core", "registry_core.cli"),
        ("registry_core", "registry_core.web"),
        ("registry_core.notifications", "registry_core.web"),
    ],
)
def test_a_lower_layer_never_imports_a_higher_one(lower: str, higher: str) -> None:
    edges = graph()
    faces = ("registry_core.cli", "registry_core.web", "registry_core.__main__")
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in edges.items()
        if (module == lower or module.startswith(f"{lower}."))
        and not (lower == PACKAGE and module.startswith(faces))
        and module != PACKAGE  # the package's __init__ re-exports the public API
        for target in targets
        if target == higher or target.startswith(f"{higher}.")
    )
    assert offenders == []


def test_the_core_never_imports_pipelines_components_or_the_example_model() -> None:
    known = modules()
    offenders = sorted(
        f"{name} -> {target}"
        for name, path in known.items()
        for target in imported(name, path, known)
        if target.split(".")[0] in {"pipelines", "components", "eyewear_model", "kfp"}
    )
    assert offenders == []
