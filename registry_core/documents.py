"""The stored documents of the per-version layout: version files, version states, the head, index chunks, segments.

A version's `ModelMetadata` is two parts stored apart: its `VersionFacts` (everything fixed at registration, the
version file, written once) and its `VersionState` (stage, approvals, requests, deployments, notes: what changes).
The model's `ModelHead` holds the state of a small working set of versions (`HotVersion`: the most recent ones and
every stage holder), the newest history and the stage holders, so that one compare-and-swap of it changes several
versions and writes their history at once. A version that leaves the working set keeps its state in a state file
of its own and its listing row in an `IndexChunk`; history leaves in sealed `HistorySegment`s. Nothing in the head
grows with the number of versions or the length of the history.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from registry_core import html_tables
from registry_core.metadata import (
    Approval,
    ArtifactUri,
    FileEntry,
    HistoryEntry,
    Lineage,
    ModelMetadata,
    ModelPerformance,
    ModelStage,
    ParamValue,
    PromotionRequest,
    Record,
    SchemaChecked,
    StageChange,
    VersionDeployment,
)
from registry_core.versioning import VersioningStrategy

LAYOUT_VERSION = 2  # the per-version layout; 1 was one document per model
IDEMPOTENCY_KEY = "idempotency_key"  # the lineage extra that names a registration
_BRIEF_DESCRIPTION = 200  # characters of a description a listing row keeps
TRACKED_STAGES = (ModelStage.PRODUCTION, ModelStage.STAGING)  # the stages whose holders history replays


class _Document(SchemaChecked):
    """A stored document of the per-version layout."""


class VersionFacts(_Document):
    """Everything about a version that is fixed at registration: the content of its version file.

    Attributes are those of `ModelMetadata` with the same names.
    """

    model_id: str
    model_name: str
    version: str
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


class VersionState(Record):
    """What changes about a version after registration.

    Attributes:
        stage: Its lifecycle stage.
        approvals: Approvals given to it.
        promotion_requests: Requests to promote it, pending or decided.
        stage_history: Every stage change, oldest first.
        deployments: Where it serves or served.
        annotations: Notes added after registration.
        added_metrics: Metrics added after registration (validation's holdout metrics, annotations).
        revision: The head revision that last changed it: of two copies, the higher one is newer.
    """

    stage: ModelStage = ModelStage.DEVELOPMENT
    approvals: tuple[Approval, ...] = ()
    promotion_requests: tuple[PromotionRequest, ...] = ()
    stage_history: tuple[StageChange, ...] = ()
    deployments: tuple[VersionDeployment, ...] = ()
    annotations: dict[str, str] = Field(default_factory=dict)
    added_metrics: ModelPerformance = Field(default_factory=ModelPerformance)
    revision: int = 0

    def same_as(self, other: VersionState) -> bool:
        """Whether the two states say the same (their revisions aside)."""
        return self.model_copy(update={"revision": 0}) == other.model_copy(update={"revision": 0})


class VersionBrief(Record):
    """The few facts of a version that listings show and lifecycle rules read (kept in the head and the index).

    Attributes:
        ordinal: Its place in registration order, 1 for the first (its index chunk follows from it).
        model_id: Its unique id.
        version: Its label.
        artifact_uri: Its artifact folder.
        artifact_digest: Digest of its artifacts.
        registered_by: Who registered it.
        registered_at: When.
        tags: Its labels.
        framework: e.g. "tensorflow".
        metrics: Its metrics at registration.
        description: The first 200 characters of its description.
        idempotency_key: The key it was registered under by a pipeline task, if any.
    """

    ordinal: int
    model_id: str
    version: str
    artifact_uri: ArtifactUri
    artifact_digest: str
    registered_by: str
    registered_at: datetime
    tags: tuple[str, ...] = ()
    framework: str | None = None
    metrics: ModelPerformance = Field(default_factory=ModelPerformance)
    description: str = ""
    idempotency_key: str | None = None


class HotVersion(Record):
    """A version in the head's working set: its brief and its current state."""

    brief: VersionBrief
    state: VersionState


class ColdVersion(Record):
    """The state file of a version outside the working set: its brief, its state and a copy of its facts.

    The copy makes reading such a version one file (and promoting it one read before the head's write); the version
    file stays the one written at registration, and `check` holds the two to the same facts.
    """

    brief: VersionBrief
    state: VersionState
    facts: VersionFacts


class ModelHead(_Document):
    """A model's head: the one document every change of the model rewrites by compare-and-swap.

    Attributes:
        schema_version: Record schema.
        layout: `LAYOUT_VERSION`.
        name: Model name.
        created_at: When its first version was registered.
        versioning: The strategy of its labels.
        revision: Counts the head's writes; stamped on every version state a write changes.
        next_ordinal: The ordinal the next registered version gets.
        latest: The highest label (by version order), or None.
        hot: The working set: label -> brief and state.
        frozen_upto: The highest ordinal that ever left the working set (index chunks exist up to its chunk).
        frozen_top: The highest label that ever left the working set: a version of the working set labelled higher
            is the highest of its stage without a look at the index (labels need not follow registration order).
        tail: The newest history entries, oldest first.
        segments: How many sealed history segments precede the tail.
        holders_at_tail: The versions in production and staging just before the tail's first entry.
        trail_at_tail: The production holders a rollback may return to, just before the tail's first entry.
    """

    layout: int = LAYOUT_VERSION
    name: str
    created_at: datetime
    versioning: VersioningStrategy
    revision: int = 0
    next_ordinal: int = 1
    latest: str | None = None
    hot: dict[str, HotVersion] = Field(default_factory=dict)
    frozen_upto: int = 0
    frozen_top: str | None = None
    tail: tuple[HistoryEntry, ...] = ()
    segments: int = 0
    holders_at_tail: dict[ModelStage, tuple[str, ...]] = Field(default_factory=dict)
    trail_at_tail: tuple[str, ...] = ()


class IndexRow(Record):
    """A listing row of a version that left the working set."""

    brief: VersionBrief
    stage: ModelStage
    added_metrics: ModelPerformance = Field(default_factory=ModelPerformance)
    revision: int = 0


class IndexChunk(_Document):
    """Listing rows of up to 1,000 versions (by ordinal) that left the working set."""

    rows: dict[str, IndexRow] = Field(default_factory=dict)


class HistorySegment(_Document):
    """Sealed history: consecutive entries and who held production and staging just before the first one."""

    seq: int
    entries: tuple[HistoryEntry, ...]
    holders_at_start: dict[ModelStage, tuple[str, ...]] = Field(default_factory=dict)


class VersionSummary(Record):
    """One row of a model's version listing (what `ModelRegistry.list_versions` returns).

    Attributes:
        model_name: The model.
        version: Its label.
        stage: Its current stage.
        metrics: Its metrics, those added after registration included.
        tags: Its labels.
        framework: e.g. "tensorflow".
        registered_by: Who registered it.
        registered_at: When.
        artifact_digest: Digest of its artifacts.
        description: The first 200 characters of its description.
    """

    model_name: str
    version: str
    stage: ModelStage
    metrics: ModelPerformance = Field(default_factory=ModelPerformance)
    tags: tuple[str, ...] = ()
    framework: str | None = None
    registered_by: str
    registered_at: datetime
    artifact_digest: str
    description: str = ""


class AsOf(Record):
    """What held a model's stages and served it on endpoints at one moment (`ModelRegistry.as_of`).

    Attributes:
        model_name: The model.
        at: The moment.
        stages: The versions in production and in staging then (a stage nobody held is absent).
        endpoints: Endpoint name -> version -> percent of its traffic, for the endpoints that served the model then.
    """

    model_name: str
    at: datetime
    stages: dict[ModelStage, list[str]] = Field(default_factory=dict)
    endpoints: dict[str, dict[str, int]] = Field(default_factory=dict)


class VersionList(list[VersionSummary]):
    """Listing rows of a model's versions: a plain list that Jupyter shows as a table (stage, metrics, who, when)."""

    def _repr_html_(self) -> str:
        """Return one HTML table row per version, with a column per metric."""
        metrics = list(dict.fromkeys(name for m in self for name in m.metrics.as_dict()))
        columns = ["version", "stage", *metrics, "tags", "registered by", "registered at", "description"]
        rows = [
            [
                m.version,
                m.stage,
                *(m.metrics.as_dict().get(name) for name in metrics),
                m.tags,
                m.registered_by,
                m.registered_at,
                m.description,
            ]
            for m in self
        ]
        names = list(dict.fromkeys(m.model_name for m in self))
        return html_tables.table(columns, rows, caption=", ".join(names))


# ------------------------------------------------------------------------------------------- conversions


_NO_METRICS = ModelPerformance()


def merged_metrics(base: ModelPerformance, added: ModelPerformance) -> ModelPerformance:
    """Return `base` with `added` on top."""
    if added == _NO_METRICS:
        return base
    return ModelPerformance.from_mapping(base.as_dict() | added.as_dict())


def compose(facts: VersionFacts, state: VersionState) -> ModelMetadata:
    """Return the whole metadata of a version from its facts and its state."""
    return ModelMetadata(
        schema_version=facts.schema_version, model_id=facts.model_id, model_name=facts.model_name,
        version=facts.version, stage=state.stage, description=facts.description, tags=facts.tags,
        framework=facts.framework, metrics=merged_metrics(facts.metrics, state.added_metrics), params=facts.params,
        lineage=facts.lineage, artifact_uri=facts.artifact_uri, artifact_manifest=facts.artifact_manifest,
        artifact_digest=facts.artifact_digest, registered_by=facts.registered_by, registered_at=facts.registered_at,
        approvals=state.approvals, promotion_requests=state.promotion_requests, stage_history=state.stage_history,
        deployments=state.deployments, annotations=state.annotations,
    )  # fmt: skip


def facts_of(metadata: ModelMetadata) -> VersionFacts:
    """Return the facts of a version as registered (its metadata before any change)."""
    return VersionFacts(
        schema_version=metadata.schema_version, model_id=metadata.model_id, model_name=metadata.model_name,
        version=metadata.version, description=metadata.description, tags=metadata.tags, framework=metadata.framework,
        metrics=metadata.metrics, params=metadata.params, lineage=metadata.lineage, artifact_uri=metadata.artifact_uri,
        artifact_manifest=metadata.artifact_manifest, artifact_digest=metadata.artifact_digest,
        registered_by=metadata.registered_by, registered_at=metadata.registered_at,
    )  # fmt: skip


def state_of(metadata: ModelMetadata, registered_metrics: ModelPerformance, revision: int = 0) -> VersionState:
    """Return the state part of `metadata`, given the metrics it was registered with."""
    base = registered_metrics.as_dict()
    added = {k: v for k, v in metadata.metrics.as_dict().items() if base.get(k) != v}
    return VersionState(
        stage=metadata.stage, approvals=metadata.approvals, promotion_requests=metadata.promotion_requests,
        stage_history=metadata.stage_history, deployments=metadata.deployments, annotations=metadata.annotations,
        added_metrics=ModelPerformance.from_mapping(added), revision=revision,
    )  # fmt: skip


def brief_of(facts: VersionFacts, ordinal: int) -> VersionBrief:
    """Return the brief of a version."""
    description = facts.description
    if len(description) > _BRIEF_DESCRIPTION:
        description = description[: _BRIEF_DESCRIPTION - 1] + "…"
    return VersionBrief(
        ordinal=ordinal, model_id=facts.model_id, version=facts.version, artifact_uri=facts.artifact_uri,
        artifact_digest=facts.artifact_digest, registered_by=facts.registered_by, registered_at=facts.registered_at,
        tags=facts.tags, framework=facts.framework, metrics=facts.metrics, description=description,
        idempotency_key=facts.lineage.extra.get(IDEMPOTENCY_KEY),
    )  # fmt: skip


def sketch(model_name: str, brief: VersionBrief, state: VersionState) -> ModelMetadata:
    """Return a version's metadata as far as its brief tells: enough for every lifecycle rule, not for loading.

    Its manifest and params are empty and its description is cut: the working record of a change holds such
    sketches of the versions it does not read in full, and the store never writes facts back from them.
    """
    extra = {IDEMPOTENCY_KEY: brief.idempotency_key} if brief.idempotency_key else {}
    return ModelMetadata(
        model_id=brief.model_id, model_name=model_name, version=brief.version, stage=state.stage,
        description=brief.description, tags=brief.tags, framework=brief.framework,
        metrics=merged_metrics(brief.metrics, state.added_metrics), lineage=Lineage(extra=extra),
        artifact_uri=brief.artifact_uri, artifact_digest=brief.artifact_digest, registered_by=brief.registered_by,
        registered_at=brief.registered_at, approvals=state.approvals, promotion_requests=state.promotion_requests,
        stage_history=state.stage_history, deployments=state.deployments, annotations=state.annotations,
    )  # fmt: skip


def summary(model_name: str, brief: VersionBrief, stage: ModelStage, added: ModelPerformance) -> VersionSummary:
    """Return the listing row of a version."""
    return VersionSummary(
        model_name=model_name, version=brief.version, stage=stage, metrics=merged_metrics(brief.metrics, added),
        tags=brief.tags, framework=brief.framework, registered_by=brief.registered_by,
        registered_at=brief.registered_at, artifact_digest=brief.artifact_digest, description=brief.description,
    )  # fmt: skip


def replay_holders(
    holders: dict[ModelStage, tuple[str, ...]], entries: tuple[HistoryEntry, ...] | list[HistoryEntry]
) -> dict[ModelStage, tuple[str, ...]]:
    """Return who holds production and staging after `entries`, starting from `holders`."""
    current = {stage: list(holders.get(stage, ())) for stage in TRACKED_STAGES}
    for entry in entries:
        if entry.to_stage is None or entry.action.value not in ("stage_changed", "rolled_back", "registered"):
            continue
        for members in current.values():
            if entry.version in members:
                members.remove(entry.version)
        if entry.to_stage in current:
            current[entry.to_stage].append(entry.version)
    return {stage: tuple(members) for stage, members in current.items() if members}
