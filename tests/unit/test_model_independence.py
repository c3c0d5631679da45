"""The registry and the example model stay apart: registry_core imports no eyewear_model, and the reverse.

DESIGN.md: the core knows nothing of the model, the model knows nothing of the registry. Every import counts,
at module level, inside functions and under TYPE_CHECKING, and so does a module name handed to importlib.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _reached_modules(package: str) -> list[str]:
    """Each `file:line module` that a source file of `package` imports or names as a string, docstrings aside."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                names = [node.value]
            else:
                continue
            found += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names]
    return found


@pytest.mark.parametrize(("package", "other"), [("registry_core", "eyewear_model"), ("eyewear_model", "registry_core")])
def test_a_package_neither_imports_nor_names_the_other(package: str, other: str) -> None:
    reached = _reached_modules(package)

    assert any(entry.endswith(" __future__") for entry in reached)  # the scan sees imports at all
    assert [entry for entry in reached if other in entry.split(" ", 1)[1]] == []


def test_importing_the_integration_loads_no_model_code() -> None:
    code = (
        "import sys, registry_core, registry_core.integration, registry_core.trainers\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('eyewear_model', 'tensorflow', 'keras')))"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
