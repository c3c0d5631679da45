"""Fixtures of the deployment tests: tiny trained eyewear models, fresh registries, prediction server processes.

The models are trained once per session; each test gets its own registry with them registered as v1 and v2 of
``eyewear`` by "alice" (so that "bob" may approve them). Helpers live in deploy_support.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# quiet TensorFlow's C++ logging; set before anything imports TensorFlow (the server subprocesses inherit it)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from deploy_support import Exports, ServerProcess, make_registry, train_exports  # noqa: E402

from registry_core import ModelRegistry  # noqa: E402


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    """Two tiny trained eyewear SavedModels (v1, v2) and two that fail at call time."""
    return train_exports(tmp_path_factory.mktemp("deploy-models"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Download remote artifacts into a session folder (inherited by server subprocesses), not ~/.cache."""
    monkeypatch.setenv("MODEL_REGISTRY_CACHE", str(tmp_path_factory.getbasetemp() / "artifact-cache"))


@pytest.fixture
def registry(tmp_path: Path, exports: Exports) -> ModelRegistry:
    """A fresh local registry holding v1 and v2 of the eyewear model."""
    return make_registry(str(tmp_path / "registry"), exports)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Return a function starting a server subprocess for (registry, endpoint[, args]); all are stopped afterwards."""
    started: list[ServerProcess] = []

    def start(registry: ModelRegistry, endpoint: str, args: list[str] | None = None) -> ServerProcess:
        server = ServerProcess(registry.storage.uri, endpoint, tmp_path / f"server-{len(started)}.log", args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
