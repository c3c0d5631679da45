"""Endpoints: put versions on endpoints, shift traffic, roll back and run canaries, all recorded.

Every change goes to the target first (Vertex AI, or nothing for the local server), then into the endpoint's
record by compare-and-swap, then into the versions' metadata and history. The endpoint record is the truth about
what serves; a target that keeps its own state (Vertex AI) can drift from it when a client dies between the two
steps, so `reconcile` (also run before every deploy there) makes the record agree with the target again.
`ModelRegistry` exposes these operations; they reach the model documents only through the commit function it gives.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict

from registry_core.arguments import clean_annotations, validate_name
from registry_core.deploy import (
    DeployedModel,
    DeploymentTarget,
    EndpointEvent,
    EndpointList,
    EndpointRecord,
    open_target,
)
from registry_core.deploy.base import NEW_DEPLOYMENT, Prediction
from registry_core.deploy.canary import CanaryContext, HealthCheck, HealthReport, UserCheck, probe, run_user_check
from registry_core.deploy.reconcile import reconcile
from registry_core.deploy.traffic import check_percent, with_new, without
from registry_core.errors import (
    DeploymentError,
    EndpointNotFoundError,
    InvalidInputError,
    NotFoundError,
    VersionNotFoundError,
)
from registry_core.lifecycle import changes
from registry_core.lifecycle.changes import Commit
from registry_core.loading import verified_folder
from registry_core.metadata import HistoryAction, HistoryEntry, ModelMetadata, VersionDeployment, utc_now
from registry_core.model_store import ModelStore
from registry_core.storage.base import StorageBackend
from registry_core.store import DocumentStore, ModelRecord
from registry_core.text import shown
from registry_core.versioning import version_key

_SEMANTIC_VALUE = re.compile(r"v[0-9]+-[0-9]+-[0-9]+")  # "v1-2-0": a semantic label as a label value


class CanaryResult(BaseModel):
    """Outcome of a canary rollout.

    Attributes:
        promoted: True if the canary took all traffic, False if it was rolled back.
        report: What the health check saw.
        deployment: The canary's deployment.
        endpoint: The endpoint's record afterwards.
    """

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    promoted: bool
    report: HealthReport
    deployment: DeployedModel
    endpoint: EndpointRecord


class ReconcileResult(BaseModel):
    """Outcome of reconciling an endpoint's record with its target.

    Attributes:
        endpoint: The endpoint's record afterwards.
        changes: The history events that reconciling added (none if the record already agreed).
    """

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    endpoint: EndpointRecord
    changes: tuple[EndpointEvent, ...] = ()


class Endpoints:
    """The endpoint operations of one registry: deploy, undeploy, traffic, canary, reconcile, recorded.

    Args:
        storage: The registry's backend (targets read verified artifacts from it).
        models: The model documents (read for the registered versions an endpoint may serve).
        records: The endpoint documents.
        commit: Applies a change to a model's document by compare-and-swap (``ModelRegistry.commit``), for the
            versions' mirror of where they serve.
        principal: Returns the authenticated identity that writes (kept beside the actor it acts for), or None.
    """

    def __init__(
        self,
        storage: StorageBackend,
        models: ModelStore,
        records: DocumentStore[EndpointRecord],
        commit: Commit,
        principal: Callable[[], str | None],
    ) -> None:
        self.storage = storage
        self.models = models
        self.records = records
        self.commit = commit
        self.principal = principal
        self._local: DeploymentTarget | None = None  # kept: its runtimes hold the loaded models between predicts

    # ------------------------------------------------------------------------------------------- reading

    def list_endpoints(self) -> EndpointList:
        """Return every endpoint's record, by name."""
        return EndpointList(r for name in self.records.names() if (r := self.records.get(name)) is not None)

    def get_endpoint(self, endpoint_name: str) -> EndpointRecord:
        """Return an endpoint's record. Raises: EndpointNotFoundError."""
        record = self.records.get(endpoint_name)
        if record is None:
            msg = f"endpoint {endpoint_name!r} does not exist; deploy a model to it first"
            raise EndpointNotFoundError(msg)
        return record

    def target_for(self, record: EndpointRecord) -> DeploymentTarget:
        """Return the target that serves `record` (one local target per registry, so models load once)."""
        if record.target == "local" and not record.target_settings:
            if self._local is None:
                self._local = open_target("local", {}, self.storage)
            return self._local
        return open_target(record.target, dict(record.target_settings), self.storage)

    def predict(self, endpoint_name: str, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        """Predict on an endpoint (routed by its split) or on one of its deployed models."""
        record = self.get_endpoint(endpoint_name)
        return self.target_for(record).predict(record, instances, deployed_id)

    def flush_prediction_logs(self, timeout: float | None = None) -> bool:
        """Write now what this process's predictions on local endpoints left to log; True if all were written."""
        flush = getattr(self._local, "flush_logs", None)
        return bool(flush(timeout)) if flush is not None else True

    # ------------------------------------------------------------------------------------------- changes

    def deploy(
        self,
        metadata: ModelMetadata,
        endpoint_name: str,
        *,
        target: str | DeploymentTarget,
        traffic_percent: int,
        actor: str,
        settings: Mapping[str, Any],
        reason: str = "",
    ) -> tuple[DeployedModel, EndpointRecord]:
        """Deploy a verified version with `traffic_percent` of the traffic; at 100 the others are undeployed.

        Raises:
            InvalidInputError: bad percent, or the endpoint exists on another target.
            ArtifactIntegrityError: the artifacts do not match their manifest.
            DeploymentError: the target failed.
        """
        percent = check_percent(traffic_percent)
        validate_name(endpoint_name, "endpoint")
        kind = target if isinstance(target, str) else target.kind
        existing = self.records.get(endpoint_name)
        if existing is not None and existing.target != kind:
            msg = f"endpoint {endpoint_name!r} is a {existing.target} endpoint, not {kind}"
            raise InvalidInputError(msg)
        merged = dict(existing.target_settings if existing else {}) | dict(settings)
        runner = target if isinstance(target, DeploymentTarget) else open_target(kind, merged, self.storage)
        merged = runner.recorded_settings(merged)
        runner.check_deployable(metadata)
        # First record what the target serves that the record lacks (e.g. this very deploy, by a client that died
        # before recording it), so that a retry finds it below instead of deploying a second copy.
        fresh = EndpointRecord(name=endpoint_name, target=kind, target_settings=merged, created_at=utc_now())
        reconciled = self._reconcile(existing or fresh, runner, actor)
        if existing is not None or reconciled.changes or reconciled.endpoint.target_ref:
            existing = reconciled.endpoint
        if existing is not None and merged == existing.target_settings:  # no new settings (or the same again)
            same = [
                d for d in existing.active() if (d.model_name, d.version) == (metadata.model_name, metadata.version)
            ]
            if same:  # already deployed there: change its share instead of deploying a second copy
                return self._reweigh(existing, same[-1], percent, actor, reason)
        base = existing or fresh
        # Verified even when the target reads the artifacts itself (Vertex): never deploy a silently different model.
        verified = verified_folder(self.storage, metadata)
        artifacts = verified if runner.needs_local_artifacts() else None
        runner.use_registry(self.storage.uri)  # where its serving containers log predictions
        result = runner.deploy(base, metadata, artifacts, with_new(base.traffic, NEW_DEPLOYMENT, percent))
        deployment = DeployedModel(
            id=result.deployed_id, model_name=metadata.model_name, version=metadata.version,
            artifact_digest=metadata.artifact_digest, artifact_uri=metadata.artifact_uri, deployed_by=actor,
            deployed_at=utc_now(), target_ref=result.target_ref, image=result.image,
        )  # fmt: skip

        def add(current: EndpointRecord | None) -> EndpointRecord:
            current = current or base
            traffic = with_new(current.traffic, deployment.id, percent)
            event = self._event(actor, "deployed", deployment, traffic, reason)
            return current.model_copy(
                update={
                    "deployments": (*current.deployments, deployment),
                    "traffic": traffic,
                    "target_settings": merged,
                    "target_ref": current.target_ref or result.endpoint_ref,
                    "history": (*current.history, event),
                }
            )

        record = self.records.update(endpoint_name, add)
        if percent == 100:
            record = self._retire_others(record, deployment.id, runner, actor, f"replaced by {_label(deployment)}")
        self.sync_models(record, actor)
        return deployment, record

    def reconcile(
        self, endpoint_name: str, *, actor: str, target: str | None = None, settings: Mapping[str, Any] | None = None
    ) -> ReconcileResult:
        """Make the endpoint's record agree with what its target serves, recording each difference.

        Deployed models the target has and the record lacks (e.g. a deploy whose client died before recording it)
        become recorded deployments of the registry version they are; recorded ones the target no longer has
        become undeployed; the traffic split becomes the target's. Targets without state of their own (the local
        server) always agree. An endpoint without a record (its first deploy never got recorded) is reconciled
        with `target` and `settings` (e.g. "vertex", {"project": ..., "location": ...}).

        Raises:
            EndpointNotFoundError: no record and no target settings, or the target has no such endpoint either.
            DeploymentError: the target failed, or serves models that are no registry versions.
        """
        validate_name(endpoint_name, "endpoint")
        record = self.records.get(endpoint_name)
        if record is None:
            if target is None or not settings:
                msg = (
                    f"endpoint {endpoint_name!r} has no record; to adopt what a deploy left on its target, "
                    "give the target and its settings (e.g. --target vertex --project P --region R)"
                )
                raise EndpointNotFoundError(msg)
            record = EndpointRecord(
                name=endpoint_name, target=target, target_settings=dict(settings), created_at=utc_now()
            )
            result = self._reconcile(record, open_target(target, dict(settings), self.storage), actor)
            if not result.endpoint.target_ref:
                msg = f"endpoint {endpoint_name!r} has no record, and {target} has no endpoint of that name either"
                raise EndpointNotFoundError(msg)
            return result
        return self._reconcile(record, self.target_for(record), actor)

    def _reconcile(self, record: EndpointRecord, runner: DeploymentTarget, actor: str) -> ReconcileResult:
        """Reconcile `record` (perhaps not stored yet) with `runner`; store and mirror the changes, if any."""
        observed = runner.observe(record, self._version)
        if observed is None:
            return ReconcileResult(endpoint=record)
        if not reconcile(record, observed, actor).changed and observed.endpoint_ref == record.target_ref:
            return ReconcileResult(endpoint=record)  # checked first: nothing to write
        added: list[EndpointEvent] = []

        def apply(current: EndpointRecord | None) -> EndpointRecord:
            result = reconcile(current or record, observed, actor)  # again on fresh state, if the write retries
            added[:] = result.events
            return result.record

        updated = self.records.update(record.name, apply)
        self.sync_models(updated, actor)
        return ReconcileResult(endpoint=updated, changes=tuple(added))

    def _version(self, model_name: str, label_value: str) -> ModelMetadata | None:
        """The registered version a target names by its label value ("v3", "v1-2-0"), or None if there is none."""
        label = label_value.replace("-", ".") if _SEMANTIC_VALUE.fullmatch(label_value) else label_value
        try:
            return self.models.version(model_name, label)
        except (NotFoundError, InvalidInputError):
            return None

    def set_traffic(
        self, endpoint_name: str, traffic: Mapping[str, int], *, actor: str, reason: str = "", action: str = "traffic"
    ) -> EndpointRecord:
        """Apply a split over the endpoint's deployed models (ids -> percent, summing to 100).

        Raises:
            InvalidInputError: the split does not sum to 100 or names models not deployed there.
        """
        record = self.get_endpoint(endpoint_name)
        split = _check_split(record, traffic)
        runner = self.target_for(record)
        runner.set_traffic(record, split)

        def apply(current: EndpointRecord | None) -> EndpointRecord:
            current = current or record
            _check_split(current, split)
            event = EndpointEvent(
                id=uuid.uuid4().hex, at=utc_now(), actor=actor, action=action, traffic=split, reason=reason,
                principal=self._principal_for(actor),
            )  # fmt: skip
            return current.model_copy(update={"traffic": split, "history": (*current.history, event)})

        updated = self.records.update(endpoint_name, apply)
        self.sync_models(updated, actor)
        return updated

    def undeploy(self, endpoint_name: str, deployed_id: str, *, actor: str, reason: str = "") -> EndpointRecord:
        """Stop serving one deployed model; the others share its traffic in their proportions."""
        record = self.get_endpoint(endpoint_name)
        updated = self._undeploy(record, deployed_id, self.target_for(record), actor, reason)
        self.sync_models(updated, actor)
        return updated

    def restore(
        self, endpoint_name: str, metadata: ModelMetadata, *, actor: str, reason: str
    ) -> tuple[DeployedModel, EndpointRecord]:
        """Put `metadata`'s version back to 100% on the endpoint, redeploying it if it was undeployed."""
        record = self.get_endpoint(endpoint_name)
        kept = [d for d in record.active() if (d.model_name, d.version) == (metadata.model_name, metadata.version)]
        if not kept:
            return self.deploy(
                metadata, endpoint_name, target=record.target, traffic_percent=100, actor=actor, settings={},
                reason=reason,
            )  # fmt: skip
        chosen = kept[-1]
        split = {d.id: 0 for d in record.active()} | {chosen.id: 100}
        updated = self.set_traffic(endpoint_name, split, actor=actor, reason=reason, action="rolled_back")
        updated = self._retire_others(updated, chosen.id, self.target_for(updated), actor, reason)
        self.sync_models(updated, actor)
        return chosen, updated

    def canary(
        self,
        metadata: ModelMetadata,
        endpoint_name: str,
        *,
        canary_percent: int,
        check: HealthCheck | UserCheck,
        target: str | DeploymentTarget,
        actor: str,
        settings: Mapping[str, Any],
    ) -> CanaryResult:
        """Deploy with `canary_percent` of the traffic, check health, then complete the rollout or roll it back.

        Raises:
            InvalidInputError: nothing serves on the endpoint yet (a canary needs a baseline), or the percent is
                not between 1 and 99.
        """
        percent = check_percent(canary_percent, "canary_percent")
        if percent == 100:
            msg = "canary_percent must be below 100 (use a plain deploy for 100%)"
            raise InvalidInputError(msg)
        existing = self.records.get(endpoint_name)
        if existing is None or not existing.serving():
            msg = f"nothing serves on endpoint {endpoint_name!r} yet; a canary needs a version to fall back to"
            raise InvalidInputError(msg)
        deployment, record = self.deploy(
            metadata, endpoint_name, target=target, traffic_percent=percent, actor=actor, settings=settings,
            reason=f"canary at {percent}%",
        )  # fmt: skip
        runner = target if isinstance(target, DeploymentTarget) else self.target_for(record)
        context = CanaryContext(
            endpoint_name=endpoint_name, deployed_id=deployment.id, model_name=metadata.model_name,
            version=metadata.version, predict=lambda instances: runner.predict(record, instances, deployment.id),
        )  # fmt: skip
        report = probe(check, context) if isinstance(check, HealthCheck) else run_user_check(check, context)
        if report.healthy:
            split = {d.id: 0 for d in record.active()} | {deployment.id: 100}
            record = self.set_traffic(endpoint_name, split, actor=actor, reason=report.reason, action="canary_promoted")
            record = self._retire_others(record, deployment.id, runner, actor, f"canary {_label(deployment)} promoted")
        else:
            record = self._undeploy(record, deployment.id, runner, actor, report.reason, action="canary_rolled_back")
        self.sync_models(record, actor)
        outcome = "promoted" if report.healthy else "rolled back"
        notes = clean_annotations({"canary": f"{outcome} on {endpoint_name}: {report.reason}"})
        name, version = metadata.model_name, metadata.version
        self.commit(name, partial(_annotated, model_name=name, version=version, notes=notes, actor=actor))
        return CanaryResult(promoted=report.healthy, report=report, deployment=deployment, endpoint=record)

    # ------------------------------------------------------------------------------------------- helpers

    def _reweigh(
        self, record: EndpointRecord, deployment: DeployedModel, percent: int, actor: str, reason: str
    ) -> tuple[DeployedModel, EndpointRecord]:
        split = {d.id: 0 for d in record.active()} | with_new(record.traffic, deployment.id, percent)
        updated = record
        if _positive(split) != _positive(record.traffic):  # the same share again (e.g. a retried deploy): no change
            updated = self.set_traffic(
                record.name, split, actor=actor, reason=reason or f"{_label(deployment)} to {percent}%"
            )
        if percent == 100:
            updated = self._retire_others(updated, deployment.id, self.target_for(updated), actor, reason)
            self.sync_models(updated, actor)
        return deployment, updated

    def _retire_others(
        self, record: EndpointRecord, keep: str, runner: DeploymentTarget, actor: str, reason: str
    ) -> EndpointRecord:
        for other in record.active():
            if other.id != keep:
                record = self._undeploy(record, other.id, runner, actor, reason)
        return record

    def _undeploy(
        self,
        record: EndpointRecord,
        deployed_id: str,
        runner: DeploymentTarget,
        actor: str,
        reason: str,
        action: str = "undeployed",
    ) -> EndpointRecord:
        try:
            gone = record.deployment(deployed_id)
        except KeyError:
            msg = f"endpoint {shown(record.name)} has no deployed model {shown(deployed_id)}"
            raise InvalidInputError(msg) from None
        if gone.undeployed_at is not None:
            return record
        remaining = {d.id for d in record.active()} - {deployed_id}
        if not remaining and record.traffic.get(deployed_id, 0) > 0 and action != "undeployed":
            msg = f"undeploying {shown(deployed_id)} would leave endpoint {shown(record.name)} with nothing to serve"
            raise DeploymentError(msg)
        runner.undeploy(record, deployed_id, without(record.traffic, deployed_id))

        def mark(current: EndpointRecord | None) -> EndpointRecord:
            current = current or record
            target = current.deployment(deployed_id)
            if target.undeployed_at is not None:
                return current
            done = target.model_copy(update={"undeployed_at": utc_now()})
            traffic = without(current.traffic, deployed_id)
            event = self._event(actor, action, target, traffic, reason)
            deployments = tuple(done if d.id == deployed_id else d for d in current.deployments)
            return current.model_copy(
                update={"deployments": deployments, "traffic": traffic, "history": (*current.history, event)}
            )

        return self.records.update(record.name, mark)

    def _principal_for(self, actor: str) -> str:
        """The authenticated identity acting on behalf of `actor`, if it is someone else ("" otherwise)."""
        principal = self.principal()
        return principal if principal and principal != actor else ""

    def _event(
        self, actor: str, action: str, deployment: DeployedModel, traffic: dict[str, int], reason: str
    ) -> EndpointEvent:
        return EndpointEvent(
            id=uuid.uuid4().hex, at=utc_now(), actor=actor, action=action, model_name=deployment.model_name,
            version=deployment.version, traffic=traffic, reason=reason, principal=self._principal_for(actor),
        )  # fmt: skip

    def sync_models(self, record: EndpointRecord, actor: str) -> None:
        """Mirror the endpoint's deployments into each version's metadata, with DEPLOYED/UNDEPLOYED history."""
        for model_name in sorted({d.model_name for d in record.deployments}):
            self.commit(model_name, partial(_mirror, model_name=model_name, endpoint=record, actor=actor))


def _annotated(
    current: ModelRecord | None, model_name: str, version: str, notes: dict[str, str], actor: str
) -> ModelRecord:
    return changes.annotate(changes.registered(current, model_name), version, notes, actor=actor)


def _mirror(current: ModelRecord | None, model_name: str, endpoint: EndpointRecord, actor: str) -> ModelRecord:
    if current is None:
        msg = f"model {model_name!r} deployed on {endpoint.name!r} is no longer registered"
        raise DeploymentError(msg)
    ours = [d for d in endpoint.deployments if d.model_name == model_name]
    changed: list[ModelMetadata] = []
    entries: list[HistoryEntry] = []
    for label in sorted({d.version for d in ours}, key=version_key):
        try:
            metadata = current.get(label)
        except VersionNotFoundError:
            continue
        mine = [d for d in ours if d.version == label]
        before = {d.deployed_model_id: d for d in metadata.deployments if d.endpoint == endpoint.name}
        others = tuple(d for d in metadata.deployments if d.endpoint != endpoint.name)
        mirrored = tuple(
            VersionDeployment(
                endpoint=endpoint.name,
                target=endpoint.target,
                traffic_percent=endpoint.traffic.get(d.id, 0),
                deployed_by=d.deployed_by,
                deployed_at=d.deployed_at,
                deployed_model_id=d.id,
                undeployed_at=d.undeployed_at,
            )  # fmt: skip
            for d in mine
        )
        for deployment in mirrored:
            old = before.get(deployment.deployed_model_id)
            if old is None:
                entries.append(_history(actor, HistoryAction.DEPLOYED, metadata.version, endpoint, deployment))
            elif old.undeployed_at is None and deployment.undeployed_at is not None:
                entries.append(_history(actor, HistoryAction.UNDEPLOYED, metadata.version, endpoint, deployment))
        if others + mirrored != metadata.deployments:
            changed.append(metadata.model_copy(update={"deployments": others + mirrored}))
    if not changed:
        return current
    return current.with_versions(*changed).with_history(*entries)


def _history(
    actor: str, action: HistoryAction, version: str, endpoint: EndpointRecord, deployment: VersionDeployment
) -> HistoryEntry:
    details = {
        "endpoint": endpoint.name,
        "target": endpoint.target,
        "deployed_model_id": deployment.deployed_model_id,
        "traffic_percent": str(deployment.traffic_percent),
    }
    last = endpoint.history[-1] if endpoint.history else None
    return HistoryEntry(
        id=uuid.uuid4().hex, at=utc_now(), actor=actor, action=action, version=version,
        reason=last.reason if last else "", details=details,
    )  # fmt: skip


def _check_split(record: EndpointRecord, traffic: Mapping[str, int]) -> dict[str, int]:
    if not isinstance(traffic, Mapping):
        msg = f"a traffic split maps deployed model ids to percents, got {type(traffic).__name__}"
        raise InvalidInputError(msg)
    split = {str(k): v for k, v in traffic.items()}
    active = {d.id for d in record.active()}
    if unknown := sorted(set(split) - active):
        msg = f"endpoint {record.name!r} has no deployed models {shown(unknown)}; deployed: {sorted(active)}"
        raise InvalidInputError(msg)
    if (
        any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in split.values())
        or sum(split.values()) != 100
    ):
        msg = f"a traffic split needs non-negative integer percents summing to 100, got {shown(split)}"
        raise InvalidInputError(msg)
    return split


def _label(deployment: DeployedModel) -> str:
    return f"{deployment.model_name} {deployment.version}"


def _positive(traffic: Mapping[str, int]) -> dict[str, int]:
    return {k: v for k, v in traffic.items() if v > 0}
