"""Fixtures of the registry contract tests: a registry on each backend, artifact folders, a registration helper."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from registry_support import MODEL, REGISTRANT
from stored_support import Damage, damaged, grow

from registry_core import (
    ModelMetadata,
    ModelRegistry,
    RegistryConfig,
)
from registry_core.storage import open_storage


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test downloads GCS artifacts into its own cache, so a verified copy from another test never hides
    # a damaged object; and the default actor is fixed, so histories do not depend on who runs the tests.
    monkeypatch.setenv("MODEL_REGISTRY_CACHE", str(tmp_path / "download-cache"))
    monkeypatch.setenv("MODEL_REGISTRY_USER", "default-user")


@pytest.fixture
def registry(storage_root: str) -> ModelRegistry:
    return ModelRegistry(RegistryConfig(root=storage_root))


@pytest.fixture
def make_artifact(tmp_path: Path) -> Callable[..., Path]:
    """Return a factory of small artifact folders (two files, one in a subfolder), distinct unless `content` repeats."""
    counter = itertools.count(1)

    def make(content: str | None = None, *, files: dict[str, bytes] | None = None) -> Path:
        n = next(counter)
        folder = tmp_path / "artifacts-in" / f"model-{n}"
        body = content if content is not None else f"weights of model {n}"
        layout = (
            files
            if files is not None
            else {
                "model.json": json.dumps({"layers": 3, "body": body}).encode(),
                "variables/variables.data": body.encode() * 5,
            }
        )
        for rel, data in layout.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return folder

    return make


@pytest.fixture
def register(registry: ModelRegistry, make_artifact: Callable[..., Path]) -> Callable[..., ModelMetadata]:
    """Return a helper registering a fresh artifact folder as `REGISTRANT` (keyword arguments pass through)."""

    def reg(name: str = MODEL, content: str | None = None, **kwargs: Any) -> ModelMetadata:
        kwargs.setdefault("registered_by", REGISTRANT)
        return registry.register_model(name, make_artifact(content), **kwargs)

    return reg


@pytest.fixture(scope="module", params=["local", "gcs"])
def grown_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registry root on each backend, shared by a module's tests, holding a grown model (`stored_support.grow`)."""
    if request.param == "local":
        root = str(tmp_path_factory.mktemp("grown") / "registry")
    else:
        root = f"gs://{request.getfixturevalue('gcs_emulator').create_bucket()}/registry"
    grow(ModelRegistry(RegistryConfig(root=root)), tmp_path_factory.mktemp("grown-exports"))
    return root


@pytest.fixture
def grown(grown_root: str) -> Iterator[tuple[ModelRegistry, Damage]]:
    """A fresh reader of the grown model, and hand damage to it that is undone after the test."""
    storage = open_storage(grown_root)
    before = storage.list("")
    with damaged(storage) as damage:
        yield ModelRegistry(RegistryConfig(root=grown_root)), damage
    assert storage.list("") == before, "a test removed or left files in the shared registry"
