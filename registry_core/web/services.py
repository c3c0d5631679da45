"""What the pages and the API show and do, on top of ModelRegistry: summaries, filters and the lifecycle actions.

Every action goes through the library (`request_promotion`, `approve`, `reject`, `promote_model`, `rollback`), so
the transition table, the four-eyes rule and compare-and-swap apply exactly as in the CLI. The UI adds two checks
of its own: an optional list of approvers, and the stage the user saw when deciding to promote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from registry_core.arguments import NAME_PATTERN
from registry_core.documents import VersionSummary
from registry_core.errors import ApprovalError, ConflictError, InvalidInputError
from registry_core.lifecycle import approvals, stages
from registry_core.metadata import HistoryAction, HistoryEntry, ModelMetadata, ModelStage, PromotionRequest

if TYPE_CHECKING:
    from registry_core.registry import ModelRegistry
    from registry_core.web.auth import Identity
    from registry_core.web.config import WebConfig

MAX_COMPARE = 5
VERSION_PATTERN = r"v?[0-9]{1,9}(\.[0-9]{1,9}\.[0-9]{1,9})?"
STAGES = list(ModelStage)


class NotAnApproverError(ApprovalError):
    """The caller is not one of the configured approvers."""


class ModelSummary(BaseModel):
    """A model at a glance.

    Attributes:
        name: Model name.
        version_count: Number of versions.
        latest_version: The newest version's label.
        latest_by_stage: Stage -> the newest version in it.
        registered_by: Who registered the newest version.
        last_activity: Latest registration or stage change.
        tags: Tags of all versions.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    version_count: int
    latest_version: str | None
    latest_by_stage: dict[ModelStage, str]
    registered_by: str | None
    last_activity: datetime | None
    tags: list[str]


class ModelDetail(ModelSummary):
    """A model with its versions (newest first).

    Attributes:
        versions: Every version.
        rollback_candidates: Versions production can be rolled back to, most recent first.
    """

    versions: list[VersionSummary]
    rollback_candidates: list[str]


class PendingRequest(BaseModel):
    """A promotion request waiting for an approver.

    Attributes:
        model: Model name.
        version: Version label.
        stage: The version's current stage.
        registered_by: Who registered it (may not approve under four-eyes).
        request: The request.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    version: str
    stage: ModelStage
    registered_by: str
    request: PromotionRequest


class TimelineEntry(BaseModel):
    """A history entry with its model's name.

    Attributes:
        model: Model name.
        entry: The entry.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    entry: HistoryEntry


class ActionResult(BaseModel):
    """Outcome of a lifecycle action.

    Attributes:
        message: What happened, in one sentence.
        version: The version's metadata afterwards.
    """

    model_config = ConfigDict(frozen=True)

    message: str
    version: ModelMetadata


class StageBody(BaseModel):
    """Body of a promotion request, an approval or a rejection.

    Attributes:
        stage: Stage asked for, approved or refused.
        comment: Why.
    """

    model_config = ConfigDict(extra="forbid")

    stage: ModelStage
    comment: str = Field(default="", max_length=2000)


class PromoteBody(BaseModel):
    """Body of a direct promotion.

    Attributes:
        stage: Target stage.
        reason: Why.
        expected_stage: The stage the caller saw; refused with 409 if the version has moved since.
    """

    model_config = ConfigDict(extra="forbid")

    stage: ModelStage
    reason: str = Field(default="", max_length=2000)
    expected_stage: ModelStage | None = None


class RollbackBody(BaseModel):
    """Body of a rollback.

    Attributes:
        to_version: Version to restore; default: the previous production version.
        reason: Why.
        endpoint_name: Also put the restored version back to 100% of this endpoint.
    """

    model_config = ConfigDict(extra="forbid")

    to_version: str | None = Field(default=None, pattern=rf"^({VERSION_PATTERN})?$")
    reason: str = Field(default="", max_length=2000)
    endpoint_name: str | None = Field(default=None, pattern=rf"^({NAME_PATTERN.pattern})?$")


# ---------------------------------------------------------------------------------------------------- reading


def summarize(name: str, versions: Sequence[VersionSummary]) -> ModelSummary:
    """Return the summary of a model from its versions (ordered by label)."""
    latest = versions[-1] if versions else None
    by_stage: dict[ModelStage, str] = {}
    for metadata in versions:
        by_stage[metadata.stage] = metadata.version
    moments = [m.registered_at for m in versions]
    tags = sorted({tag for m in versions for tag in m.tags})
    return ModelSummary(
        name=name, version_count=len(versions), latest_version=latest.version if latest else None,
        latest_by_stage={s: by_stage[s] for s in STAGES if s in by_stage},
        registered_by=latest.registered_by if latest else None, last_activity=max(moments, default=None), tags=tags,
    )  # fmt: skip


def list_models(registry: ModelRegistry, query: str = "") -> list[ModelSummary]:
    """Return the summaries of the models matching `query` (name, tags, descriptions; case-insensitive)."""
    found = []
    for name in registry.list_models():
        versions = registry.list_versions(name)
        if query and not _matches(query, [name, *(t for m in versions for t in m.tags),
                                          *(m.description for m in versions)]):  # fmt: skip
            continue
        found.append(summarize(name, versions))
    return found


def model_detail(registry: ModelRegistry, name: str) -> ModelDetail:
    """Return a model with its versions, newest first, and where production can be rolled back to."""
    versions = registry.list_versions(name)
    summary = summarize(name, versions)
    candidates = registry.rollback_candidates(name)
    return ModelDetail(**summary.model_dump(), versions=list(reversed(versions)), rollback_candidates=candidates)


def filter_versions(
    versions: Iterable[VersionSummary],
    *,
    stage: ModelStage | None = None,
    tag: str | None = None,
    registered_by: str | None = None,
    query: str | None = None,
) -> list[VersionSummary]:
    """Return the versions that pass every given filter."""
    return [
        m
        for m in versions
        if (stage is None or m.stage is stage)
        and (not tag or tag in m.tags)
        and (not registered_by or m.registered_by == registered_by)
        and (not query or _matches(query, [m.version, m.description, m.registered_by, *m.tags]))
    ]


def metric_names(versions: Iterable[VersionSummary], limit: int | None = None) -> list[str]:
    """Return the metric names of `versions`, the common named ones first."""
    order = ("accuracy", "auc", "precision", "recall", "f1_score", "loss")
    names = {name for m in versions for name in m.metrics.as_dict()}
    ranked = [n for n in order if n in names] + sorted(names - set(order))
    return ranked[:limit] if limit else ranked


def pending(registry: ModelRegistry, model: str | None = None) -> list[PendingRequest]:
    """Return the pending promotion requests, oldest first."""
    return [
        PendingRequest(model=m.model_name, version=m.version, stage=m.stage, registered_by=m.registered_by, request=r)
        for m, r in registry.pending_requests(model)
    ]


def timeline(
    registry: ModelRegistry,
    *,
    model: str | None = None,
    version: str | None = None,
    action: HistoryAction | None = None,
    limit: int = 200,
) -> list[TimelineEntry]:
    """Return history entries, newest first (of one model, or of all)."""
    names = [model] if model else registry.list_models()
    entries = [
        TimelineEntry(model=name, entry=e)
        for name in names
        for e in registry.history(name)
        if (version is None or e.version == version) and (action is None or e.action is action)
    ]
    entries.sort(key=lambda t: t.entry.at, reverse=True)
    return entries[:limit]


def compare_versions(versions: list[str]) -> list[str]:
    """Check a compare selection (2-5 distinct versions) and return it without repeats.

    Raises:
        InvalidInputError: too few or too many versions.
    """
    chosen = list(dict.fromkeys(v.strip() for v in versions))
    if len(chosen) < 2:
        msg = "choose at least two versions to compare"
        raise InvalidInputError(msg)
    if len(chosen) > MAX_COMPARE:
        msg = f"choose at most {MAX_COMPARE} versions to compare (got {len(chosen)})"
        raise InvalidInputError(msg)
    return chosen


def allowed_targets(metadata: ModelMetadata) -> list[ModelStage]:
    """Return the stages `metadata` may move to (the transition table)."""
    return stages.allowed_targets(metadata.stage)


def _matches(query: str, texts: Iterable[str]) -> bool:
    needle = query.strip().lower()
    return any(needle in text.lower() for text in texts)


# ---------------------------------------------------------------------------------------------------- actions


def may_approve(config: WebConfig, identity: Identity | None) -> bool:
    """Return True if `identity` may approve or reject (before the four-eyes rule, which the library applies)."""
    return approvals.may_decide(config.approvers, identity.name if identity is not None else None)


def request_promotion(
    registry: ModelRegistry, config: WebConfig, identity: Identity, name: str, version: str, body: StageBody
) -> ActionResult:
    """Ask for a promotion (done at once for a stage that needs no approval); anyone signed in may ask."""
    stage = body.stage
    metadata = registry.request_promotion(name, version, stage, requested_by=identity.name, comment=body.comment)
    if approvals.pending_request(metadata, stage) is not None:
        message = f"requested {name} {metadata.version} -> {stage.value}; waiting for an approver"
    else:
        message = f"{name} {metadata.version} is now in {metadata.stage.value}"
    return ActionResult(message=message, version=metadata)


def approve(
    registry: ModelRegistry, config: WebConfig, identity: Identity, name: str, version: str, body: StageBody
) -> ActionResult:
    """Approve a version for a stage; a pending request for it proceeds if the rules now hold."""
    metadata = _decide(registry.approve, config, identity, name, version, body)
    if metadata.stage is body.stage:
        message = f"{identity.name} approved {name} {metadata.version}; it is now in {body.stage.value}"
    else:
        message = f"{identity.name} approved {name} {metadata.version} for {body.stage.value}"
    return ActionResult(message=message, version=metadata)


def reject(
    registry: ModelRegistry, config: WebConfig, identity: Identity, name: str, version: str, body: StageBody
) -> ActionResult:
    """Reject the pending request for a stage."""
    metadata = _decide(registry.reject, config, identity, name, version, body)
    message = f"{identity.name} rejected {name} {metadata.version} -> {body.stage.value}"
    return ActionResult(message=message, version=metadata)


StageAction = Callable[["ModelRegistry", "WebConfig", "Identity", str, str, StageBody], ActionResult]
"""The shape of `request_promotion`, `approve` and `reject`, which the API and the pages route alike."""


def _decide(
    record: Callable[[str, str, ModelStage, str, str], ModelMetadata],
    config: WebConfig,
    identity: Identity,
    name: str,
    version: str,
    body: StageBody,
) -> ModelMetadata:
    """Record an approver's decision with `record` (ModelRegistry.approve or .reject) once the caller may decide."""
    if not may_approve(config, identity):
        msg = f"{identity.name} is not one of the configured approvers"
        raise NotAnApproverError(msg)
    return record(name, version, body.stage, identity.name, body.comment)


def promote(
    registry: ModelRegistry,
    identity: Identity,
    name: str,
    version: str,
    stage: ModelStage,
    reason: str,
    expected_stage: ModelStage | None = None,
) -> ActionResult:
    """Move a version to a stage (approval-gated stages need an approval already given).

    Raises:
        ConflictError: the version is no longer in `expected_stage`.
    """
    if expected_stage is not None:
        current = registry.get_model_metadata(name, version)
        if current.stage is not expected_stage:
            msg = (
                f"{name} {current.version} is now in {current.stage.value}, not {expected_stage.value}; "
                "reload and decide again"
            )
            raise ConflictError(msg)
    metadata = registry.promote_model(name, version, stage, reason=reason, actor=identity.name)
    return ActionResult(message=f"{name} {metadata.version} is now in {metadata.stage.value}", version=metadata)


def rollback(registry: ModelRegistry, identity: Identity, name: str, body: RollbackBody) -> ActionResult:
    """Put production back on the previous (or given) version, and on an endpoint if given."""
    metadata = registry.rollback(
        name, body.to_version or None, reason=body.reason, actor=identity.name,
        endpoint_name=body.endpoint_name or None,
    )  # fmt: skip
    where = f" and serves 100% of {body.endpoint_name}" if body.endpoint_name else ""
    return ActionResult(message=f"{name} {metadata.version} is back in production{where}", version=metadata)
