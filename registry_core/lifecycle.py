"""Lifecycle policy: the stage transition table and the approval rules (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from registry_core.errors import (
    ApprovalError,
    ApprovalRequiredError,
    InvalidTransitionError,
)
from registry_core.metadata import Approval, ModelMetadata, ModelStage

S = ModelStage
ALLOWED_TRANSITIONS: Mapping[ModelStage, frozenset[ModelStage]] = {
    S.DEVELOPMENT: frozenset({S.VALIDATION, S.ARCHIVED}),
    S.VALIDATION: frozenset({S.STAGING, S.DEVELOPMENT, S.ARCHIVED}),
    S.STAGING: frozenset({S.PRODUCTION, S.VALIDATION, S.DEVELOPMENT, S.ARCHIVED}),
    S.PRODUCTION: frozenset({S.STAGING, S.ARCHIVED}),
    S.ARCHIVED: frozenset({S.DEVELOPMENT}),
}
_ORDER = {stage: index for index, stage in enumerate(ModelStage)}


def allowed_targets(current: ModelStage) -> list[ModelStage]:
    """Return the stages reachable from `current`, in lifecycle order."""
    return sorted(ALLOWED_TRANSITIONS[current], key=_ORDER.__getitem__)


def check_transition(version: str, current: ModelStage, target: ModelStage) -> None:
    """Refuse a stage change that is not in ALLOWED_TRANSITIONS.

    Raises:
        InvalidTransitionError: naming the stages that are allowed from `current`.
    """
    if target in ALLOWED_TRANSITIONS[current]:
        return
    allowed = ", ".join(s.value for s in allowed_targets(current))
    if current is target:
        msg = f"version {version} is already in {target.value}; allowed from there: {allowed}"
    else:
        msg = f"cannot move version {version} from {current.value} to {target.value}; allowed: {allowed}"
    raise InvalidTransitionError(msg)


def check_approver(metadata: ModelMetadata, approver: str, *, four_eyes: bool) -> None:
    """Refuse an approver who may not approve `metadata`.

    Raises:
        ApprovalError: the approver is empty, or registered the version while four-eyes is on.
    """
    if not approver or not approver.strip():
        msg = "an approval needs the approver's identity"
        raise ApprovalError(msg)
    if four_eyes and approver.strip().lower() == metadata.registered_by.strip().lower():
        msg = (
            f"{approver} registered {metadata.model_name} {metadata.version} and cannot also approve it "
            "(four-eyes rule)"
        )
        raise ApprovalError(msg)


def valid_approvals(
    metadata: ModelMetadata, stage: ModelStage, *, four_eyes: bool, extra: Iterable[Approval] = ()
) -> list[Approval]:
    """Return the approvals that allow `metadata` into `stage`: same stage, same digest, eligible approver."""
    result = []
    for approval in (*metadata.approvals, *extra):
        if approval.stage is not stage or approval.artifact_digest != metadata.artifact_digest:
            continue
        if four_eyes and approval.approver.strip().lower() == metadata.registered_by.strip().lower():
            continue
        result.append(approval)
    return result


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
