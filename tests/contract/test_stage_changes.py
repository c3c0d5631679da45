"""Stage changes: the transition table, approvals and four-eyes, the production holder, who changed what.

Every test runs on the local backend and on GCS (the `storage_root` fixture); fixtures in conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from registry_support import (
    APPROVER,
    MODEL,
    OPERATOR,
    REGISTRANT,
    S,
    drive,
    stages_of,
)

from registry_core import (
    ALLOWED_TRANSITIONS,
    ApprovalError,
    ApprovalRequiredError,
    HistoryAction,
    InvalidTransitionError,
    LifecycleError,
    ModelMetadata,
    ModelRegistry,
    ModelStage,
    RegistryConfig,
)
from registry_core.layout import HEADS
from registry_core.storage import StorageBackend

_PAIRS = [(a, b) for a in ModelStage for b in ModelStage]
_ALLOWED = [(a, b) for a, b in _PAIRS if b in ALLOWED_TRANSITIONS[a]]
_REFUSED = [(a, b) for a, b in _PAIRS if b not in ALLOWED_TRANSITIONS[a]]


def _pair_id(pair: tuple[ModelStage, ModelStage]) -> str:
    return f"{pair[0].value}-to-{pair[1].value}"


@pytest.mark.parametrize(("start", "target"), _ALLOWED, ids=map(_pair_id, _ALLOWED))
def test_every_allowed_transition_moves_the_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], start: ModelStage, target: ModelStage
) -> None:
    register()
    drive(registry, "v1", start)
    approver = APPROVER if target in registry.config.approval_required_stages else None

    moved = registry.promote_model(MODEL, "v1", target, approved_by=approver, reason="table", actor=OPERATOR)

    assert moved.stage is target
    assert (moved.stage_history[-1].from_stage, moved.stage_history[-1].to_stage) == (start, target)
    assert registry.get_model_metadata(MODEL, "v1").stage is target


@pytest.mark.parametrize(("start", "target"), _REFUSED, ids=map(_pair_id, _REFUSED))
def test_every_refused_transition_raises_invalid_transition_naming_the_allowed_stages(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], start: ModelStage, target: ModelStage
) -> None:
    register()
    drive(registry, "v1", start)
    before = registry.get_model_metadata(MODEL, "v1")

    with pytest.raises(InvalidTransitionError) as caught:
        registry.promote_model(MODEL, "v1", target, approved_by=APPROVER, actor=OPERATOR)

    message = str(caught.value)
    assert all(stage.value in message for stage in ALLOWED_TRANSITIONS[start]), message
    assert registry.get_model_metadata(MODEL, "v1") == before


def test_a_stage_is_accepted_by_name_in_any_case(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    assert registry.promote_model(MODEL, "v1", " Validation ").stage is S.VALIDATION


def test_promoting_to_production_without_an_approval_raises_approval_required(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    drive(registry, "v1", S.STAGING)

    with pytest.raises(ApprovalRequiredError, match=REGISTRANT):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)

    assert registry.get_model_metadata(MODEL, "v1").stage is S.STAGING


def test_an_approval_given_beforehand_allows_production(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    drive(registry, "v1", S.STAGING)
    registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER, comment="reviewed eval report")

    moved = registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)

    assert moved.stage is S.PRODUCTION
    assert moved.stage_history[-1].approvals == (APPROVER,)


def test_the_registrant_cannot_approve_their_own_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    drive(registry, "v1", S.STAGING)

    with pytest.raises(ApprovalError, match="four-eyes"):
        registry.approve(MODEL, "v1", S.PRODUCTION, REGISTRANT.upper())

    assert registry.get_model_metadata(MODEL, "v1").approvals == ()


def test_the_registrant_cannot_promote_with_their_own_approved_by(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    drive(registry, "v1", S.STAGING)

    with pytest.raises(ApprovalError, match="four-eyes"):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, approved_by=REGISTRANT, actor=OPERATOR)

    assert registry.get_model_metadata(MODEL, "v1").stage is S.STAGING


def test_with_four_eyes_off_the_registrant_may_approve_their_own_version(
    storage_root: str, make_artifact: Callable[..., Path]
) -> None:
    registry = ModelRegistry(RegistryConfig(root=storage_root, enforce_four_eyes=False))
    registry.register_model(MODEL, make_artifact(), registered_by=REGISTRANT)
    drive(registry, "v1", S.STAGING)

    moved = registry.promote_model(MODEL, "v1", S.PRODUCTION, approved_by=REGISTRANT, actor=REGISTRANT)

    assert moved.stage is S.PRODUCTION
    assert moved.stage_history[-1].approvals == (REGISTRANT,)


def test_an_approval_is_bound_to_the_artifact_digest_and_the_stage(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    metadata = register()

    approved = registry.approve(MODEL, "v1", "production", APPROVER, comment="ok")

    (approval,) = approved.approvals
    assert approval.artifact_digest == metadata.artifact_digest
    assert approval.stage is S.PRODUCTION
    assert (approval.approver, approval.comment) == (APPROVER, "ok")


def test_an_approval_for_another_artifact_digest_does_not_allow_production(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    register()
    drive(registry, "v1", S.STAGING)
    registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER)
    # An approval whose digest is not the version's (e.g. copied over from another version) must not count.
    head = json.loads(storage.read(HEADS.key(MODEL)))
    head["hot"]["v1"]["state"]["approvals"][0]["artifact_digest"] = "sha256:" + "0" * 64
    storage.write(HEADS.key(MODEL), json.dumps(head).encode())

    with pytest.raises(ApprovalRequiredError):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)


def test_an_approval_for_staging_does_not_allow_production(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    drive(registry, "v1", S.VALIDATION)
    registry.approve(MODEL, "v1", S.STAGING, APPROVER)
    registry.promote_model(MODEL, "v1", S.STAGING, actor=OPERATOR)

    with pytest.raises(ApprovalRequiredError):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)


def test_an_approval_is_used_only_once(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> None:
    register()
    drive(registry, "v1", S.STAGING)
    registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER)
    registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)
    registry.promote_model(MODEL, "v1", S.STAGING, reason="hotfix pending", actor=OPERATOR)

    with pytest.raises(ApprovalRequiredError):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)

    registry.approve(MODEL, "v1", S.PRODUCTION, "dave")
    assert registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR).stage is S.PRODUCTION


def test_an_archived_version_cannot_be_approved(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    registry.archive_model(MODEL, "v1", reason="superseded", actor=OPERATOR)

    with pytest.raises(LifecycleError, match="archived"):
        registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER)


def test_promoting_to_production_archives_the_previous_holder_in_the_same_write(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    register()
    drive(registry, "v1", S.PRODUCTION)
    drive(registry, "v2", S.STAGING)
    entries_before = len(registry.history(MODEL))

    registry.promote_model(MODEL, "v2", S.PRODUCTION, approved_by=APPROVER, reason="better auc", actor=OPERATOR)

    assert stages_of(registry) == {"v1": S.ARCHIVED, "v2": S.PRODUCTION}
    v1, v2 = (registry.get_model_metadata(MODEL, label) for label in ("v1", "v2"))
    archived, promoted = v1.stage_history[-1], v2.stage_history[-1]
    assert (archived.from_stage, archived.to_stage, archived.cause) == (S.PRODUCTION, S.ARCHIVED, "superseded")
    assert "v2" in archived.reason
    assert archived.changed_at == promoted.changed_at  # decided and written together
    new_entries = registry.history(MODEL)[entries_before:]
    assert [(e.action, e.version, e.from_stage, e.to_stage) for e in new_entries] == [
        (HistoryAction.APPROVED, "v2", None, S.PRODUCTION),
        (HistoryAction.STAGE_CHANGED, "v2", S.STAGING, S.PRODUCTION),
        (HistoryAction.STAGE_CHANGED, "v1", S.PRODUCTION, S.ARCHIVED),
    ]
    assert new_entries[0].actor == APPROVER


def test_at_most_one_version_is_in_production(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> None:
    for version in ("v1", "v2", "v3"):
        register()
        drive(registry, version, S.PRODUCTION)

    assert [m.version for m in registry.list_versions(MODEL) if m.stage is S.PRODUCTION] == ["v3"]


def test_every_stage_change_records_who_when_why_and_the_approvals_used(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    registry.promote_model(MODEL, "v1", S.VALIDATION, reason="eval started", actor=OPERATOR)
    registry.promote_model(MODEL, "v1", S.STAGING, reason="eval passed", actor=OPERATOR)
    registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER, comment="signed off")

    final = registry.promote_model(MODEL, "v1", S.PRODUCTION, reason="go live", actor="dave")

    assert [(c.from_stage, c.to_stage, c.changed_by, c.reason, c.approvals) for c in final.stage_history] == [
        (S.DEVELOPMENT, S.VALIDATION, OPERATOR, "eval started", ()),
        (S.VALIDATION, S.STAGING, OPERATOR, "eval passed", ()),
        (S.STAGING, S.PRODUCTION, "dave", "go live", (APPROVER,)),
    ]
    times = [c.changed_at for c in final.stage_history]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)
    changes = [e for e in registry.history(MODEL) if e.action is HistoryAction.STAGE_CHANGED]
    assert [(e.actor, e.to_stage, e.reason) for e in changes] == [
        (OPERATOR, S.VALIDATION, "eval started"),
        (OPERATOR, S.STAGING, "eval passed"),
        ("dave", S.PRODUCTION, "go live"),
    ]
    assert changes[-1].details == {"approved_by": APPROVER}


def test_the_default_actor_is_the_current_user(registry: ModelRegistry, make_artifact: Callable[..., Path]) -> None:
    metadata = registry.register_model(MODEL, make_artifact())

    moved = registry.promote_model(MODEL, "v1", S.VALIDATION)

    assert metadata.registered_by == "default-user"
    assert moved.stage_history[-1].changed_by == "default-user"
