"""Fixtures of the web tests: a populated local registry in tmp_path, the app on it, and clients for each user."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Starlette suggests httpx2 for its TestClient; httpx is what this project installs.
warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`", category=UserWarning)

from fastapi.testclient import TestClient  # noqa: E402
from web_support import build_registry, web_config  # noqa: E402

from registry_core import ModelRegistry  # noqa: E402
from registry_core.web.app import create_app  # noqa: E402
from registry_core.web.config import WebConfig  # noqa: E402


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    """A local registry: eyewear v1 (production), v2 (staging), v3 (development), all registered by alice."""
    return build_registry(tmp_path / "registry", tmp_path / "work")


@pytest.fixture
def make_client(registry: ModelRegistry) -> Iterator[Callable[..., TestClient]]:
    """Return a function making a TestClient (lifespan running) for the registry with WebConfig overrides."""
    clients: list[TestClient] = []

    def make(config: WebConfig | None = None, **overrides: Any) -> TestClient:
        app = create_app(config or web_config(**overrides), registry)
        client = TestClient(app, base_url="http://127.0.0.1")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client of the app in token mode (nothing readable without identity)."""
    return make_client()
