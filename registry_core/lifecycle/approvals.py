"""Approval rules: the policy, four-eyes, which approvals count, pending requests and who may decide on them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Set
from dataclasses import dataclass

from registry_core.errors import ApprovalError, ApprovalRequiredError
from registry_core.metadata import Approval, ModelMetadata, ModelStage, PromotionRequest


@dataclass(frozen=True)
class ApprovalPolicy:
    """The approval rules of a registry: which stages need an approval, and whether four-eyes applies."""

    required_stages: Set[ModelStage]
    four_eyes: bool


def may_decide(approvers: Collection[str], name: str | None) -> bool:
    """Return True if `name` may approve or reject, given the list of approvers a UI is configured with.

    An empty list lets everyone decide; names compare case-insensitively, ignoring surrounding spaces. Nobody
    (None) may decide. The four-eyes rule applies on top of this, in `check_approver`.
    """
    if name is None:
        return False
    allowed = {a.strip().lower() for a in approvers}
    return not allowed or name.strip().lower() in allowed


def check_approver(metadata: ModelMetadata, approver: str, *, four_eyes: bool) -> None:
    """Refuse an approver who may not approve `metadata`.

    Raises:
        ApprovalError: the approver is empty, or registered the version while four-eyes is on.
    """
    if not approver or not approver.strip():
        msg = "an approval needs the approver's identity"
        raise ApprovalError(msg)
    if four_eyes and _same_person(approver, metadata.registered_by):
        msg = (
            f"{approver} registered {metadata.model_name} {metadata.version} and cannot also approve it "
            "(four-eyes rule)"
        )
        raise ApprovalError(msg)


def valid_approvals(
    metadata: ModelMetadata, stage: ModelStage, *, four_eyes: bool, extra: Iterable[Approval] = ()
) -> list[Approval]:
    """Return the approvals that allow `metadata` into `stage`: same stage, same digest, eligible approver."""
    return [
        approval
        for approval in (*metadata.approvals, *extra)
        if approval.stage is stage
        and approval.artifact_digest == metadata.artifact_digest
        and not (four_eyes and _same_person(approval.approver, metadata.registered_by))
    ]


def unused_approvals(metadata: ModelMetadata, stage: ModelStage, *, four_eyes: bool) -> list[Approval]:
    """Return valid approvals for `stage` given since the version last entered it (each approval is used once)."""
    entered = [c.changed_at for c in metadata.stage_history if c.to_stage is stage]
    since = max(entered) if entered else None
    return [a for a in valid_approvals(metadata, stage, four_eyes=four_eyes) if since is None or a.approved_at > since]


def require_approval(metadata: ModelMetadata, stage: ModelStage, approvals: list[Approval]) -> None:
    """Refuse a move into an approval-gated stage without a valid approval.

    Raises:
        ApprovalRequiredError: `approvals` is empty.
    """
    if not approvals:
        msg = (
            f"{metadata.model_name} {metadata.version} needs an approval for {stage.value} by someone other than "
            f"{metadata.registered_by}; run 'approve' first or pass approved_by"
        )
        raise ApprovalRequiredError(msg)


def pending_request(metadata: ModelMetadata, stage: ModelStage) -> PromotionRequest | None:
    """Return the pending request of `metadata` for `stage`, if any."""
    for request in reversed(metadata.promotion_requests):
        if request.stage is stage and request.status == "pending":
            return request
    return None


def _same_person(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()
