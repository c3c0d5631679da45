"""The promotion workflow as changes of a record: promote, request, approve, reject."""

from __future__ import annotations

import pytest
from lifecycle_support import POLICY, S, in_production, registered, staged

from registry_core import (
    ApprovalError,
    ApprovalRequiredError,
    ConflictError,
    HistoryAction,
    InvalidTransitionError,
    LifecycleError,
)
from registry_core.lifecycle import changes, promotion
from registry_core.lifecycle.approvals import ApprovalPolicy
from registry_core.quality import ValidationDecision
from registry_core.store import ModelRecord

NO_APPROVALS = ApprovalPolicy(required_stages=frozenset(), four_eyes=True)


def _promote(record: ModelRecord, label: str, stage: S, approver: str | None = None) -> ModelRecord:
    return promotion.promote(record, label, stage, actor="alice", reason="why", policy=POLICY, approver=approver)


def _request(record: ModelRecord, label: str = "v1", stage: S = S.PRODUCTION) -> ModelRecord:
    return promotion.request_promotion(record, label, stage, requested_by="alice", comment="ship it", policy=POLICY)


# ------------------------------------------------------------------------------------------------- promote


def test_promote_follows_the_transition_table() -> None:
    with pytest.raises(InvalidTransitionError, match="from development to production"):
        _promote(registered("v1"), "v1", S.PRODUCTION)


def test_promote_moves_the_version_and_records_the_change_in_both_histories() -> None:
    record = _promote(registered("v1"), "v1", S.VALIDATION)

    moved = record.get("v1")
    assert moved.stage is S.VALIDATION
    assert [(c.from_stage, c.to_stage, c.changed_by, c.reason) for c in moved.stage_history] == [
        (S.DEVELOPMENT, S.VALIDATION, "alice", "why")
    ]
    assert [(e.action, e.to_stage) for e in record.history[-1:]] == [(HistoryAction.STAGE_CHANGED, S.VALIDATION)]


def test_promote_leaves_the_record_it_was_given_unchanged() -> None:
    record = registered("v1")

    _promote(record, "v1", S.VALIDATION)

    assert record.get("v1").stage is S.DEVELOPMENT


def test_an_approval_gated_stage_needs_an_approval() -> None:
    with pytest.raises(ApprovalRequiredError, match="someone other than alice"):
        _promote(staged(registered("v1"), "v1"), "v1", S.PRODUCTION)


def test_an_inline_approval_is_recorded_and_used() -> None:
    record = _promote(staged(registered("v1"), "v1"), "v1", S.PRODUCTION, approver="bob")

    version = record.get("v1")
    assert version.stage is S.PRODUCTION
    assert [a.approver for a in version.approvals] == ["bob"]
    assert version.stage_history[-1].approvals == ("bob",)
    assert [e.action for e in record.history[-2:]] == [HistoryAction.APPROVED, HistoryAction.STAGE_CHANGED]
    assert record.history[-1].details == {"approved_by": "bob"}


def test_the_registrant_cannot_approve_inline_under_four_eyes() -> None:
    with pytest.raises(ApprovalError, match="four-eyes"):
        _promote(staged(registered("v1"), "v1"), "v1", S.PRODUCTION, approver="Alice")


def test_promoting_to_production_archives_the_previous_holder_in_the_same_record() -> None:
    record = in_production(in_production(registered("v1", "v2"), "v1"), "v2")

    assert [m.version for m in record.in_stage(S.PRODUCTION)] == ["v2"]
    old = record.get("v1")
    assert old.stage is S.ARCHIVED
    assert (old.stage_history[-1].cause, old.stage_history[-1].reason) == ("superseded", "superseded by v2")


def test_an_approval_is_used_once() -> None:
    record = in_production(registered("v1"), "v1")
    record = _promote(record, "v1", S.STAGING)

    with pytest.raises(ApprovalRequiredError):
        _promote(record, "v1", S.PRODUCTION)


def test_a_version_that_failed_validation_cannot_be_staged() -> None:
    failed = ValidationDecision(passed=False, reason="failed: accuracy 0.5000 < 0.9000", metrics={"accuracy": 0.5})
    record = changes.record_validation(registered("v1"), "v1", failed, actor="ci")

    with pytest.raises(LifecycleError, match=r"failed validation \(failed: accuracy 0.5000 < 0.9000\)"):
        _promote(record, "v1", S.STAGING)


# ------------------------------------------------------------------------------------------------- request


def test_a_request_for_a_gated_stage_waits_for_an_approver() -> None:
    record = _request(staged(registered("v1"), "v1"))

    version = record.get("v1")
    assert version.stage is S.STAGING
    assert [(r.stage, r.status, r.requested_by) for r in version.promotion_requests] == [
        (S.PRODUCTION, "pending", "alice")
    ]
    assert record.history[-1].action is HistoryAction.PROMOTION_REQUESTED


def test_a_second_request_for_the_same_stage_is_refused() -> None:
    record = _request(staged(registered("v1"), "v1"))

    with pytest.raises(ConflictError, match="already has a pending request"):
        _request(record)


def test_a_request_must_be_allowed_by_the_table() -> None:
    with pytest.raises(InvalidTransitionError):
        _request(registered("v1"))


def test_a_request_for_a_stage_that_needs_no_approval_promotes_at_once() -> None:
    record = promotion.request_promotion(
        registered("v1"), "v1", S.VALIDATION, requested_by="carol", comment="go", policy=NO_APPROVALS
    )

    version = record.get("v1")
    assert version.stage is S.VALIDATION
    assert version.promotion_requests == ()
    assert (version.stage_history[-1].changed_by, version.stage_history[-1].reason) == ("carol", "go")


# ------------------------------------------------------------------------------------------ approve, reject


def test_an_approval_of_a_pending_request_promotes_in_the_same_record() -> None:
    record = promotion.approve(
        _request(staged(registered("v1"), "v1")), "v1", S.PRODUCTION, approver="bob", comment="ok", policy=POLICY
    )

    version = record.get("v1")
    assert version.stage is S.PRODUCTION
    (request,) = version.promotion_requests
    assert (request.status, request.decided_by) == ("promoted", "bob")
    assert version.stage_history[-1].reason == "ship it"


def test_an_approval_without_a_request_only_records_the_approval() -> None:
    record = promotion.approve(
        staged(registered("v1"), "v1"), "v1", S.PRODUCTION, approver="bob", comment="", policy=POLICY
    )

    assert record.get("v1").stage is S.STAGING
    assert record.history[-1].action is HistoryAction.APPROVED


def test_an_archived_version_cannot_be_approved() -> None:
    record = _promote(registered("v1"), "v1", S.ARCHIVED)

    with pytest.raises(LifecycleError, match="archived"):
        promotion.approve(record, "v1", S.PRODUCTION, approver="bob", comment="", policy=POLICY)


def test_the_registrant_cannot_approve_their_own_request() -> None:
    with pytest.raises(ApprovalError, match="four-eyes"):
        promotion.approve(
            _request(staged(registered("v1"), "v1")), "v1", S.PRODUCTION, approver="alice", comment="", policy=POLICY
        )


def test_a_rejection_settles_the_request_and_keeps_the_stage() -> None:
    record = promotion.reject(
        _request(staged(registered("v1"), "v1")), "v1", S.PRODUCTION, approver="bob", comment="no", policy=POLICY
    )

    version = record.get("v1")
    assert version.stage is S.STAGING
    (request,) = version.promotion_requests
    assert (request.status, request.decided_by, request.decision_comment) == ("rejected", "bob", "no")
    assert record.history[-1].action is HistoryAction.REJECTED


def test_nothing_pending_cannot_be_rejected() -> None:
    with pytest.raises(LifecycleError, match="no pending request"):
        promotion.reject(staged(registered("v1"), "v1"), "v1", S.PRODUCTION, approver="bob", comment="", policy=POLICY)
