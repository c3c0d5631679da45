"""The GCS request budget of DESIGN.md: on GCS every round trip costs tens of milliseconds, so count them.

Resolving "the production version of X" takes at most 2 requests, listing the versions of a model at most 2 no
matter how many versions it has, an uncontended promotion at most 3 (and an approval, the same kind of write, too).
The requests are counted on the HTTP session of the client handed to GCSStorage.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.gcs_emulator import GCSEmulator, RequestCounter, make_client

from registry_core import ModelRegistry, ModelStage, RegistryConfig
from registry_core.storage.gcs import GCSStorage

MODEL = "budget"
VERSIONS = 300
SMALL = 10


@pytest.fixture
def counted(gcs_emulator: GCSEmulator, gcs_bucket: str) -> tuple[ModelRegistry, RequestCounter]:
    counter = RequestCounter()
    uri = f"gs://{gcs_bucket}/registry"
    storage = GCSStorage(uri, client=make_client(gcs_emulator.url, counter.session))
    return ModelRegistry(RegistryConfig(root=uri), storage=storage), counter


def _count(counter: RequestCounter, call: Callable[[], Any]) -> tuple[Any, int, list[str]]:
    counter.reset()
    result = call()
    return result, counter.count, list(counter.methods)


def _register(registry: ModelRegistry, tmp_path: Path, start: int, stop: int) -> None:
    for index in range(start, stop):
        artifact = tmp_path / f"artifact-{index}.txt"
        artifact.write_text(f"tiny model {index}")
        registry.register_model(MODEL, artifact, metrics={"accuracy": 0.5 + index / 1000}, registered_by="trainer")


def test_request_budget_with_many_versions(counted: tuple[ModelRegistry, RequestCounter], tmp_path: Path) -> None:
    registry, counter = counted

    _, register_requests, register_methods = _count(counter, lambda: _register(registry, tmp_path, 0, 1))
    # The counter sees this registry's traffic (marker, upload, document write, marker removal at least).
    assert register_requests >= 4, register_methods
    _register(registry, tmp_path, 1, SMALL)
    small, small_requests, small_methods = _count(counter, lambda: registry.list_versions(MODEL))
    assert len(small) == SMALL
    assert small_requests <= 2, f"list_versions of {SMALL} versions took {small_requests} requests: {small_methods}"

    _register(registry, tmp_path, SMALL, VERSIONS)
    listed, list_requests, list_methods = _count(counter, lambda: registry.list_versions(MODEL))
    assert [m.version for m in listed] == [f"v{i}" for i in range(1, VERSIONS + 1)]
    assert list_requests <= 2, f"list_versions of {VERSIONS} versions took {list_requests} requests: {list_methods}"
    assert list_requests == small_requests, (
        f"list_versions grew with the version count: {small_requests} requests for {SMALL} versions, "
        f"{list_requests} for {VERSIONS}"
    )

    target = f"v{VERSIONS}"
    registry.promote_model(MODEL, target, ModelStage.VALIDATION, actor="trainer")
    registry.promote_model(MODEL, target, ModelStage.STAGING, actor="trainer")

    approved, approve_requests, approve_methods = _count(
        counter, lambda: registry.approve(MODEL, target, ModelStage.PRODUCTION, approver="reviewer")
    )
    assert approved.approvals
    assert approve_requests <= 3, f"approve took {approve_requests} requests: {approve_methods}"

    promoted, promote_requests, promote_methods = _count(
        counter, lambda: registry.promote_model(MODEL, target, ModelStage.PRODUCTION, actor="operator")
    )
    assert promoted.stage is ModelStage.PRODUCTION
    assert promote_requests <= 3, f"an uncontended promotion took {promote_requests} requests: {promote_methods}"

    resolved, resolve_requests, resolve_methods = _count(
        counter, lambda: registry.get_model_metadata(MODEL, stage="production")
    )
    assert resolved.version == target
    assert resolve_requests <= 2, (
        f"resolving the production version took {resolve_requests} requests: {resolve_methods}"
    )

    print(
        f"requests with {VERSIONS} versions: list_versions={list_requests} (with {SMALL}: {small_requests}), "
        f"approve={approve_requests}, promote={promote_requests}, resolve production={resolve_requests}"
    )
