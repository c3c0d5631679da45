"""The public API: a sorted, complete, importable ``__all__``, and an import that stays light."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import registry_core
from registry_core import errors

# Heavy or optional packages that `import registry_core` must not pull in (DESIGN.md: import them where used).
_HEAVY = ("tensorflow", "keras", "kfp", "google.cloud.storage", "google.cloud.aiplatform", "vertexai")


def test_all_is_sorted_and_has_no_duplicates() -> None:
    names = list(registry_core.__all__)

    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_every_name_in_all_is_importable_from_the_package() -> None:
    namespace: dict[str, object] = {}
    exec(f"from registry_core import {', '.join(registry_core.__all__)}", namespace)  # noqa: S102

    missing = [name for name in registry_core.__all__ if namespace.get(name) is None]
    assert missing == []


def test_every_registry_error_is_exported() -> None:
    defined = {
        name
        for name, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.RegistryError) and obj.__module__ == errors.__name__
    }

    assert defined - set(registry_core.__all__) == set()


def test_every_exported_error_derives_from_registry_error() -> None:
    exported = [getattr(registry_core, name) for name in registry_core.__all__ if name.endswith("Error")]

    assert all(issubclass(cls, registry_core.RegistryError) for cls in exported)


def test_importing_registry_core_does_not_import_heavy_dependencies() -> None:
    code = "import json, sys, registry_core; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    loaded = json.loads(result.stdout)
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in _HEAVY)]
    assert heavy == []
