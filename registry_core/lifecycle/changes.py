"""Changes of a model's record outside the promotion workflow: history entries, moves, registration, notes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from registry_core.bounds import check_count
from registry_core.errors import ModelNotFoundError, VersionConflictError
from registry_core.metadata import (
    HistoryAction,
    HistoryEntry,
    ModelMetadata,
    ModelPerformance,
    ModelStage,
    StageChange,
    utc_now,
)
from registry_core.quality import ValidationDecision
from registry_core.store import ModelRecord
from registry_core.versioning import next_version, normalize_version

VALIDATION_STATUS = "validation"
VALIDATION_REASON = "validation_reason"
VALIDATION_CHAMPION = "validation_champion"
HOLDOUT_PREFIX = "holdout_"  # validation metrics join the version's metrics under this prefix

Change = Callable[[ModelRecord | None], ModelRecord]
"""A change of a model's record as last read (None: the model has no document yet) into the one to write."""
Commit = Callable[[str, Change], ModelRecord]
"""Applies a change to a model's document by compare-and-swap and returns what was written (ModelRegistry.commit)."""


def registered(record: ModelRecord | None, model_name: str) -> ModelRecord:
    """Return `record`, the document of `model_name` as read for a change.

    Raises:
        ModelNotFoundError: the model has no document (it is not registered).
    """
    if record is None:
        msg = f"model {model_name!r} is not registered"
        raise ModelNotFoundError(msg)
    return record


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
    """Return `metadata` moved to `stage` (with its StageChange) and the matching history entry.

    The transition table is not consulted: callers check it (a promotion) or need not (an archive, a rollback).
    """
    change = StageChange(
        from_stage=metadata.stage, to_stage=stage, changed_by=actor, changed_at=at, reason=reason,
        approvals=approvals, cause=cause,
    )  # fmt: skip
    moved = metadata.model_copy(update={"stage": stage, "stage_history": (*metadata.stage_history, change)})
    details = {"approved_by": ",".join(approvals)} if approvals else {}
    entry = history_entry(actor, HistoryAction.STAGE_CHANGED, metadata.version, metadata.stage, stage, reason, details)
    return moved, entry


def choose_label(record: ModelRecord, requested: str | None, bump: str = "minor") -> str:
    """Return the label of the model's next version: `requested` (in the model's strategy) if free, else the next one.

    Raises:
        VersionConflictError: `requested` is taken. InvalidVersionError: it is of the other strategy.
    """
    labels = [m.version for m in record.versions]
    if requested is None:
        return next_version(record.versioning, labels, bump)
    label = normalize_version(requested, record.versioning)
    if label in labels:
        msg = f"model {record.name!r} already has version {label}"
        raise VersionConflictError(msg)
    return label


def register(record: ModelRecord, metadata: ModelMetadata) -> ModelRecord:
    """Add the new version `metadata` (in DEVELOPMENT) to the record, with its REGISTERED history entry.

    Raises:
        VersionConflictError: the record already has a version with its label.
    """
    if any(m.version == metadata.version for m in record.versions):
        msg = f"model {record.name!r} already has version {metadata.version}"
        raise VersionConflictError(msg)
    entry = history_entry(
        metadata.registered_by, HistoryAction.REGISTERED, metadata.version, to_stage=ModelStage.DEVELOPMENT
    )
    return record.with_versions(metadata).with_history(entry)


def annotate(
    record: ModelRecord,
    label: str,
    notes: Mapping[str, str],
    *,
    actor: str,
    metrics: ModelPerformance | None = None,
) -> ModelRecord:
    """Merge `notes` (and `metrics`, if given) into the version's annotations (and metrics), with an ANNOTATED entry.

    Raises:
        VersionNotFoundError: no such version. InvalidInputError: the merged notes exceed the count bound.
    """
    metadata = record.get(label)
    merged_notes = metadata.annotations | dict(notes)
    check_count(merged_notes, f"annotations of {record.name} {label}")
    update: dict[str, Any] = {"annotations": merged_notes}
    if metrics is not None:
        update["metrics"] = ModelPerformance.from_mapping(metadata.metrics.as_dict() | metrics.as_dict())
    entry = history_entry(actor, HistoryAction.ANNOTATED, label, details=notes)
    return record.with_versions(metadata.model_copy(update=update)).with_history(entry)


def record_monitoring(record: ModelRecord, entry: HistoryEntry) -> ModelRecord:
    """Add `entry`, the MONITORED entry of a monitoring run of its version (the version itself is unchanged).

    Raises:
        VersionNotFoundError: no such version.
    """
    record.get(entry.version)
    return record.with_history(entry)


def record_validation(
    record: ModelRecord, label: str, decision: ValidationDecision, *, actor: str, now: datetime | None = None
) -> ModelRecord:
    """Record a validation outcome: holdout metrics, pass/fail with the reason, the champion it was compared with.

    A version in DEVELOPMENT moves to VALIDATION. A failed one stays where it is, marked, and the promotion
    workflow refuses it STAGING until a later validation passes.

    Raises:
        VersionNotFoundError: no such version. InvalidInputError: a holdout metric is not a finite number.
    """
    now = now or utc_now()
    metadata = record.get(label)
    holdout = ModelPerformance.from_mapping({f"{HOLDOUT_PREFIX}{k}": v for k, v in decision.metrics.items()})
    notes = {
        VALIDATION_STATUS: "passed" if decision.passed else "failed",
        VALIDATION_REASON: decision.reason,
        VALIDATION_CHAMPION: decision.champion_version or "",
    }
    merged = ModelPerformance.from_mapping(metadata.metrics.as_dict() | holdout.as_dict())
    updated = metadata.model_copy(update={"annotations": metadata.annotations | notes, "metrics": merged})
    entries = [history_entry(actor, HistoryAction.ANNOTATED, label, reason=decision.reason, details=notes)]
    if metadata.stage is ModelStage.DEVELOPMENT:
        updated, entry = move(updated, ModelStage.VALIDATION, actor, now, decision.reason, cause="validate")
        entries.append(entry)
    return record.with_versions(updated).with_history(*entries)


def failed_validation(metadata: ModelMetadata) -> str | None:
    """Return why the version's last validation failed, or None if it passed or was never validated."""
    if metadata.annotations.get(VALIDATION_STATUS) != "failed":
        return None
    return metadata.annotations.get(VALIDATION_REASON, "")


def on_behalf(record: ModelRecord, since: int, principal: str | None) -> ModelRecord:
    """Mark the history entries from index `since` on with `principal` where someone else is named as the actor.

    The authenticated identity that writes (a Google account on GCS) is kept beside the actor it writes for, so
    the history shows who really made a change on behalf of a named person or pipeline.
    """
    new = record.history[since:]
    if not principal or all(entry.actor == principal or entry.principal for entry in new):
        return record
    marked = tuple(
        entry if entry.actor == principal or entry.principal else entry.model_copy(update={"principal": principal})
        for entry in new
    )
    return record.model_copy(update={"history": (*record.history[:since], *marked)})
