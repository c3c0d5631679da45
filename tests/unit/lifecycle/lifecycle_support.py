"""Records to test the lifecycle rules on: versions, approvals, and a model walked through its stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from registry_core import Approval, ModelMetadata, ModelStage, VersioningStrategy
from registry_core.lifecycle import changes, promotion
from registry_core.lifecycle.approvals import ApprovalPolicy
from registry_core.store import ModelRecord

S = ModelStage
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64
T0 = datetime(2024, 1, 1, tzinfo=UTC)
POLICY = ApprovalPolicy(required_stages=frozenset({S.PRODUCTION}), four_eyes=True)


def metadata(version: str = "v1", *, registered_by: str = "alice", **fields: Any) -> ModelMetadata:
    """Return a version of model "churn" registered by `registered_by`, with `fields` set."""
    values: dict[str, Any] = {
        "model_id": f"id-{version}",
        "model_name": "churn",
        "version": version,
        "artifact_uri": f"file:///registry/artifacts/churn/{version}",
        "artifact_digest": DIGEST,
        "registered_by": registered_by,
        "registered_at": T0,
    }
    return ModelMetadata(**(values | fields))


def approval(approver: str = "bob", stage: ModelStage = S.PRODUCTION, *, digest: str = DIGEST) -> Approval:
    """Return `approver`'s approval for `stage`, given an hour after T0."""
    return Approval(stage=stage, approver=approver, approved_at=T0 + timedelta(hours=1), artifact_digest=digest)


def empty_record(versioning: VersioningStrategy = VersioningStrategy.AUTO_INCREMENT) -> ModelRecord:
    """Return the record of model "churn" before its first version."""
    return ModelRecord(name="churn", created_at=T0, versioning=versioning)


def registered(*labels: str) -> ModelRecord:
    """Return a record with versions `labels`, each registered by alice, in DEVELOPMENT."""
    record = empty_record()
    for label in labels:
        record = changes.register(record, metadata(label))
    return record


_TO_STAGING = {
    S.DEVELOPMENT: (S.VALIDATION, S.STAGING),
    S.VALIDATION: (S.STAGING,),
    S.STAGING: (),
    S.PRODUCTION: (S.STAGING,),
    S.ARCHIVED: (S.DEVELOPMENT, S.VALIDATION, S.STAGING),
}


def staged(record: ModelRecord, label: str) -> ModelRecord:
    """Return `record` with `label` moved along the transition table to STAGING."""
    for stage in _TO_STAGING[record.get(label).stage]:
        record = promotion.promote(record, label, stage, actor="alice", reason="", policy=POLICY)
    return record


def in_production(record: ModelRecord, label: str) -> ModelRecord:
    """Return `record` with `label` staged if need be, then promoted to PRODUCTION with bob's approval."""
    record = staged(record, label)
    return promotion.promote(record, label, S.PRODUCTION, actor="alice", reason="", policy=POLICY, approver="bob")
