"""ModelRegistry: the façade that registers, resolves, promotes, approves, compares and rolls back versions."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from registry_core import layout
from registry_core.arguments import (
    artifact_folder,
    clean_actor,
    clean_annotations,
    clean_description,
    clean_framework,
    clean_lineage,
    clean_params,
    clean_tags,
    detect_framework,
    refuse_overlap,
    validate_name,
)
from registry_core.comparison import ModelComparison, compare
from registry_core.config import USER_ENV, RegistryConfig, current_user
from registry_core.deploy import DeployedModel, DeploymentTarget, EndpointList, EndpointRecord, Prediction
from registry_core.deploy.canary import HealthCheck, UserCheck
from registry_core.documents import AsOf, VersionList
from registry_core.endpoints import CanaryResult, Endpoints, ReconcileResult
from registry_core.errors import (
    CorruptRecordError,
    InvalidInputError,
    ModelNotFoundError,
    RegistryRootNotFoundError,
)
from registry_core.lifecycle import approvals, changes, promotion, rollback
from registry_core.lifecycle.changes import Change
from registry_core.maintenance import CheckReport, run_check
from registry_core.metadata import (
    HistoryAction,
    HistoryEntry,
    HistoryList,
    Lineage,
    ModelMetadata,
    ModelPerformance,
    ModelStage,
    PromotionRequest,
)
from registry_core.model_store import HeadRead, ModelStore
from registry_core.quality import ValidationDecision
from registry_core.registration import Registrar, Submission, keyed_lineage
from registry_core.storage import StorageBackend, open_storage
from registry_core.storage.transfer import Progress
from registry_core.store import DocumentStore, ModelRecord
from registry_core.text import shown
from registry_core.versioning import check_bump, normalize_version

if TYPE_CHECKING:  # NumPy and the protobuf modules load only when a profile is read
    from registry_core.monitoring.policy import MonitorPolicy
    from registry_core.monitoring.profile import DataProfile
    from registry_core.monitoring.run_result import MonitorResult

Listener = Callable[[str, HistoryEntry], None]
T = TypeVar("T")

logger = logging.getLogger(__name__)


class ModelRegistry:
    """A model registry on one storage root (local folder or GCS).

    Every change is one shape: check the arguments, apply a pure change of the model's record (the rules live in
    `registry_core.lifecycle`) through `commit`, return the result.

    Args:
        config: Where the registry lives and its policies; defaults to the embedded local registry.
        storage: A backend to use instead of the one `config.root_uri` names (tests, custom clients).

    Attributes:
        endpoints: The endpoint operations (records, targets, traffic) behind deploy_model, set_traffic and the like.
    """

    def __init__(self, config: RegistryConfig | None = None, *, storage: StorageBackend | None = None) -> None:
        self.config = config or RegistryConfig()
        self.storage = storage or open_storage(self.config.root_uri, project=self.config.project_id)
        self.store = ModelStore(self.storage)
        self._listeners: list[Listener] = []
        self._policy = approvals.ApprovalPolicy(
            frozenset(self.config.approval_required_stages), self.config.enforce_four_eyes
        )
        self._registrar = Registrar(self.storage, self.store, self.commit, self.config.versioning)
        endpoint_records = DocumentStore(self.storage, EndpointRecord, layout.ENDPOINTS)
        self.endpoints = Endpoints(self.storage, self.store, endpoint_records, self.commit, self.principal)

    @classmethod
    def from_uri(cls, uri: str | None = None, **settings: Any) -> ModelRegistry:
        """Open the registry at `uri` (None: the default root), with other RegistryConfig settings."""
        return cls(RegistryConfig(root=uri, **settings))

    def __repr__(self) -> str:
        return f"ModelRegistry({self.storage.uri!r})"

    # ----------------------------------------------------------------------------------------- registration

    def register_model(
        self,
        model_name: str,
        artifact_path: str | os.PathLike[str],
        *,
        metrics: ModelPerformance | Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        description: str = "",
        tags: Iterable[str] = (),
        framework: str | None = None,
        lineage: Lineage | Mapping[str, Any] | None = None,
        registered_by: str | None = None,
        version: str | None = None,
        bump: str = "minor",
        reuse_existing: bool = False,
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> ModelMetadata:
        """Register a new version of `model_name` from a local artifact folder (or single file).

        The artifacts are uploaded first under a fresh key; the version becomes visible in one conditional
        write of the model's document, so readers see either no version or a complete one.

        What is stored is bounded so that it always reads back equal, with this library or any JSON reader:
        integers within ±(2**53 - 1), finite numbers, valid Unicode text, at most 10,000 characters of text per
        value and 1,000 params, metrics or training-data URIs, 100 tags (see `registry_core.bounds`).

        Args:
            model_name: Model to add a version to (created on first registration).
            artifact_path: Local folder (e.g. a SavedModel) or single file. `artifact_path` itself may be a
                symbolic link, but symbolic links inside the folder, to files or to folders alike, are refused
                with InvalidInputError naming the link (following one could register files from outside the
                folder; skipping one would register something other than the folder shows): copy the files in,
                e.g. with ``cp -rL``. Special files (FIFOs, sockets, devices) are refused too.
            metrics: Evaluation metrics (finite numbers, by name).
            params: Training parameters (strings, numbers, booleans or None).
            description: Free text.
            tags: Labels.
            framework: e.g. "tensorflow"; guessed from the files when omitted.
            lineage: Provenance (training data, pipeline run, code version).
            registered_by: Who registers; defaults to the current user.
            version: Explicit label (must be free and fit the model's strategy); default: the next one.
            bump: For semantic versioning: "major", "minor" or "patch".
            reuse_existing: If a version with identical artifacts exists, return it instead of adding one.
            idempotency_key: Names this registration (e.g. the pipeline task output it comes from), recorded in
                the lineage as ``extra["idempotency_key"]``: if a version with the same key and identical artifacts
                exists, it is returned instead of adding one, so a retried or re-run task registers once.
            progress: Called with the bytes of artifacts stored so far (from upload threads), e.g. for a progress bar.

        Returns:
            The metadata of the new (or reused) version.

        Raises:
            InvalidInputError: a malformed argument. VersionConflictError: `version` is taken.
        """
        name = validate_name(model_name)
        folder = artifact_folder(artifact_path)
        refuse_overlap(folder, self.storage.local_root())
        submission = Submission(
            name=name,
            folder=folder,
            metrics=ModelPerformance.from_mapping(metrics),
            params=clean_params(params),
            description=clean_description(description),
            tags=clean_tags(tags),
            lineage=keyed_lineage(clean_lineage(lineage), idempotency_key),
            framework=clean_framework(framework) if framework is not None else detect_framework(folder),
            registered_by=self._actor(registered_by),
            version=normalize_version(version) if version is not None else None,
            bump=check_bump(bump),
            reuse_existing=reuse_existing,
            idempotency_key=idempotency_key,
        )
        return self._registrar.register(submission, progress=progress)

    # -------------------------------------------------------------------------------------------- reading

    def list_models(self) -> list[str]:
        """Return the names of every registered model, sorted."""
        if not self.storage.root_exists():
            if self.config.uses_default_root:
                return []
            msg = f"registry root {self.storage.uri} does not exist"
            raise RegistryRootNotFoundError(msg)
        return self.store.list_models()

    def list_versions(self, model_name: str) -> VersionList:
        """Return a listing row of every version of `model_name`, ordered by label (a list; a table in Jupyter).

        Each row has the version's label, stage, metrics, tags, who registered it and when, its artifact digest and
        the start of its description; `get_model_metadata` gives one version in full. Listing reads the model's head
        and one index chunk per thousand older versions, however many versions there are.

        Raises:
            ModelNotFoundError: no such model.
        """
        return VersionList(self._reading(self.store.list_versions, model_name))

    def get_model_metadata(
        self, model_name: str, version: str | None = None, stage: ModelStage | str | None = None
    ) -> ModelMetadata:
        """Return one version's metadata: by label, by stage (its latest version there), or the latest overall.

        Raises:
            ModelNotFoundError, VersionNotFoundError: nothing matches.
        """
        validate_name(model_name)
        return self._reading(lambda name: self.store.resolve(name, version, stage), model_name)

    def history(self, model_name: str) -> HistoryList:
        """Return the model's history, oldest first (a list; a table in Jupyter)."""
        return HistoryList(self._reading(self.store.history, model_name))

    def as_of(self, model_name: str, when: datetime) -> AsOf:
        """Return which versions of a model held production and staging at `when`, and what each endpoint served.

        Only the history that covers `when` is read (one sealed segment, or the head), and each endpoint's record.

        Args:
            model_name: The model.
            when: The moment asked about (timezone-aware; a naive one is taken as UTC). The answer gives it in UTC.

        Raises:
            InvalidInputError: `when` is not a datetime. ModelNotFoundError: no such model.
        """
        if not isinstance(when, datetime):
            msg = f"as_of needs a moment as a datetime, got {shown(when)}"
            raise InvalidInputError(msg)
        try:
            moment = when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59-01:00, which is in the year 10000 in UTC
            msg = f"moment {when.isoformat()} is out of range in UTC"
            raise InvalidInputError(msg) from None
        holders = self._reading(lambda name: self.store.holders_at(name, moment), model_name)
        serving = {
            record.name: split
            for record in self.endpoints.list_endpoints()
            if (split := record.served_at(model_name, moment))
        }
        return AsOf(
            model_name=model_name, at=moment, stages={stage: list(labels) for stage, labels in holders.items()},
            endpoints=serving,
        )  # fmt: skip

    def compare_models(
        self, model_name: str, versions: Sequence[str], metrics: Sequence[str] | None = None
    ) -> ModelComparison:
        """Return the metrics of `versions` side by side, with the best value of each metric marked.

        Raises:
            InvalidInputError: fewer than two versions. VersionNotFoundError: an unknown version.
        """
        if isinstance(versions, str | bytes) or not isinstance(versions, Collection) or len(versions) < 2:
            msg = "compare needs at least two versions"
            raise InvalidInputError(msg)
        if metrics is not None and (
            isinstance(metrics, str | bytes)
            or not isinstance(metrics, Collection)
            or not all(isinstance(m, str) for m in metrics)
        ):
            msg = f"metrics to compare must be a list of metric names, got {shown(metrics)}"
            raise InvalidInputError(msg)
        chosen = [self.get_model_metadata(model_name, version) for version in versions]
        return compare(model_name, chosen, metrics)

    def load_model(
        self,
        model_name: str,
        version: str | None = None,
        stage: ModelStage | str | None = None,
        *,
        progress: Progress | None = None,
    ) -> tuple[Any, ModelMetadata]:
        """Verify and load a version: a TensorFlow model for SavedModel/Keras artifacts, else the folder path.

        `progress` is called with the bytes downloaded so far when the artifacts come from a remote registry.

        Raises:
            ArtifactIntegrityError: a file is missing, extra or modified.
            DependencyMissingError: TensorFlow is needed but not installed.
        """
        from registry_core.loading import load_artifacts

        metadata = self.get_model_metadata(model_name, version, stage)
        return load_artifacts(self.storage, metadata, progress=progress), metadata

    def artifact_path(
        self,
        model_name: str,
        version: str | None = None,
        stage: ModelStage | str | None = None,
        *,
        progress: Progress | None = None,
    ) -> Path:
        """Return a verified local folder holding the version's artifacts (downloaded if remote).

        `progress` is called with the bytes downloaded so far when the artifacts come from a remote registry.
        """
        from registry_core.loading import verified_folder

        return verified_folder(self.storage, self.get_model_metadata(model_name, version, stage), progress=progress)

    def get_data_profile(
        self, model_name: str, version: str | None = None, stage: ModelStage | str | None = None
    ) -> DataProfile:
        """Return the profile of the data a version was trained on (statistics and schema), stored with it.

        The pipeline stores it in the version's artifacts under ``data_profile/``, so the artifact digest covers it.

        Raises:
            ModelNotFoundError, VersionNotFoundError: nothing matches. NotFoundError: the version has no profile.
            ArtifactIntegrityError: the stored profile differs from the manifest.
        """
        from registry_core.monitoring.stored import read_version_profile

        return read_version_profile(self.storage, self.get_model_metadata(model_name, version, stage))

    # ------------------------------------------------------------------------------------------ lifecycle

    def approve(
        self, model_name: str, version: str, stage: ModelStage | str, approver: str, comment: str = ""
    ) -> ModelMetadata:
        """Record `approver`'s approval of `version` for `stage`, bound to its artifact digest.

        Raises:
            ApprovalError: the approver registered the version (four-eyes) or is empty.
        """
        target = ModelStage.parse(stage)
        approver = clean_actor(approver, "approver")
        comment = clean_description(comment)
        label = self._label(model_name, version)
        change = partial(
            promotion.approve, label=label, target=target, approver=approver, comment=comment, policy=self._policy
        )
        return self._change(model_name, change).get(label)

    def request_promotion(
        self,
        model_name: str,
        version: str,
        stage: ModelStage | str,
        *,
        requested_by: str | None = None,
        comment: str = "",
    ) -> ModelMetadata:
        """Ask for `version` to move to `stage`; the move happens when an approval makes the rules hold.

        A stage that needs no approval is promoted to at once.

        Raises:
            InvalidTransitionError: the move is not allowed from the version's stage.
            ConflictError: a request for that stage is already pending.
        """
        target = ModelStage.parse(stage)
        who = self._actor(requested_by)
        comment = clean_description(comment)
        label = self._label(model_name, version)
        change = partial(
            promotion.request_promotion, label=label, target=target, requested_by=who, comment=comment,
            policy=self._policy,
        )  # fmt: skip
        return self._change(model_name, change).get(label)

    def reject(
        self, model_name: str, version: str, stage: ModelStage | str, approver: str, comment: str = ""
    ) -> ModelMetadata:
        """Reject the pending request to move `version` to `stage`, with the approver's reason.

        Raises:
            LifecycleError: nothing is pending. ApprovalError: the approver may not decide (four-eyes).
        """
        target = ModelStage.parse(stage)
        approver = clean_actor(approver, "approver")
        comment = clean_description(comment)
        label = self._label(model_name, version)
        change = partial(
            promotion.reject, label=label, target=target, approver=approver, comment=comment, policy=self._policy
        )
        return self._change(model_name, change).get(label)

    def pending_requests(self, model_name: str | None = None) -> list[tuple[ModelMetadata, PromotionRequest]]:
        """Return every pending promotion request (of one model, or of all), oldest first."""
        names = [model_name] if model_name is not None else self.list_models()
        found = [
            (metadata, request)
            for name in names
            for metadata in self._reading(self.store.pending, name)
            for request in metadata.promotion_requests
            if request.status == "pending"
        ]
        return sorted(found, key=lambda pair: pair[1].requested_at)

    def promote_model(
        self,
        model_name: str,
        version: str,
        target_stage: ModelStage | str,
        approved_by: str | None = None,
        reason: str = "",
        *,
        actor: str | None = None,
    ) -> ModelMetadata:
        """Move `version` to `target_stage`, following the transition table and the approval rules.

        Promoting to PRODUCTION archives the previous holder in the same conditional write.

        Args:
            model_name: The model.
            version: The version to move.
            target_stage: Where to.
            approved_by: Record this person's approval now (subject to four-eyes) and use it.
            reason: Why; kept in the stage history and the model history.
            actor: Who makes the change; defaults to the current user.

        Raises:
            InvalidTransitionError: not allowed from the current stage (the allowed ones are named).
            ApprovalRequiredError: the stage needs an approval the version does not have.
            ApprovalError: `approved_by` may not approve this version.
        """
        target = ModelStage.parse(target_stage)
        who = self._actor(actor)
        reason = clean_description(reason)
        approver = clean_actor(approved_by, "approver") if approved_by is not None else None
        label = self._label(model_name, version)
        change = partial(
            promotion.promote, label=label, target=target, actor=who, reason=reason, policy=self._policy,
            approver=approver,
        )  # fmt: skip
        return self._change(model_name, change).get(label)

    def archive_model(
        self, model_name: str, version: str, reason: str = "", *, actor: str | None = None
    ) -> ModelMetadata:
        """Move `version` to ARCHIVED (allowed from every other stage)."""
        return self.promote_model(model_name, version, ModelStage.ARCHIVED, reason=reason, actor=actor)

    def rollback(
        self,
        model_name: str,
        to_version: str | None = None,
        *,
        reason: str = "",
        actor: str | None = None,
        endpoint_name: str | None = None,
    ) -> ModelMetadata:
        """Put PRODUCTION back on the previous holder (or on `to_version`, which must have served before).

        The current holder is archived; both moves and a rollback entry land in one conditional write.
        No new approval is needed: the restored version was approved for PRODUCTION with the same digest.
        With `endpoint_name`, the restored version then takes 100% of that endpoint's traffic (redeployed if it
        was undeployed) and the others are undeployed.

        Raises:
            LifecycleError: there is no earlier PRODUCTION version, or `to_version` never was one.
            EndpointNotFoundError: `endpoint_name` has no record (checked before anything changes).
        """
        if endpoint_name is not None:
            self.endpoints.get_endpoint(endpoint_name)
        who = self._actor(actor)
        reason = clean_description(reason)
        wanted = self._label(model_name, to_version) if to_version is not None else None
        record = self._change(model_name, partial(rollback.roll_back, wanted=wanted, actor=who, reason=reason))
        restored = record.get(record.in_stage(ModelStage.PRODUCTION)[0].version)
        if endpoint_name is not None:
            self.endpoints.restore(endpoint_name, restored, actor=who, reason=reason or rollback.ROLLBACK)
            restored = self.get_model_metadata(model_name, restored.version)
        return restored

    def annotate(
        self,
        model_name: str,
        version: str,
        annotations: Mapping[str, str],
        *,
        actor: str | None = None,
        metrics: ModelPerformance | Mapping[str, float] | None = None,
    ) -> ModelMetadata:
        """Add key/value notes (and optionally evaluation metrics) to a version, e.g. validation results."""
        notes = clean_annotations(annotations)
        extra_metrics = ModelPerformance.from_mapping(metrics) if metrics is not None else None
        who = self._actor(actor)
        label = self._label(model_name, version)
        change = partial(changes.annotate, label=label, notes=notes, actor=who, metrics=extra_metrics)
        return self._change(model_name, change).get(label)

    def record_monitoring(
        self, model_name: str, version: str, details: Mapping[str, str], *, reason: str = "", actor: str | None = None
    ) -> HistoryEntry:
        """Record a monitoring run of a version in the model's history (a MONITORED entry); return the entry.

        The version is unchanged; listeners (notifications) hear of the entry like of any other change.
        """
        who = self._actor(actor)
        label = self._label(model_name, version)
        entry = changes.history_entry(
            who, HistoryAction.MONITORED, label, reason=clean_description(reason, "reason"),
            details=clean_annotations(details),
        )  # fmt: skip
        self._change(model_name, partial(changes.record_monitoring, entry=entry))
        return entry

    def record_validation(
        self, model_name: str, version: str, decision: ValidationDecision, *, actor: str | None = None
    ) -> ModelMetadata:
        """Record a validation outcome in one write: holdout metrics, pass/fail with the reason, the champion.

        A version in DEVELOPMENT moves to VALIDATION; a failed version stays registered, marked with why, and
        cannot be promoted to STAGING until a later validation passes.
        """
        who = self._actor(actor)
        label = self._label(model_name, version)
        change = partial(changes.record_validation, label=label, decision=decision, actor=who)
        return self._change(model_name, change).get(label)

    # ------------------------------------------------------------------------------------------ deployment

    def deploy_model(
        self,
        model_name: str,
        version: str | None = None,
        stage: ModelStage | str | None = None,
        *,
        endpoint_name: str,
        target: str | DeploymentTarget = "local",
        traffic_percent: int = 100,
        actor: str | None = None,
        reason: str = "",
        **target_settings: Any,
    ) -> tuple[DeployedModel, EndpointRecord, ModelMetadata]:
        """Deploy a verified version to an endpoint (created on first use) with a share of its traffic.

        At 100% the endpoint's other models are undeployed. The deployment is recorded in the endpoint's record
        and in the version's metadata and history.

        Args:
            model_name: The model.
            version: The version (default: by `stage`, else the latest).
            stage: Deploy the version in this stage.
            endpoint_name: Endpoint to deploy to.
            target: "local" (the `model-registry serve` server) or "vertex", or a DeploymentTarget.
            traffic_percent: Share of the endpoint's traffic, 1-100; the others keep their proportions.
            actor: Who deploys; default: the current user.
            reason: Why; kept in the endpoint's history.
            **target_settings: Target settings kept with the endpoint (Vertex: project, location, machine_type,
                min_replica_count, max_replica_count, serving_container_image_uri...).

        Returns:
            The deployment, the endpoint's record after it, and the version's metadata.

        Raises:
            ArtifactIntegrityError: the artifacts do not match their manifest.
            DeploymentError: the target failed.
        """
        metadata = self.get_model_metadata(model_name, version, stage)
        deployment, endpoint = self.endpoints.deploy(
            metadata, endpoint_name, target=target, traffic_percent=traffic_percent, actor=self._actor(actor),
            settings=target_settings, reason=clean_description(reason),
        )  # fmt: skip
        return deployment, endpoint, self.get_model_metadata(model_name, metadata.version)

    def canary_deploy(
        self,
        model_name: str,
        version: str | None = None,
        stage: ModelStage | str | None = None,
        *,
        endpoint_name: str,
        health_check: HealthCheck | UserCheck,
        canary_percent: int = 10,
        target: str | DeploymentTarget = "local",
        actor: str | None = None,
        **target_settings: Any,
    ) -> CanaryResult:
        """Send `canary_percent` of the endpoint's traffic to a version, check its health, then complete or roll back.

        `health_check` is a HealthCheck (probe requests: error rate and latency limits) or a callable taking a
        CanaryContext and returning (healthy, reason). The outcome is recorded on the endpoint and the version.
        """
        metadata = self.get_model_metadata(model_name, version, stage)
        return self.endpoints.canary(
            metadata, endpoint_name, canary_percent=canary_percent, check=health_check, target=target,
            actor=self._actor(actor), settings=target_settings,
        )  # fmt: skip

    def set_traffic(
        self, endpoint_name: str, traffic: Mapping[str, int], *, reason: str = "", actor: str | None = None
    ) -> EndpointRecord:
        """Set an endpoint's traffic split (deployed model id -> percent, summing to 100)."""
        return self.endpoints.set_traffic(endpoint_name, traffic, actor=self._actor(actor), reason=reason)

    def undeploy_model(
        self, endpoint_name: str, deployed_model_id: str, *, reason: str = "", actor: str | None = None
    ) -> EndpointRecord:
        """Stop serving one deployed model of an endpoint."""
        return self.endpoints.undeploy(endpoint_name, deployed_model_id, actor=self._actor(actor), reason=reason)

    def reconcile_endpoint(
        self, endpoint_name: str, *, actor: str | None = None, target: str | None = None, **target_settings: Any
    ) -> ReconcileResult:
        """Make an endpoint's record agree with what its target (Vertex AI) really serves, recording the changes.

        Deployed models the record lacks (e.g. a deploy whose client died before recording it) become recorded
        deployments of their registry version, recorded ones the target no longer has become undeployed, and the
        traffic split follows the target; each change goes into the endpoint's history and the versions' metadata.
        Deploying to a Vertex endpoint does this first. For an endpoint with no record yet, give `target` and its
        settings (e.g. ``target="vertex", project=..., location=...``).

        Raises:
            EndpointNotFoundError: no record (and no settings), or the target has no such endpoint either.
            DeploymentError: the target failed or serves models that are no registry versions.
        """
        return self.endpoints.reconcile(
            endpoint_name, actor=self._actor(actor), target=target, settings=target_settings or None
        )

    def list_endpoints(self) -> EndpointList:
        """Return every endpoint's record (a list; a table in Jupyter)."""
        return self.endpoints.list_endpoints()

    def get_endpoint(self, endpoint_name: str) -> EndpointRecord:
        """Return an endpoint's record. Raises: EndpointNotFoundError."""
        return self.endpoints.get_endpoint(endpoint_name)

    def predict(self, endpoint_name: str, instances: list[Any], deployed_model_id: str | None = None) -> Prediction:
        """Predict on an endpoint (routed by its traffic split) or on one of its deployed models.

        On a local endpoint the answer carries one prediction id per instance (`Prediction.prediction_ids`), and the
        prediction is logged under ``monitoring/<endpoint>/predictions/`` within seconds (`flush_prediction_logs`:
        now), for `send_feedback` and the monitor.
        """
        return self.endpoints.predict(endpoint_name, instances, deployed_model_id)

    def flush_prediction_logs(self, timeout: float | None = None) -> bool:
        """Write now the prediction logs this object's `predict` calls left waiting; True if none waits any more."""
        return self.endpoints.flush_prediction_logs(timeout)

    def monitor(
        self,
        endpoint_name: str,
        *,
        window: str | timedelta | None = None,
        policy: MonitorPolicy | Mapping[str, Any] | None = None,
        retrain: bool | None = None,
        actor: str | None = None,
    ) -> MonitorResult:
        """Compare an endpoint's logged traffic with its version's training data, and live quality with validation.

        What ``model-registry monitor`` does: the report is stored under ``monitoring/<endpoint>/reports/`` and the
        run recorded in the model's history; with `retrain` (or the policy's), an alert starts retraining.

        Args:
            endpoint_name: The endpoint.
            window: How far back to look ("24h", "7d" or a timedelta); default the policy's.
            policy: A `MonitorPolicy` or its mapping (as in a policy file); default the endpoint's stored policy.
            retrain: Overrides the policy's `retrain`.
            actor: Who runs it (default: the current user).

        Raises:
            EndpointNotFoundError: no such endpoint. InvalidInputError: a bad window or policy.
            StorageError: the logs or the report cannot be read or written.
        """
        from dataclasses import replace

        from registry_core.monitoring.monitor import run_monitor
        from registry_core.monitoring.policy import MonitorPolicy, parse_window, stored_policy

        if policy is None:
            chosen = stored_policy(self.storage, endpoint_name)
        else:
            chosen = policy if isinstance(policy, MonitorPolicy) else MonitorPolicy.from_mapping(policy)
        if window is not None:
            chosen = replace(chosen, window=parse_window(window) if isinstance(window, str) else window)
        return run_monitor(self, endpoint_name, policy=chosen, retrain=retrain, actor=actor)

    def send_feedback(
        self, endpoint_name: str, feedback: Mapping[str, str | int | float] | Iterable[tuple[str, str | int | float]]
    ) -> int:
        """Keep the true labels of predictions of an endpoint (by prediction id), as its server's feedback route does.

        Feedback for ids that were never logged (sampled out, or answered elsewhere) is kept too; the reader joins.

        Args:
            endpoint_name: The endpoint that answered.
            feedback: Prediction id -> label (a class name or a number), as a mapping or (id, label) pairs.

        Returns:
            How many labels were kept.

        Raises:
            EndpointNotFoundError: no such endpoint.
            InvalidInputError: a malformed id or label, or too many at once (`MAX_FEEDBACK_ITEMS`).
            StorageError: the write failed (nothing was kept).
        """
        from registry_core.monitoring.feedback import parse_feedback, write_feedback

        self.endpoints.get_endpoint(endpoint_name)
        pairs = list(feedback.items() if isinstance(feedback, Mapping) else feedback)
        if not all(isinstance(pair, tuple) and len(pair) == 2 for pair in pairs):
            msg = "feedback must map prediction ids to labels, or be (prediction id, label) pairs"
            raise InvalidInputError(msg)
        items = parse_feedback({"feedback": [{"prediction_id": i, "label": label} for i, label in pairs]})
        return len(write_feedback(self.storage, endpoint_name, items))

    # -------------------------------------------------------------------------------------- maintenance

    def check(self, gc: bool = False, *, deep: bool = False) -> CheckReport:
        """Find broken records, missing artifacts and leftovers of interrupted registrations.

        Besides parsing each model and endpoint document, check judges what it means: unique version labels, at
        most one production version, approvals (bound to the version's artifacts) wherever this registry's config
        requires them, stage histories and the model history consistent with the stages, endpoints serving
        versions that exist. gc removes an upload only when it is proven unused; nothing of a model whose
        document cannot be read or breaks a rule is removed, and the report says so.

        Args:
            gc: Remove leftovers (unreferenced uploads of dead registrations, stale markers, temp files).
            deep: Also re-hash every artifact file against its manifest.
        """
        return run_check(self.storage, self.store, gc=gc, deep=deep, policy=self._policy)

    # -------------------------------------------------------------------------------------------- events

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(model_name, entry)` for every history entry this registry object writes, after the write.

        Listeners run in the writing thread; an exception in one is logged and never undoes or fails the change.
        """
        self._listeners.append(listener)

    def commit(self, model_name: str, mutate: Change, *, start: HeadRead | None = None) -> ModelRecord:
        """Apply `mutate` to the model's record by compare-and-swap, then tell listeners about the new entries.

        New history entries whose actor is not the authenticated principal are marked with it (see
        `changes.on_behalf`), in the same write. `start` is the model's head as the caller just read it
        (`ModelStore.update` starts from it).
        """
        attributed = _Attributed(mutate, self.principal())
        record = self.store.update(model_name, attributed, start=start)
        for entry in record.history[attributed.since :]:
            for listener in self._listeners:
                try:
                    listener(record.name, entry)
                except Exception:  # noqa: BLE001 - a notification problem must not look like a failed change
                    logger.exception("event listener failed for %s %s", record.name, entry.action)
        return record

    def _change(self, model_name: str, change: Callable[[ModelRecord], ModelRecord]) -> ModelRecord:
        """Commit `change` of a registered model's record. Raises: ModelNotFoundError (and what `change` raises)."""
        return self.commit(model_name, lambda record: change(changes.registered(record, model_name)))

    # ------------------------------------------------------------------------------------------ helpers

    def principal(self) -> str | None:
        """Return the authenticated identity this registry writes as (the Google account on GCS), else None."""
        return self.storage.principal()

    def _actor(self, actor: str | None) -> str:
        """Return who acts: `actor` if given, else $MODEL_REGISTRY_USER, else the principal, else the login name."""
        if actor is not None:
            return clean_actor(actor, "actor")
        if os.environ.get(USER_ENV):
            return current_user()
        return self.principal() or current_user()

    def rollback_candidates(self, model_name: str) -> list[str]:
        """Return the versions production can be rolled back to, the default (the latest earlier holder) first."""
        return self._reading(self.store.rollback_candidates, model_name)

    def migrate(self, model_names: Iterable[str] | None = None) -> list[str]:
        """Convert models from the one-document layout of earlier releases; return the names converted.

        Safe to interrupt and run again; models already converted are skipped. A model of the old layout is also
        converted by its first change.

        Raises:
            ModelNotFoundError: a model named in `model_names` is in neither layout (checked before converting any).
            CorruptRecordError: some models could not be converted (named, with why); the others were.
        """

        def registered(name: str) -> None:
            try:
                if not self.store.exists(name):
                    msg = f"model {name!r} is not registered"
                    raise ModelNotFoundError(msg)
            except CorruptRecordError:
                pass  # it exists; converting it says what is wrong

        names = list(model_names) if model_names is not None else self.list_models()
        for name in names:
            self._reading(registered, name)  # a typo converts nothing and says so
        converted: list[str] = []
        failed: list[str] = []
        for name in names:  # one damaged document does not hold back the others
            try:
                if self.store.migrate(name):
                    converted.append(name)
            except CorruptRecordError as exc:
                failed.append(f"{name}: {exc}")
        if failed:
            done = f"; converted: {', '.join(converted)}" if converted else ""
            msg = f"could not convert {len(failed)} model(s) ({'; '.join(failed)}){done}"
            raise CorruptRecordError(msg)
        return converted

    def _reading(self, read: Callable[[str], T], model_name: str) -> T:
        """Run a read of one model; a missing model of a missing root says that the root is missing."""
        validate_name(model_name)
        try:
            return read(model_name)
        except ModelNotFoundError:
            if not self.config.uses_default_root and not self.storage.root_exists():
                msg = f"registry root {self.storage.uri} does not exist"
                raise RegistryRootNotFoundError(msg) from None
            raise

    def _label(self, model_name: str, version: str | None) -> str:
        validate_name(model_name)
        return normalize_version(version)


class _Attributed:
    """A change that notes where the history stood before it and marks its new entries with the principal."""

    def __init__(self, change: Change, principal: str | None) -> None:
        self.change = change
        self.principal = principal
        self.since = 0

    def __call__(self, current: ModelRecord | None) -> ModelRecord:
        self.since = len(current.history) if current is not None else 0
        return changes.on_behalf(self.change(current), self.since, self.principal)
