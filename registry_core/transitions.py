"""Lifecycle changes of a model document as pure functions: promote, approve, request, reject, move, roll back.

Each takes the model's record as last read and returns the new one; `ModelRegistry` writes it by compare-and-swap,
so every decision is made on the state it is written over.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime

from registry_core import lifecycle
from registry_core.errors import ConflictError, LifecycleError
from registry_core.metadata import (
    Approval,
    HistoryAction,
    HistoryEntry,
    ModelMetadata,
    ModelStage,
    PromotionRequest,
    StageChange,
    utc_now,
)
from registry_core.store import ModelRecord

VALIDATION_STATUS = "validation"
VALIDATION_REASON = "validation_reason"
VALIDATION_CHAMPION = "validation_champion"


@dataclass(frozen=True)
class ApprovalPolicy:
    """The approval rules of a registry: which stages need an approval, and whether four-eyes applies."""

    required_stages: Set[ModelStage]
    four_eyes: bool


def promote(
    record: ModelRecord,
    label: str,
    target: ModelStage,
    *,
    actor: str,
    reason: str,
    policy: ApprovalPolicy,
    approver: str | None = None,
    now: datetime | None = None,
) -> ModelRecord:
    """Move `label` to `target` if the transition table and the approval rules allow it.

    Promoting to PRODUCTION archives the previous holder in the same record. `approver` records that person's
    approval now (four-eyes applies) and uses it. A pending promotion request for `target` is marked done.

    Raises:
        InvalidTransitionError, ApprovalRequiredError, ApprovalError, LifecycleError.
    """
    now = now or utc_now()
    metadata = record.get(label)
    lifecycle.check_transition(label, metadata.stage, target)
    if target is ModelStage.STAGING and metadata.annotations.get(VALIDATION_STATUS) == "failed":
        msg = (
            f"{record.name} {label} failed validation ({metadata.annotations.get(VALIDATION_REASON, '')}); "
            "validate it again before staging it"
        )
        raise LifecycleError(msg)
    used: list[Approval] = []
    entries: list[HistoryEntry] = []
    if target in policy.required_stages:
        if approver is not None:
            lifecycle.check_approver(metadata, approver, four_eyes=policy.four_eyes)
            inline = Approval(
                stage=target, approver=approver, comment=reason, approved_at=now,
                artifact_digest=metadata.artifact_digest,
            )  # fmt: skip
            metadata = metadata.model_copy(update={"approvals": (*metadata.approvals, inline)})
            entries.append(history_entry(approver, HistoryAction.APPROVED, label, to_stage=target, reason=reason))
        used = unused_approvals(metadata, target, four_eyes=policy.four_eyes)
        lifecycle.require_approval(metadata, target, used)
    approvers = tuple(a.approver for a in used)
    metadata = _settle_request(metadata, target, "promoted", actor, now, reason)
    moves = [move(metadata, target, actor, now, reason, approvals=approvers)]
    if target is ModelStage.PRODUCTION:
        why = f"superseded by {label}"
        moves += [move(h, ModelStage.ARCHIVED, actor, now, why, cause="superseded") for h in record.in_stage(target)]
    return record.with_versions(*(m for m, _ in moves)).with_history(*entries, *(e for _, e in moves))


def approve(
    record: ModelRecord,
    label: str,
    target: ModelStage,
    *,
    approver: str,
    comment: str,
    policy: ApprovalPolicy,
    now: datetime | None = None,
) -> ModelRecord:
    """Record `approver`'s approval of `label` for `target`, and promote if a pending request now may be.

    If a request for `target` is pending and the rules hold with this approval, the promotion happens in the
    same record.

    Raises:
        ApprovalError: four-eyes or an empty approver. LifecycleError: the version is archived.
    """
    now = now or utc_now()
    metadata = record.get(label)
    lifecycle.check_approver(metadata, approver, four_eyes=policy.four_eyes)
    if metadata.stage is ModelStage.ARCHIVED:
        msg = f"{record.name} {label} is archived; move it back to development before approving it"
        raise LifecycleError(msg)
    approval = Approval(
        stage=target, approver=approver, comment=comment, approved_at=now, artifact_digest=metadata.artifact_digest
    )
    updated = metadata.model_copy(update={"approvals": (*metadata.approvals, approval)})
    entry = history_entry(approver, HistoryAction.APPROVED, label, to_stage=target, reason=comment)
    record = record.with_versions(updated).with_history(entry)
    request = pending_request(updated, target)
    if request is None or target not in lifecycle.ALLOWED_TRANSITIONS[updated.stage]:
        return record
    if not unused_approvals(updated, target, four_eyes=policy.four_eyes):
        return record
    why = request.comment or f"requested by {request.requested_by}, approved by {approver}"
    return promote(record, label, target, actor=approver, reason=why, policy=policy, now=now)


def request_promotion(
    record: ModelRecord, label: str, target: ModelStage, *, requested_by: str, comment: str, now: datetime | None = None
) -> ModelRecord:
    """Record a pending request to move `label` to `target` (which must be allowed from its stage).

    Raises:
        InvalidTransitionError: the move is not in the table. ConflictError: a request is already pending.
    """
    now = now or utc_now()
    metadata = record.get(label)
    lifecycle.check_transition(label, metadata.stage, target)
    if pending_request(metadata, target) is not None:
        msg = f"{record.name} {label} already has a pending request for {target.value}"
        raise ConflictError(msg)
    request = PromotionRequest(
        id=uuid.uuid4().hex, stage=target, from_stage=metadata.stage, requested_by=requested_by, requested_at=now,
        comment=comment,
    )  # fmt: skip
    updated = metadata.model_copy(update={"promotion_requests": (*metadata.promotion_requests, request)})
    entry = history_entry(requested_by, HistoryAction.PROMOTION_REQUESTED, label, metadata.stage, target, comment)
    return record.with_versions(updated).with_history(entry)


def reject(
    record: ModelRecord,
    label: str,
    target: ModelStage,
    *,
    approver: str,
    comment: str,
    policy: ApprovalPolicy,
    now: datetime | None = None,
) -> ModelRecord:
    """Reject the pending request to move `label` to `target`.

    Raises:
        LifecycleError: no request is pending. ApprovalError: four-eyes (the registrant may not decide).
    """
    now = now or utc_now()
    metadata = record.get(label)
    if pending_request(metadata, target) is None:
        msg = f"{record.name} {label} has no pending request for {target.value}"
        raise LifecycleError(msg)
    lifecycle.check_approver(metadata, approver, four_eyes=policy.four_eyes)
    updated = _settle_request(metadata, target, "rejected", approver, now, comment)
    entry = history_entry(approver, HistoryAction.REJECTED, label, metadata.stage, target, comment)
    return record.with_versions(updated).with_history(entry)


def pending_request(metadata: ModelMetadata, stage: ModelStage) -> PromotionRequest | None:
    """Return the pending request of `metadata` for `stage`, if any."""
    for request in reversed(metadata.promotion_requests):
        if request.stage is stage and request.status == "pending":
            return request
    return None


def _settle_request(
    metadata: ModelMetadata, stage: ModelStage, status: str, actor: str, now: datetime, comment: str
) -> ModelMetadata:
    request = pending_request(metadata, stage)
    if request is None:
        return metadata
    done = request.model_copy(
        update={"status": status, "decided_by": actor, "decided_at": now, "decision_comment": comment}
    )
    requests = tuple(done if r.id == request.id else r for r in metadata.promotion_requests)
    return metadata.model_copy(update={"promotion_requests": requests})


def history_entry(
    actor: str,
    action: HistoryAction,
    version: str,
    from_stage: ModelStage | None = None,
    to_stage: ModelStage | None = None,
    reason: str = "",
    details: Mapping[str, str] | None = None,
) -> HistoryEntry:
    """Return a new history entry stamped now."""
    return HistoryEntry(
        id=uuid.uuid4().hex,
        at=utc_now(),
        actor=actor,
        action=action,
        version=version,
        from_stage=from_stage,
        to_stage=to_stage,
        reason=reason,
        details=dict(details or {}),
    )


def move(
    metadata: ModelMetadata,
    stage: ModelStage,
    actor: str,
    at: datetime,
    reason: str,
    *,
    approvals: tuple[str, ...] = (),
    cause: str = "promote",
) -> tuple[ModelMetadata, HistoryEntry]:
    """Return `metadata` moved to `stage` (with its StageChange) and the matching history entry."""
    change = StageChange(
        from_stage=metadata.stage, to_stage=stage, changed_by=actor, changed_at=at, reason=reason,
        approvals=approvals, cause=cause,
    )  # fmt: skip
    moved = metadata.model_copy(update={"stage": stage, "stage_history": (*metadata.stage_history, change)})
    details = {"approved_by": ",".join(approvals)} if approvals else {}
    entry = history_entry(actor, HistoryAction.STAGE_CHANGED, metadata.version, metadata.stage, stage, reason, details)
    return moved, entry


def unused_approvals(metadata: ModelMetadata, stage: ModelStage, *, four_eyes: bool) -> list[Approval]:
    """Return valid approvals for `stage` given since the version last entered it (each approval is used once)."""
    entered = [c.changed_at for c in metadata.stage_history if c.to_stage is stage]
    since = max(entered) if entered else None
    return [
        a
        for a in lifecycle.valid_approvals(metadata, stage, four_eyes=four_eyes)
        if since is None or a.approved_at > since
    ]


def production_holders(record: ModelRecord) -> list[str]:
    """Return the versions that held PRODUCTION and were not rolled back from, latest last, no repeats."""
    order: list[str] = []
    for entry in record.history:
        if entry.action is HistoryAction.ROLLED_BACK:
            # A version rolled back from is not a candidate for the next rollback, until promoted again.
            rejected = set(entry.details.get("from_version", "").split(","))
            order = [v for v in order if v not in rejected]
        entered = entry.to_stage is ModelStage.PRODUCTION and entry.action in (
            HistoryAction.STAGE_CHANGED,
            HistoryAction.ROLLED_BACK,
        )
        if entered:
            if entry.version in order:
                order.remove(entry.version)
            order.append(entry.version)
    return order


def not_a_rollback_target(record: ModelRecord, version: str) -> str:
    """Explain why `version` cannot be rolled back to (it never served, or production was rolled back from it)."""
    ever = any(c.to_stage is ModelStage.PRODUCTION for c in record.get(version).stage_history)
    if ever:
        return (
            f"{record.name} {version} was rolled back from; promote it again (with an approval) "
            "instead of rolling back to it"
        )
    return f"{record.name} {version} has never been in production; promote it instead of rolling back"
