"""The approval workflow on both backends: request a promotion, approve or reject it, the promotion follows."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core import (
    ApprovalError,
    ConflictError,
    HistoryAction,
    InvalidTransitionError,
    LifecycleError,
    ModelMetadata,
    ModelRegistry,
    ModelStage,
    RegistryConfig,
)

S = ModelStage
MODEL = "churn"


@pytest.fixture
def registry(storage_root: str, tmp_path: Path) -> ModelRegistry:
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    for index in range(2):
        folder = tmp_path / f"model-{index}"
        folder.mkdir()
        (folder / "weights.bin").write_bytes(f"weights {index}".encode())
        registry.register_model(MODEL, folder, registered_by="alice")
        for stage in (S.VALIDATION, S.STAGING):
            registry.promote_model(MODEL, f"v{index + 1}", stage, actor="alice")
    return registry


def requested(registry: ModelRegistry) -> ModelMetadata:
    return registry.request_promotion(MODEL, "v1", S.PRODUCTION, requested_by="alice", comment="beats baseline")


def test_a_request_is_pending_until_someone_decides(registry: ModelRegistry) -> None:
    metadata = requested(registry)

    assert metadata.stage is S.STAGING
    (request,) = metadata.promotion_requests
    assert (request.stage, request.status, request.requested_by, request.comment) == (
        S.PRODUCTION, "pending", "alice", "beats baseline",
    )  # fmt: skip
    pending = registry.pending_requests()
    assert [(m.version, r.stage) for m, r in pending] == [("v1", S.PRODUCTION)]
    assert registry.history(MODEL)[-1].action is HistoryAction.PROMOTION_REQUESTED


def test_an_approval_by_another_person_promotes_the_requested_version(registry: ModelRegistry) -> None:
    requested(registry)

    metadata = registry.approve(MODEL, "v1", S.PRODUCTION, "bob", comment="lgtm")

    assert metadata.stage is S.PRODUCTION
    assert metadata.promotion_requests[-1].status == "promoted"
    assert metadata.promotion_requests[-1].decided_by == "bob"
    assert metadata.stage_history[-1].approvals == ("bob",)
    assert registry.pending_requests() == []
    actions = [e.action for e in registry.history(MODEL)[-2:]]
    assert actions == [HistoryAction.APPROVED, HistoryAction.STAGE_CHANGED]


def test_an_approval_without_a_request_does_not_promote(registry: ModelRegistry) -> None:
    metadata = registry.approve(MODEL, "v1", S.PRODUCTION, "bob")

    assert metadata.stage is S.STAGING


def test_the_registrant_cannot_approve_their_own_request(registry: ModelRegistry) -> None:
    requested(registry)

    with pytest.raises(ApprovalError, match="four-eyes"):
        registry.approve(MODEL, "v1", S.PRODUCTION, "alice")
    assert registry.get_model_metadata(MODEL, "v1").stage is S.STAGING


def test_a_rejection_records_who_and_why_and_promotes_nothing(registry: ModelRegistry) -> None:
    requested(registry)

    metadata = registry.reject(MODEL, "v1", S.PRODUCTION, "bob", comment="latency too high")

    assert metadata.stage is S.STAGING
    request = metadata.promotion_requests[-1]
    assert (request.status, request.decided_by, request.decision_comment) == ("rejected", "bob", "latency too high")
    assert registry.history(MODEL)[-1].action is HistoryAction.REJECTED
    assert registry.pending_requests() == []


def test_rejecting_without_a_pending_request_is_refused(registry: ModelRegistry) -> None:
    with pytest.raises(LifecycleError, match="no pending request"):
        registry.reject(MODEL, "v1", S.PRODUCTION, "bob")


def test_a_second_pending_request_for_the_same_stage_is_a_conflict(registry: ModelRegistry) -> None:
    requested(registry)

    with pytest.raises(ConflictError, match="already has a pending request"):
        requested(registry)


def test_a_request_outside_the_transition_table_is_refused(registry: ModelRegistry) -> None:
    with pytest.raises(InvalidTransitionError, match="already in staging"):
        registry.request_promotion(MODEL, "v1", S.STAGING, requested_by="alice")
    registry.promote_model(MODEL, "v2", S.ARCHIVED, actor="alice")
    with pytest.raises(InvalidTransitionError, match="allowed"):
        registry.request_promotion(MODEL, "v2", S.PRODUCTION, requested_by="alice")


def test_a_request_for_a_stage_without_approval_promotes_at_once(registry: ModelRegistry) -> None:
    metadata = registry.request_promotion(MODEL, "v2", S.VALIDATION, requested_by="alice")

    assert metadata.stage is S.VALIDATION
    assert metadata.promotion_requests == ()


def test_an_approved_request_archives_the_previous_production_version(registry: ModelRegistry) -> None:
    registry.promote_model(MODEL, "v2", S.PRODUCTION, approved_by="bob")
    requested(registry)

    registry.approve(MODEL, "v1", S.PRODUCTION, "carol")

    stages = {m.version: m.stage for m in registry.list_versions(MODEL)}
    assert stages == {"v1": S.PRODUCTION, "v2": S.ARCHIVED}


def test_listeners_hear_every_history_entry_after_it_is_written(registry: ModelRegistry) -> None:
    heard: list[tuple[str, str, str]] = []
    registry.subscribe(lambda model, entry: heard.append((model, entry.action.value, entry.version)))

    requested(registry)
    registry.approve(MODEL, "v1", S.PRODUCTION, "bob")

    assert heard == [
        (MODEL, "promotion_requested", "v1"),
        (MODEL, "approved", "v1"),
        (MODEL, "stage_changed", "v1"),
    ]
    assert registry.get_model_metadata(MODEL, stage=S.PRODUCTION).version == "v1"


def test_a_failing_listener_does_not_fail_the_change(registry: ModelRegistry) -> None:
    def broken(model: str, entry: object) -> None:
        raise RuntimeError("smtp down")

    registry.subscribe(broken)

    assert registry.promote_model(MODEL, "v1", S.PRODUCTION, approved_by="bob").stage is S.PRODUCTION
