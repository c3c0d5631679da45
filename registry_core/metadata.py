"""Metadata records: what the registry knows about a model version (pydantic v2, immutable).

Change a record with ``record.model_copy(update={...})``; every record round-trips through
JSON and carries a schema version so that later releases can read older documents.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    ValidationInfo,
    field_validator,
    model_validator,
)

from registry_core import html_tables
from registry_core.bounds import check_count, check_text
from registry_core.errors import InvalidInputError, InvalidStageError
from registry_core.text import one_line, shown

SCHEMA_VERSION = 1
_MAX_METRIC_NAME = 128

ParamValue = str | int | float | bool | None
LOCATIONS_CONTEXT = "artifact_locations"  # key of the ArtifactLocations in a (de)serialization context


class ArtifactLocations(Protocol):
    """How a stored document spells artifact folders (the store gives one in the pydantic context)."""

    def stored(self, uri: str) -> str:
        """Return `uri` as the document keeps it."""

    def resolved(self, stored: str, model_name: str) -> str:
        """Return the URI of a folder the document keeps as `stored`."""


def _resolve_location(value: str, info: ValidationInfo) -> str:
    locations = (info.context or {}).get(LOCATIONS_CONTEXT)
    return locations.resolved(value, info.data.get("model_name", "")) if locations is not None else value


def _store_location(value: str, info: SerializationInfo) -> str:
    locations = (info.context or {}).get(LOCATIONS_CONTEXT)
    return locations.stored(value) if locations is not None else value


# An artifact folder: in memory and in every answer an absolute URI under the registry's current root; in a stored
# document a key relative to that root, so a registry copied or moved to another folder or bucket keeps working.
ArtifactUri = Annotated[str, AfterValidator(_resolve_location), PlainSerializer(_store_location)]


def utc_now() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class ModelStage(StrEnum):
    """Lifecycle stages, in the order a version normally moves through them."""

    DEVELOPMENT = "development"
    VALIDATION = "validation"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"

    @classmethod
    def parse(cls, value: str | ModelStage) -> ModelStage:
        """Return the stage named by `value`, case-insensitively.

        Raises:
            InvalidStageError: `value` names no stage.
        """
        if isinstance(value, ModelStage):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            msg = f"unknown stage {shown(value)}; expected one of: {names}"
            raise InvalidStageError(msg) from None


class Record(BaseModel):
    """Base of every stored record: immutable, no unknown fields, ``model_*`` field names allowed."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class SchemaChecked(Record):
    """A stored document that refuses to be read by a library older than its schema (it would misread or drop fields).

    Attributes:
        schema_version: Version of the document's JSON layout.
    """

    schema_version: int = SCHEMA_VERSION

    @model_validator(mode="after")
    def _check_schema(self) -> Self:
        if self.schema_version > SCHEMA_VERSION:  # read as corrupt, naming the library to upgrade
            msg = (
                f"record schema {self.schema_version} is newer than this library ({SCHEMA_VERSION}); "
                "upgrade registry-core"
            )
            raise ValueError(msg)
        return self


class ModelPerformance(Record):
    """Evaluation metrics of a model version; every value is a finite float.

    Attributes:
        accuracy: Fraction of correct predictions.
        precision: Macro-averaged precision.
        recall: Macro-averaged recall.
        f1_score: Macro-averaged F1.
        auc: Area under the ROC curve.
        loss: Loss on the evaluation set (lower is better).
        extra: Any other named metric, e.g. ``{"latency_ms": 4.2}``.
    """

    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1_score: float | None = None
    auc: float | None = None
    loss: float | None = None
    extra: dict[str, float] = Field(default_factory=dict)

    @field_validator("accuracy", "precision", "recall", "f1_score", "auc", "loss")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            msg = f"metric values must be finite numbers, got {value}"
            raise ValueError(msg)
        return value

    @field_validator("extra")
    @classmethod
    def _finite_extra(cls, value: dict[str, float]) -> dict[str, float]:
        for name, number in value.items():
            if not name or len(name) > _MAX_METRIC_NAME:
                msg = f"metric names must be 1-128 characters, got {shown(name)}"
                raise ValueError(msg)
            if not math.isfinite(number):
                msg = f"metric {shown(name)} must be a finite number, got {number}"
                raise ValueError(msg)
        return value

    @classmethod
    def from_mapping(cls, metrics: Mapping[str, Any] | ModelPerformance | None) -> ModelPerformance:
        """Build from a flat ``{name: value}`` mapping; unknown names go to `extra`.

        Raises:
            InvalidInputError: a value is not a finite number.
        """
        if metrics is None:
            return cls()
        if isinstance(metrics, ModelPerformance):
            metrics = metrics.as_dict()  # built elsewhere: held to the same bounds as a mapping
        if not isinstance(metrics, Mapping):
            msg = f"metrics must be a mapping of names to numbers, got {type(metrics).__name__}"
            raise InvalidInputError(msg)
        check_count(metrics, "metrics")
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in metrics.items():
            if not isinstance(name, str):
                msg = f"metric names must be strings, got {shown(name)}"
                raise InvalidInputError(msg)
            check_text(name, "metric name", _MAX_METRIC_NAME)
            if isinstance(value, bool) or not isinstance(value, int | float):
                msg = f"metric {shown(name)} must be a number, got {shown(value)}"
                raise InvalidInputError(msg)
            try:
                number = float(value)
            except OverflowError:  # an integer beyond the largest float
                msg = f"metric {shown(name)} must be a finite number, got {shown(value)}"
                raise InvalidInputError(msg) from None
            (known if name in _NAMED_METRICS else extra)[name] = number
        try:
            return cls(**known, extra=extra)
        except ValueError as exc:
            raise InvalidInputError(one_line(exc)) from None

    def as_dict(self) -> dict[str, float]:
        """Return every metric that has a value as one flat mapping."""
        named = {name: getattr(self, name) for name in _NAMED_METRICS}
        return {k: v for k, v in named.items() if v is not None} | dict(self.extra)


_NAMED_METRICS = ("accuracy", "precision", "recall", "f1_score", "auc", "loss")


class FileEntry(Record):
    """One file of an artifact folder.

    Attributes:
        path: '/'-separated path relative to the artifact folder.
        size: Size in bytes.
        sha256: Hex digest of the content.
    """

    path: str
    size: int
    sha256: str


class Lineage(Record):
    """Where a version came from.

    Attributes:
        training_data_uris: Data the model was trained on.
        pipeline_run: Pipeline run (name or URI) that produced it.
        code_version: Commit or package version of the training code.
        parent_version: Version this one was fine-tuned from, if any.
        extra: Any other provenance, as strings.
    """

    training_data_uris: tuple[str, ...] = ()
    pipeline_run: str | None = None
    code_version: str | None = None
    parent_version: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class Approval(Record):
    """A sign-off allowing a version into a stage; valid only for the digest it names.

    Attributes:
        stage: Stage the approval allows.
        approver: Who approved.
        comment: Free text.
        approved_at: When.
        artifact_digest: Digest of the artifacts that were approved.
    """

    stage: ModelStage
    approver: str
    comment: str = ""
    approved_at: datetime
    artifact_digest: str


class StageChange(Record):
    """One move of a version between stages.

    Attributes:
        from_stage: Stage before.
        to_stage: Stage after.
        changed_by: Who made the change.
        changed_at: When.
        reason: Why.
        approvals: Approvers whose approvals allowed the change.
        cause: "promote", "archive", "superseded" (replaced in PRODUCTION) or "rollback".
    """

    from_stage: ModelStage
    to_stage: ModelStage
    changed_by: str
    changed_at: datetime
    reason: str = ""
    approvals: tuple[str, ...] = ()
    cause: str = "promote"


class PromotionRequest(Record):
    """A request to move a version to an approval-gated stage, waiting for (or decided by) an approver.

    Attributes:
        id: Unique id.
        stage: Stage asked for.
        from_stage: Stage the version was in when asked.
        requested_by: Who asked.
        requested_at: When.
        comment: Why.
        status: "pending", "promoted" or "rejected".
        decided_by: Who promoted or rejected it.
        decided_at: When.
        decision_comment: The decider's comment.
    """

    id: str
    stage: ModelStage
    from_stage: ModelStage
    requested_by: str
    requested_at: datetime
    comment: str = ""
    status: str = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_comment: str = ""


class VersionDeployment(Record):
    """Where a version serves or served: its mirror of one deployed model of an endpoint (see deploy.records).

    Attributes:
        endpoint: Endpoint name.
        target: Deployment target kind, e.g. "local" or "vertex".
        traffic_percent: Share of the endpoint's traffic, 0-100.
        deployed_by: Who deployed.
        deployed_at: When.
        deployed_model_id: The target's id for this deployment.
        undeployed_at: When it stopped serving, if it has.
    """

    endpoint: str
    target: str
    traffic_percent: int = Field(ge=0, le=100)
    deployed_by: str
    deployed_at: datetime
    deployed_model_id: str = ""
    undeployed_at: datetime | None = None


class ModelMetadata(SchemaChecked):
    """One registered version of a model: immutable artifacts plus lifecycle state.

    Attributes:
        schema_version: Version of this record's JSON layout.
        model_id: Unique id of this version across registries.
        model_name: Name of the model.
        version: Label issued by the versioning strategy, e.g. "v3" or "v1.4.0".
        stage: Current lifecycle stage.
        description: Free text.
        tags: Sorted, distinct labels.
        framework: e.g. "tensorflow".
        metrics: Evaluation metrics.
        params: Training parameters.
        lineage: Provenance.
        artifact_uri: Folder holding the artifacts (file://... or gs://...); documents keep it relative to the root.
        artifact_manifest: Every artifact file with its size and sha256.
        artifact_digest: sha256 over the manifest; identifies the artifacts.
        registered_by: Who registered it.
        registered_at: When.
        approvals: Approvals given to this version.
        promotion_requests: Requests to promote it to approval-gated stages, pending or decided.
        stage_history: Every stage change, oldest first.
        deployments: Where it serves or served.
        annotations: Small key/value notes added after registration (e.g. validation results).
    """

    model_id: str
    model_name: str
    version: str
    stage: ModelStage = ModelStage.DEVELOPMENT
    description: str = ""
    tags: tuple[str, ...] = ()
    framework: str | None = None
    metrics: ModelPerformance = Field(default_factory=ModelPerformance)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    lineage: Lineage = Field(default_factory=Lineage)
    artifact_uri: ArtifactUri
    artifact_manifest: tuple[FileEntry, ...] = ()
    artifact_digest: str
    registered_by: str
    registered_at: datetime
    approvals: tuple[Approval, ...] = ()
    promotion_requests: tuple[PromotionRequest, ...] = ()
    stage_history: tuple[StageChange, ...] = ()
    deployments: tuple[VersionDeployment, ...] = ()
    annotations: dict[str, str] = Field(default_factory=dict)

    @property
    def artifact_size(self) -> int:
        """Total size of the artifact files in bytes."""
        return sum(entry.size for entry in self.artifact_manifest)

    def _repr_html_(self) -> str:
        """Return the version as a two-column HTML table (Jupyter shows it for a bare expression)."""
        lineage = self.lineage
        rows = [
            ("stage", self.stage),
            ("description", self.description),
            ("tags", self.tags),
            ("metrics", self.metrics.as_dict()),
            ("params", self.params),
            ("framework", self.framework),
            ("training data", lineage.training_data_uris),
            ("pipeline run", lineage.pipeline_run),
            ("code version", lineage.code_version),
            ("parent version", lineage.parent_version),
            ("registered by", self.registered_by),
            ("registered at", self.registered_at),
            ("artifacts", f"{self.artifact_uri} ({len(self.artifact_manifest)} files, {self.artifact_size} bytes)"),
            ("artifact digest", self.artifact_digest),
            ("approvals", [f"{a.approver} for {a.stage.value}" for a in self.approvals]),
            ("deployments", [f"{d.endpoint} {d.traffic_percent}%" for d in self.deployments if not d.undeployed_at]),
            ("annotations", self.annotations),
        ]
        shown = [(field, value) for field, value in rows if value not in (None, "", (), [], {})]
        return html_tables.table(["field", "value"], shown, caption=f"{self.model_name} {self.version}")


class HistoryAction(StrEnum):
    """Kinds of entry in a model's history."""

    REGISTERED = "registered"
    STAGE_CHANGED = "stage_changed"
    APPROVED = "approved"
    PROMOTION_REQUESTED = "promotion_requested"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"
    ANNOTATED = "annotated"
    DEPLOYED = "deployed"
    UNDEPLOYED = "undeployed"
    MONITORED = "monitored"


class HistoryEntry(Record):
    """One line of a model's append-only history.

    Attributes:
        id: Unique id of the entry.
        at: When.
        actor: Who.
        action: What kind of change.
        version: Version concerned.
        from_stage: Stage before (stage changes).
        to_stage: Stage after (stage changes, approvals).
        reason: Why, as given by the actor.
        details: Anything else worth keeping, as strings.
        principal: The authenticated identity (a Google account) that made the change on behalf of `actor`, when
            it is not `actor` itself; "" otherwise.
    """

    id: str
    at: datetime
    actor: str
    action: HistoryAction
    version: str
    from_stage: ModelStage | None = None
    to_stage: ModelStage | None = None
    reason: str = ""
    details: dict[str, str] = Field(default_factory=dict)
    principal: str = ""


class HistoryList(list[HistoryEntry]):
    """A model's history: a plain list that Jupyter shows as a table, oldest first."""

    def _repr_html_(self) -> str:
        """Return one HTML table row per entry."""
        columns = ["at", "actor", "action", "version", "from", "to", "reason", "details"]
        rows = [
            [e.at, f"{e.actor} (via {e.principal})" if e.principal else e.actor, e.action, e.version, e.from_stage,
             e.to_stage, e.reason, e.details]
            for e in self
        ]  # fmt: skip
        return html_tables.table(columns, rows)
