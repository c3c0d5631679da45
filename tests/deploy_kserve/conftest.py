"""Fixtures of the KServe target tests: the Kubernetes API stand-in and a registry of three versions.

The versions' artifacts are small files, not SavedModels: the stand-in never runs a container, it keeps the
InferenceServices the target asks for and answers predictions as the revision that would serve them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kserve_support import MODEL
from support.kserve_standin import KServeStandIn, kserve_standin

from registry_core import ModelRegistry, RegistryConfig


@pytest.fixture(scope="session")
def kserve_server() -> Iterator[KServeStandIn]:
    """The stand-in, for the whole session."""
    with kserve_standin() as standin:
        yield standin


@pytest.fixture
def kserve(kserve_server: KServeStandIn, monkeypatch: pytest.MonkeyPatch) -> KServeStandIn:
    """The stand-in, emptied, with no serving image in the environment."""
    kserve_server.reset()
    monkeypatch.delenv("REGISTRY_SERVING_IMAGE", raising=False)
    return kserve_server


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    """A local registry with v1, v2 and v3 of MODEL, registered by alice."""
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    for i in (1, 2, 3):
        folder = tmp_path / f"v{i}"
        (folder / "variables").mkdir(parents=True)
        (folder / "saved_model.pb").write_text(f"not really a SavedModel: {i}")
        (folder / "variables" / "variables.index").write_text(f"weights {i}")
        registry.register_model(MODEL, folder, registered_by="alice")
    return registry
