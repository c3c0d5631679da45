"""The model history: every change in order with its actor.

Every test runs on the local backend and on GCS (the `storage_root` fixture); fixtures in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from registry_support import (
    APPROVER,
    MODEL,
    OPERATOR,
    REGISTRANT,
    S,
    drive,
)

from registry_core import (
    ModelMetadata,
    ModelNotFoundError,
    ModelRegistry,
)


def test_history_lists_registrations_approvals_stage_changes_and_rollbacks_in_order_with_actors(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    register(registered_by="erin")
    drive(registry, "v1", S.PRODUCTION)
    drive(registry, "v2", S.STAGING)
    registry.approve(MODEL, "v2", S.PRODUCTION, APPROVER, comment="lgtm")
    registry.promote_model(MODEL, "v2", S.PRODUCTION, reason="release", actor=OPERATOR)
    registry.rollback(MODEL, reason="errors spiked", actor="dave")

    history = registry.history(MODEL)

    assert [(e.action.value, e.version, e.actor, e.to_stage) for e in history] == [
        ("registered", "v1", REGISTRANT, S.DEVELOPMENT),
        ("registered", "v2", "erin", S.DEVELOPMENT),
        ("stage_changed", "v1", OPERATOR, S.VALIDATION),
        ("stage_changed", "v1", OPERATOR, S.STAGING),
        ("approved", "v1", APPROVER, S.PRODUCTION),  # inline approval (approved_by=) is logged too
        ("stage_changed", "v1", OPERATOR, S.PRODUCTION),
        ("stage_changed", "v2", OPERATOR, S.VALIDATION),
        ("stage_changed", "v2", OPERATOR, S.STAGING),
        ("approved", "v2", APPROVER, S.PRODUCTION),
        ("stage_changed", "v2", OPERATOR, S.PRODUCTION),
        ("stage_changed", "v1", OPERATOR, S.ARCHIVED),
        ("stage_changed", "v2", "dave", S.ARCHIVED),
        ("rolled_back", "v1", "dave", S.PRODUCTION),
    ]
    assert history[5].details == {"approved_by": APPROVER}
    assert history[8].reason == "lgtm"
    assert history[-1].reason == "errors spiked"
    times = [e.at for e in history]
    assert times == sorted(times)
    assert len({e.id for e in history}) == len(history)


def test_history_of_an_unknown_model_raises_model_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(ModelNotFoundError):
        registry.history("unknown")
