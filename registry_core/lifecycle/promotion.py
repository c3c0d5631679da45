"""The promotion workflow: promote, request a promotion, approve and reject it, as changes of a model's record."""

from __future__ import annotations

import uuid
from datetime import datetime

from registry_core.errors import ConflictError, LifecycleError
from registry_core.lifecycle.approvals import (
    ApprovalPolicy,
    check_approver,
    pending_request,
    require_approval,
    unused_approvals,
)
from registry_core.lifecycle.changes import failed_validation, history_entry, move
from registry_core.lifecycle.stages import check_transition, is_allowed
from registry_core.metadata import (
    Approval,
    HistoryAction,
    HistoryEntry,
    ModelMetadata,
    ModelStage,
    PromotionRequest,
    utc_now,
)
from registry_core.store import ModelRecord


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
    check_transition(label, metadata.stage, target)
    failure = failed_validation(metadata)
    if target is ModelStage.STAGING and failure is not None:
        msg = f"{record.name} {label} failed validation ({failure}); validate it again before staging it"
        raise LifecycleError(msg)
    used: list[Approval] = []
    entries: list[HistoryEntry] = []
    if target in policy.required_stages:
        if approver is not None:
            check_approver(metadata, approver, four_eyes=policy.four_eyes)
            inline = Approval(
                stage=target, approver=approver, comment=reason, approved_at=now,
                artifact_digest=metadata.artifact_digest,
            )  # fmt: skip
            metadata = metadata.model_copy(update={"approvals": (*metadata.approvals, inline)})
            entries.append(history_entry(approver, HistoryAction.APPROVED, label, to_stage=target, reason=reason))
        used = unused_approvals(metadata, target, four_eyes=policy.four_eyes)
        require_approval(metadata, target, used)
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
    check_approver(metadata, approver, four_eyes=policy.four_eyes)
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
    if request is None or not is_allowed(updated.stage, target):
        return record
    if not unused_approvals(updated, target, four_eyes=policy.four_eyes):
        return record
    why = request.comment or f"requested by {request.requested_by}, approved by {approver}"
    return promote(record, label, target, actor=approver, reason=why, policy=policy, now=now)


def request_promotion(
    record: ModelRecord,
    label: str,
    target: ModelStage,
    *,
    requested_by: str,
    comment: str,
    policy: ApprovalPolicy,
    now: datetime | None = None,
) -> ModelRecord:
    """Record a pending request to move `label` to `target` (which must be allowed from its stage).

    A stage that needs no approval is promoted to at once, by the requester.

    Raises:
        InvalidTransitionError: the move is not in the table. ConflictError: a request is already pending.
    """
    now = now or utc_now()
    if target not in policy.required_stages:
        return promote(record, label, target, actor=requested_by, reason=comment, policy=policy, now=now)
    metadata = record.get(label)
    check_transition(label, metadata.stage, target)
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
    check_approver(metadata, approver, four_eyes=policy.four_eyes)
    updated = _settle_request(metadata, target, "rejected", approver, now, comment)
    entry = history_entry(approver, HistoryAction.REJECTED, label, metadata.stage, target, comment)
    return record.with_versions(updated).with_history(entry)


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
