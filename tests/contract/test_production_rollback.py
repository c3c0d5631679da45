"""Rollback of production to an earlier production version, recorded and without a new approval.

Every test runs on the local backend and on GCS (the `storage_root` fixture); fixtures in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from registry_support import (
    MODEL,
    OPERATOR,
    S,
    drive,
    stages_of,
)

from registry_core import (
    HistoryAction,
    LifecycleError,
    ModelMetadata,
    ModelRegistry,
)


@pytest.fixture
def two_in_production(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> ModelRegistry:
    """v1 served production, then v2 replaced it."""
    register()
    register()
    drive(registry, "v1", S.PRODUCTION)
    drive(registry, "v2", S.PRODUCTION)
    return registry


def test_rollback_restores_the_previous_production_version_and_archives_the_current_one(
    two_in_production: ModelRegistry,
) -> None:
    restored = two_in_production.rollback(MODEL, reason="latency regression", actor=OPERATOR)

    assert (restored.version, restored.stage) == ("v1", S.PRODUCTION)
    assert stages_of(two_in_production) == {"v1": S.PRODUCTION, "v2": S.ARCHIVED}
    assert restored.stage_history[-1].cause == "rollback"


def test_rollback_records_a_rolled_back_history_entry_with_the_reason(two_in_production: ModelRegistry) -> None:
    two_in_production.rollback(MODEL, reason="latency regression", actor=OPERATOR)

    entry = two_in_production.history(MODEL)[-1]
    assert (entry.action, entry.version, entry.actor, entry.reason) == (
        HistoryAction.ROLLED_BACK,
        "v1",
        OPERATOR,
        "latency regression",
    )
    assert entry.to_stage is S.PRODUCTION
    assert entry.details["from_version"] == "v2"


def test_rollback_to_an_explicit_earlier_production_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for version in ("v1", "v2", "v3"):
        register()
        drive(registry, version, S.PRODUCTION)

    restored = registry.rollback(MODEL, to_version="1", reason="known good", actor=OPERATOR)

    assert restored.version == "v1"
    assert stages_of(registry) == {"v1": S.PRODUCTION, "v2": S.ARCHIVED, "v3": S.ARCHIVED}


def test_rollback_to_a_version_that_never_served_raises_lifecycle_error(
    two_in_production: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    drive(two_in_production, "v3", S.STAGING)

    with pytest.raises(LifecycleError, match="never been in production"):
        two_in_production.rollback(MODEL, to_version="v3", actor=OPERATOR)

    assert stages_of(two_in_production)["v2"] is S.PRODUCTION


def test_rollback_without_an_earlier_production_version_raises_lifecycle_error(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    drive(registry, "v1", S.PRODUCTION)

    with pytest.raises(LifecycleError, match="no earlier production version"):
        registry.rollback(MODEL, actor=OPERATOR)

    assert stages_of(registry) == {"v1": S.PRODUCTION}


def test_rollback_of_a_model_that_never_served_raises_lifecycle_error(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(LifecycleError):
        registry.rollback(MODEL, actor=OPERATOR)


def test_a_second_rollback_does_not_bounce_back_to_the_version_just_rolled_back_from(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for version in ("v1", "v2", "v3"):
        register()
        drive(registry, version, S.PRODUCTION)

    first = registry.rollback(MODEL, reason="v3 bad", actor=OPERATOR)
    second = registry.rollback(MODEL, reason="v2 bad too", actor=OPERATOR)

    assert (first.version, second.version) == ("v2", "v1")
    assert stages_of(registry) == {"v1": S.PRODUCTION, "v2": S.ARCHIVED, "v3": S.ARCHIVED}


def test_rollback_needs_no_new_approval(two_in_production: ModelRegistry) -> None:
    v1 = two_in_production.get_model_metadata(MODEL, "v1")
    approvals_before = v1.approvals

    restored = two_in_production.rollback(MODEL, actor=OPERATOR)

    assert restored.approvals == approvals_before
