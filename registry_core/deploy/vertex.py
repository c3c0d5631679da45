"""The Vertex AI target: registry versions become versions of one Vertex model, served on Vertex endpoints.

For each registry model there is one Vertex model (found by its ``registry_model=<name>`` label, created on first
deployment); each registry version that gets deployed becomes one version of it, uploaded from the version's
``gs://`` artifact folder (Vertex reads it itself, so the registry must live on GCS) and labelled with the registry
version and artifact digest, so that redeploying it (e.g. on rollback) reuses the same Vertex version. Version
aliases mirror the registry: ``v3`` (or ``v1-2-0``) for the version and its stage at deployment time
(``development``, ``validation``, ``staging``, ``production``; archived versions get no stage alias); Vertex keeps
aliases unique per model, so giving the alias to a new version takes it from the old one. A version deployed in
production also becomes the model's ``default`` version.

Endpoints are found by display name (= the registry's endpoint name; the record's ``target_ref`` once known) or
created with the label ``registry_endpoint=<name>``. Traffic splits are the registry's, keyed by Vertex
DeployedModel ids, with ``"0"`` for the model being deployed, exactly as Vertex spells it.

Every long-running call (model upload, endpoint creation, deploy, undeploy) is waited for without a time limit:
real deployments take 10-30 minutes, and api-core's default wait of 900 s would give up (with a `TimeoutError`)
while Vertex AI carries on and finishes a deployment that nobody records. `observe` reads what the Vertex endpoint
really serves, once the operations in progress on it are done, so that the registry can reconcile its record.

Serving container: each new Vertex model version runs the project's serving image (the Dockerfile's ``serving``
stage) as a custom container spec with ``model-registry serve-container`` (see `registry_core.deploy.container`):
port 8080, routes ``/predict`` and ``/health``, and the registry model, version and artifact digest in its
environment, so that the container refuses artifacts that are not the version's and serves with the TensorFlow that
trained it. The image is `serving_image` when one is named (not checked: it may live in any registry), else the
project's own as cloudbuild.yaml pushes it: ``<location>-docker.pkg.dev/<project>/<image_repository>/
model-registry-serving:<registry_core version>`` (see `registry_core.deploy.vertex_image`), which is looked up in
Artifact Registry before anything is uploaded, so that a missing image is one line (`ServingImageMissingError`)
rather than a deployment failing after 20 minutes. With `serving_container_image_uri` instead, a prebuilt container
(e.g. Vertex's TensorFlow 2.15 CPU image, `PREBUILT_SERVING_IMAGE`) serves the SavedModel at the artifact folder's
top level. A version already uploaded (found by its labels) is reused as it was uploaded, whichever container it
has. The image each deployment serves with is returned in its `DeployResult` and recorded with the deployment.

Prediction logging: on a ``gs://`` registry the serving container's spec also has ``REGISTRY_ROOT``, and the container
logs its predictions under the registry endpoint whose record names the Vertex endpoint it serves (``AIP_ENDPOINT_ID``;
see `registry_core.deploy.container_log`) at that record's ``log_sample_rate`` setting: a model version is uploaded
once and serves on any endpoint, so its spec cannot name one. Versions uploaded before this was added log nothing.

Regions: the endpoint's record names its Vertex endpoint, whose region is where its models must be uploaded; a model
is uploaded only from an artifact bucket in that region (see `vertex_regions`).

``google-cloud-aiplatform`` is imported inside the methods, never at module import. Credentials are not a setting:
Application Default Credentials are used, or anonymous ones when `api_endpoint` is a local ``http://`` stand-in.
The SDK has no per-call API endpoint, so a set `api_endpoint` goes into the SDK's global configuration
(``aiplatform.init(api_endpoint=..., api_transport="rest")``) and stays there for later SDK calls in this process.
"""

from __future__ import annotations

import logging
import math
import re
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from registry_core.deploy.base import (
    NEW_DEPLOYMENT,
    DeploymentTarget,
    DeployResult,
    ObservedDeployment,
    ObservedEndpoint,
    Prediction,
    VersionLookup,
    prediction_ids,
    require_new_deployment,
    translated_errors,
)
from registry_core.deploy.records import EndpointRecord
from registry_core.deploy.vertex_image import (
    ARTIFACT_REGISTRY_API,
    PREBUILT_SERVING_IMAGE,
    ProjectImage,
    check_published,
    resolve_repository,
)
from registry_core.deploy.vertex_regions import check_artifact_bucket, host_region, location_of
from registry_core.errors import DependencyMissingError, DeploymentError, InvalidInputError, RegionMismatchError
from registry_core.google_errors import api_message
from registry_core.metadata import ModelMetadata, ModelStage
from registry_core.text import one_line, shown

__all__ = ["PREBUILT_SERVING_IMAGE", "SERVING_COMMAND", "SERVING_PORT", "VertexTarget"]

_LOG = logging.getLogger(__name__)

SERVING_COMMAND = ("model-registry", "serve-container")
SERVING_PORT = 8080
SERVING_ROUTES = ("/predict", "/health")  # predict, health
MODEL_LABEL = "registry_model"
VERSION_LABEL = "registry_version"
DIGEST_LABEL = "registry_digest"
ENDPOINT_LABEL = "registry_endpoint"
STAGE_ALIASES = frozenset({ModelStage.DEVELOPMENT, ModelStage.VALIDATION, ModelStage.STAGING, ModelStage.PRODUCTION})
# A prediction for one deployed model goes through the endpoint until that model answers (see `predict`).
ROUTED_PREDICT_MISS_PROBABILITY = 1e-6  # if requests were routed at random, by the split
ROUTED_PREDICT_CYCLE = 100  # a full cycle of any routing that honours the split over each hundred requests
ROUTED_PREDICT_MAX_ATTEMPTS = 1000

_INSTALL_HINT = "deploying to Vertex AI needs google-cloud-aiplatform: pip install 'registry-core[kfp]'"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_LOCATION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_MAX_SETTING = 1024  # characters of a text setting
_MAX_REPLICAS = 10_000  # far above any quota; an integer every JSON reader keeps


@dataclass(frozen=True)
class _Sdk:
    """The imported SDK and what every call needs."""

    aiplatform: Any
    errors: tuple[type[BaseException], ...]
    credentials: Any  # None: Application Default Credentials


class VertexTarget(DeploymentTarget):
    """Endpoints on Vertex AI, configured by the endpoint's (JSON-serializable) target settings.

    Args:
        project: Google Cloud project id (or number).
        location: Vertex AI region, e.g. "us-central1".
        machine_type: Machine type of each serving replica.
        min_replica_count: Replicas always running (at least 1).
        max_replica_count: Most replicas when autoscaling (at least `min_replica_count`).
        serving_container_image_uri: A prebuilt serving container instead of the serving image (e.g.
            `PREBUILT_SERVING_IMAGE`, Vertex's TensorFlow 2.15 CPU image), which serves the SavedModel at the artifact
            folder's top level; not with `serving_image`.
        serving_image: A serving image (``docker build --target serving``) to run as a custom container with
            ``model-registry serve-container``, used as named (not checked). Neither this nor
            `serving_container_image_uri`: the project's serving image in `image_repository` of this project and
            location, tagged with the registry_core version, checked in Artifact Registry before an upload.
        image_repository: The Artifact Registry repository of the project's serving image (default:
            $REGISTRY_IMAGE_REPOSITORY, else ``ml`` as in cloudbuild.yaml); used only when no image is named.
        api_endpoint: Another Vertex AI API endpoint (a regional or Private Service Connect host, or
            ``http://127.0.0.1:PORT`` of a local stand-in, which gets anonymous credentials), spoken to over REST.
        service_account: The service account the serving containers run as (None: Vertex's default).
        log_sample_rate: Share of requests whose predictions the serving container logs, 0 to 1 (None: all, within
            the logger's hourly cap); read by the container from the endpoint's record.

    Raises:
        InvalidInputError: a setting is malformed.
    """

    kind: ClassVar[str] = "vertex"

    def __init__(
        self,
        project: str,
        location: str = "us-central1",
        machine_type: str = "n1-standard-2",
        min_replica_count: int = 1,
        max_replica_count: int = 1,
        serving_container_image_uri: str | None = None,
        api_endpoint: str | None = None,
        service_account: str | None = None,
        serving_image: str | None = None,
        image_repository: str | None = None,
        log_sample_rate: float | None = None,
    ) -> None:
        from registry_core.deploy.container_settings import check_sample_rate

        self.project = _text(project, "project")
        self.location = _text(location, "location")
        if not _LOCATION.match(self.location):
            msg = f"the Vertex AI location must be a region such as 'us-central1', got {shown(location)}"
            raise InvalidInputError(msg)
        self.machine_type = _text(machine_type, "machine_type")
        self.min_replica_count = _count(min_replica_count, "min_replica_count")
        self.max_replica_count = _count(max_replica_count, "max_replica_count")
        if self.max_replica_count < self.min_replica_count:
            msg = f"max_replica_count ({max_replica_count}) is below min_replica_count ({min_replica_count})"
            raise InvalidInputError(msg)
        if serving_image is not None and serving_container_image_uri is not None:
            msg = (
                "give serving_image (the project's serving container) or serving_container_image_uri (a prebuilt "
                "one), not both"
            )
            raise InvalidInputError(msg)
        self.serving_image = _text(serving_image, "serving_image") if serving_image is not None else None
        self.serving_container_image_uri = (
            _text(serving_container_image_uri, "serving_container_image_uri")
            if serving_container_image_uri is not None
            else None
        )
        self.image_repository = (
            resolve_repository(_text(image_repository, "image_repository")) if image_repository is not None else None
        )
        self.api_endpoint = _text(api_endpoint, "api_endpoint").rstrip("/") if api_endpoint is not None else None
        served = host_region(self.api_endpoint) if self.api_endpoint else None
        if served is not None and served != self.location:
            msg = f"the API endpoint {self.api_endpoint} serves {served}, not the location {self.location}"
            raise InvalidInputError(msg)
        self.service_account = _text(service_account, "service_account") if service_account is not None else None
        self.log_sample_rate = check_sample_rate(log_sample_rate)
        self._loaded: _Sdk | None = None
        self._endpoints: dict[str, Any] = {}  # resource name -> aiplatform.Endpoint, read once for predictions

    def __repr__(self) -> str:
        return f"VertexTarget(project={self.project!r}, location={self.location!r})"

    @property
    def settings(self) -> dict[str, Any]:
        """The settings this target was built from (what the endpoint's record keeps)."""
        return {
            "project": self.project,
            "location": self.location,
            "machine_type": self.machine_type,
            "min_replica_count": self.min_replica_count,
            "max_replica_count": self.max_replica_count,
            "serving_container_image_uri": self.serving_container_image_uri,
            "api_endpoint": self.api_endpoint,
            "service_account": self.service_account,
            "serving_image": self.serving_image,
            "image_repository": self.image_repository,
            "log_sample_rate": self.log_sample_rate,
        }

    def project_image(self) -> ProjectImage | None:
        """The project's serving image this target uploads versions with, or None when an image is named.

        Raises:
            InvalidInputError: $REGISTRY_IMAGE_REPOSITORY is not a repository id.
        """
        if self.serving_image is not None or self.serving_container_image_uri is not None:
            return None
        return ProjectImage(self.project, self.location, resolve_repository(self.image_repository))

    def needs_local_artifacts(self) -> bool:
        """False: Vertex AI reads the version's gs:// artifact folder itself."""
        return False

    def check_deployable(self, metadata: ModelMetadata) -> None:
        """Refuse artifacts outside GCS: Vertex AI reads the artifact folder itself, from gs:// only.

        Raises:
            DeploymentError: the version's artifacts are not on gs://.
        """
        if not metadata.artifact_uri.startswith("gs://"):
            msg = (
                f"Vertex AI serves from gs://; use a gs:// registry "
                f"({metadata.model_name} {metadata.version} is at {metadata.artifact_uri})"
            )
            raise DeploymentError(msg)

    # ------------------------------------------------------------------------------------------- the interface

    def deploy(
        self, endpoint: EndpointRecord, metadata: ModelMetadata, artifacts: Path | None, traffic: dict[str, int]
    ) -> DeployResult:
        """Upload (or reuse) the version as a Vertex model version and deploy it on the endpoint with `traffic`.

        Raises:
            ServingImageMissingError: the version must be uploaded with the project's serving image, and Artifact
                Registry does not have it (checked before anything is uploaded).
            DeploymentError: the registry is not on GCS, or Vertex AI refused or failed.
        """
        self.check_deployable(metadata)
        require_new_deployment(traffic)
        self._check_endpoint_region(endpoint)
        sdk = self._sdk()
        version_name, image = self._model_version(sdk, metadata)
        vertex_endpoint = self._endpoint_for_deploy(sdk, endpoint)
        split = {k: v for k, v in traffic.items() if v > 0 or k == NEW_DEPLOYMENT}
        deployed = sdk.aiplatform.gapic.DeployedModel(
            model=version_name,
            display_name=f"{metadata.model_name}-{_version_alias(metadata.version)}",
            dedicated_resources=sdk.aiplatform.gapic.DedicatedResources(
                machine_spec=sdk.aiplatform.gapic.MachineSpec(machine_type=self.machine_type),
                min_replica_count=self.min_replica_count,
                max_replica_count=self.max_replica_count,
            ),
            service_account=self.service_account or "",
        )
        with self._translating(sdk, f"deploy {version_name} on {vertex_endpoint.resource_name}"):
            # The GAPIC call (which Endpoint.deploy wraps) answers with the new DeployedModel and its id.
            operation = vertex_endpoint.api_client.deploy_model(
                endpoint=vertex_endpoint.resource_name, deployed_model=deployed, traffic_split=split
            )
            response = _wait(operation)
        deployed_id = str(response.deployed_model.id)
        if not deployed_id:
            msg = f"Vertex AI deployed {version_name} on {vertex_endpoint.resource_name} but returned no id"
            raise DeploymentError(msg)
        _LOG.info("deployed %s as %s on %s", version_name, deployed_id, vertex_endpoint.resource_name)
        return DeployResult(
            deployed_id=deployed_id, target_ref=version_name, endpoint_ref=vertex_endpoint.resource_name, image=image
        )

    def set_traffic(self, endpoint: EndpointRecord, traffic: dict[str, int]) -> None:
        """Update the Vertex endpoint's traffic split (``Endpoint.update(traffic_split=...)``).

        Raises:
            DeploymentError: Vertex AI refused (e.g. an id is not deployed there) or failed.
        """
        sdk = self._sdk()
        vertex_endpoint = self._existing_endpoint(sdk, endpoint)
        split = {k: v for k, v in traffic.items() if v > 0}
        with self._translating(sdk, f"set the traffic of {vertex_endpoint.resource_name} to {split}"):
            vertex_endpoint.update(traffic_split=split)

    def undeploy(self, endpoint: EndpointRecord, deployed_id: str, traffic: dict[str, int]) -> None:
        """Undeploy `deployed_id`, leaving `traffic` over the others in the same request.

        A deployed model already gone from the Vertex endpoint (e.g. undeployed by an earlier attempt that failed
        before the registry recorded it) is not an error: only the split is applied.

        Raises:
            DeploymentError: Vertex AI refused or failed.
        """
        sdk = self._sdk()
        vertex_endpoint = self._existing_endpoint(sdk, endpoint)
        split = {k: v for k, v in traffic.items() if v > 0}
        what = f"undeploy {deployed_id} from {vertex_endpoint.resource_name}"
        with self._translating(sdk, what):
            present = {model.id for model in vertex_endpoint.gca_resource.deployed_models}
            if deployed_id not in present:
                _LOG.warning("%s: not deployed there any more; applying the split only", what)
                if split and dict(vertex_endpoint.traffic_split) != split:
                    vertex_endpoint.update(traffic_split=split)
            else:
                # The GAPIC call that Endpoint.undeploy wraps, so that its operation is waited for without a limit.
                operation = vertex_endpoint.api_client.undeploy_model(
                    endpoint=vertex_endpoint.resource_name, deployed_model_id=deployed_id, traffic_split=split
                )
                _wait(operation)

    def observe(self, endpoint: EndpointRecord, versions: VersionLookup) -> ObservedEndpoint:
        """Return what the Vertex endpoint serves, after waiting for the operations in progress on it.

        The endpoint is the record's Vertex endpoint, else the one named like it (a first deploy whose client died
        before recording anything); if there is none (or it was deleted), the observation has no endpoint_ref.
        Deployed models that the record lacks get the registry version named by their Vertex model version's
        labels (``registry_model``, ``registry_version``, ``registry_digest``).

        Raises:
            RegionMismatchError: the record's Vertex endpoint is in another region than this target's location.
            DeploymentError: Vertex AI refused or failed.
        """
        self._check_endpoint_region(endpoint)
        sdk = self._sdk()
        vertex_endpoint = (
            self._lookup_endpoint(sdk, endpoint.target_ref)
            if endpoint.target_ref
            else self._named_endpoint(sdk, endpoint.name)
        )
        if vertex_endpoint is None:
            return ObservedEndpoint(endpoint_ref="")
        if self._wait_for_operations(sdk, vertex_endpoint):
            vertex_endpoint = self._fetch_endpoint(sdk, vertex_endpoint.resource_name)  # as they left it
        resource = vertex_endpoint.gca_resource
        recorded = {d.id for d in endpoint.deployments}
        observed = []
        for deployed in resource.deployed_models:
            version_id = deployed.model_version_id
            target_ref = f"{deployed.model}@{version_id}" if version_id else str(deployed.model)
            observed.append(
                ObservedDeployment(
                    id=str(deployed.id),
                    target_ref=target_ref,
                    deployed_at=_utc(deployed.create_time),
                    metadata=None if deployed.id in recorded else self._registry_version(sdk, target_ref, versions),
                    description=f"{deployed.display_name or deployed.id} ({target_ref})",
                )
            )
        traffic = {str(k): int(v) for k, v in resource.traffic_split.items() if v > 0}
        return ObservedEndpoint(
            endpoint_ref=vertex_endpoint.resource_name, deployments=tuple(observed), traffic=traffic
        )

    def predict(self, endpoint: EndpointRecord, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        """Predict through the Vertex endpoint; with `deployed_id`, return only an answer of that deployed model.

        Vertex AI routes every request on a (shared public) endpoint by its traffic split: ``:predict`` has no way
        to name a deployed model (only ``invoke`` on dedicated endpoints with invoke-enabled models, and
        ``explain`` with an explanation spec, can), so a prediction for one deployed model is sent through the
        endpoint until that model answers: at least `ROUTED_PREDICT_CYCLE` times (a weighted round robin reaches
        every share within 100 requests), or as many times as random routing needs to miss it with probability
        `ROUTED_PREDICT_MISS_PROBABILITY` given its share (but never more than `ROUTED_PREDICT_MAX_ATTEMPTS`:
        a 1 % share may be missed). The other models' answers are discarded; they cost a request each, about
        100/share - 1 on average. A deployed model with no traffic cannot be reached this way.

        Raises:
            DeploymentError: Vertex AI refused or failed, `deployed_id` gets no traffic, or it never answered.
        """
        sdk = self._sdk()
        vertex_endpoint = self._cached_endpoint(sdk, endpoint)
        if deployed_id is None:
            return self._prediction(endpoint, self._predict_once(sdk, vertex_endpoint, instances))
        active = {d.id for d in endpoint.active()}
        if deployed_id not in active:
            msg = (
                f"endpoint {shown(endpoint.name)} has no deployed model {shown(deployed_id)}; "
                f"deployed: {sorted(active)}"
            )
            raise DeploymentError(msg)
        share = endpoint.traffic.get(deployed_id, 0)
        if share <= 0:
            msg = (
                f"deployed model {shown(deployed_id)} of endpoint {shown(endpoint.name)} gets no traffic, and "
                "Vertex AI routes predictions by the traffic split only; give it a share first"
            )
            raise DeploymentError(msg)
        attempts = _routed_attempts(share)
        answered: dict[str, int] = {}
        for _ in range(attempts):
            answer = self._predict_once(sdk, vertex_endpoint, instances)
            if str(answer.deployed_model_id) == deployed_id:
                return self._prediction(endpoint, answer)
            answered[str(answer.deployed_model_id)] = answered.get(str(answer.deployed_model_id), 0) + 1
        msg = (
            f"deployed model {shown(deployed_id)} ({share}% of endpoint {shown(endpoint.name)}) did not answer any of "
            f"{attempts} predictions sent through the endpoint (answered: {answered})"
        )
        raise DeploymentError(msg)

    # ------------------------------------------------------------------------------------------- models

    def _model_version(self, sdk: _Sdk, metadata: ModelMetadata) -> tuple[str, str]:
        """Return the Vertex model version (``.../models/ID@N``) for `metadata` (uploaded if needed) and its image."""
        aiplatform = sdk.aiplatform
        name = metadata.model_name
        version_label = _label_value(metadata.version)
        digest_label = _digest_label(metadata.artifact_digest)
        aliases = _aliases(metadata)
        parent = self._parent_model(sdk, name)
        same = f'labels.{VERSION_LABEL}="{version_label}" AND labels.{DIGEST_LABEL}="{digest_label}"'
        if parent is not None:
            with self._translating(sdk, f"list the versions of {parent}"):
                # The GAPIC call that ModelRegistry.list_versions wraps: its models have their container spec.
                found = list(
                    self._client(sdk, "ModelClientWithOverride").list_model_versions(
                        request=aiplatform.gapic.ListModelVersionsRequest(name=parent, filter=same)
                    )
                )
            if found:  # uploaded before (e.g. deployed, undeployed, now rolled back to): reuse it
                info = max(found, key=lambda v: int(v.version_id))
                missing = [a for a in aliases if a not in info.version_aliases]
                if missing:
                    with self._translating(sdk, f"give {parent}@{info.version_id} the aliases {missing}"):
                        registry = aiplatform.models.ModelRegistry(
                            parent, project=self.project, location=self.location, credentials=sdk.credentials
                        )
                        registry.add_version_aliases(missing, version=info.version_id)
                return f"{parent}@{info.version_id}", str(info.container_spec.image_uri)
        check_artifact_bucket(metadata.artifact_uri, self.location, self.project, sdk.credentials)
        image = self._checked_image(sdk)
        model = aiplatform.gapic.Model(
            display_name=name,
            artifact_uri=metadata.artifact_uri,
            container_spec=self._container_spec(aiplatform, metadata, image),
            version_aliases=aliases,  # "default" in production; Vertex makes a model's first version the default
            version_description=f"{name} {metadata.version} ({metadata.artifact_digest}) from the model registry",
            labels={MODEL_LABEL: name, VERSION_LABEL: version_label, DIGEST_LABEL: digest_label},
        )
        with self._translating(sdk, f"upload {name} {metadata.version} from {metadata.artifact_uri}"):
            # The GAPIC call that Model.upload wraps, so that its operation is waited for without a limit.
            operation = self._client(sdk, "ModelClientWithOverride").upload_model(
                request=aiplatform.gapic.UploadModelRequest(
                    parent=self._parent(), model=model, parent_model=parent or ""
                )
            )
            response = _wait(operation)
        version_name = f"{response.model}@{response.model_version_id}"
        _LOG.info("uploaded %s %s as %s, served by %s", name, metadata.version, version_name, image)
        return version_name, image

    def _checked_image(self, sdk: _Sdk) -> str:
        """Return the image to upload a version with; the project's own only once Artifact Registry has it."""
        default = self.project_image()
        if default is None:
            return self.serving_image or str(self.serving_container_image_uri)
        local = is_local_endpoint(self.api_endpoint)
        # A local Vertex stand-in answers for Artifact Registry too, under this path (as it does for kfp.pkg.dev).
        api_root = f"{self.api_endpoint}/artifactregistry.googleapis.com" if local else ARTIFACT_REGISTRY_API
        check_published(default, api_root, sdk.credentials)
        return default.uri

    def _container_spec(self, aiplatform: Any, metadata: ModelMetadata, image: str) -> Any:
        """The container that serves `metadata`: `image` running serve-container, or the prebuilt one as it is."""
        gapic = aiplatform.gapic
        if self.serving_container_image_uri is not None:
            return gapic.ModelContainerSpec(image_uri=self.serving_container_image_uri)
        from registry_core.deploy.container_settings import (
            DIGEST_ENV,
            MODEL_NAME_ENV,
            MODEL_VERSION_ENV,
            prediction_log_env,
        )

        env = {
            MODEL_NAME_ENV: metadata.model_name,
            MODEL_VERSION_ENV: metadata.version,
            DIGEST_ENV: metadata.artifact_digest,  # the container refuses files Vertex copied that are not these
            # no endpoint, no rate: the version may serve on several endpoints; the container finds its own
            **prediction_log_env(self.registry_root, None, None),
        }
        return gapic.ModelContainerSpec(
            image_uri=image,
            command=list(SERVING_COMMAND),
            ports=[gapic.Port(container_port=SERVING_PORT)],
            predict_route=SERVING_ROUTES[0],
            health_route=SERVING_ROUTES[1],
            env=[gapic.EnvVar(name=name, value=value) for name, value in env.items()],
        )

    def _parent_model(self, sdk: _Sdk, model_name: str) -> str | None:
        """Return the Vertex model labelled ``registry_model=<model_name>`` (the oldest if several), or None."""
        with self._translating(sdk, f"look up the Vertex model of {model_name}"):
            found = sdk.aiplatform.Model.list(
                filter=f'labels.{MODEL_LABEL}="{model_name}"',
                project=self.project,
                location=self.location,
                credentials=sdk.credentials,
            )
            candidates = {str(m.resource_name): m.create_time for m in found}
        if not candidates:
            return None
        if len(candidates) > 1:
            _LOG.warning("several Vertex models carry %s=%s; using the oldest", MODEL_LABEL, model_name)
        return min(candidates, key=lambda n: (candidates[n], n))

    # ------------------------------------------------------------------------------------------- endpoints

    def _endpoint_for_deploy(self, sdk: _Sdk, record: EndpointRecord) -> Any:
        """Return the record's Vertex endpoint, else the one named like it, else a new one."""
        if record.target_ref:
            return self._fetch_endpoint(sdk, record.target_ref)
        found = self._named_endpoint(sdk, record.name)
        if found is not None:
            return found
        aiplatform = sdk.aiplatform
        with self._translating(sdk, f"create the Vertex endpoint {record.name}"):
            # The GAPIC call that Endpoint.create wraps, so that its operation is waited for without a limit.
            operation = self._client(sdk, "EndpointClientWithOverride").create_endpoint(
                parent=self._parent(),
                endpoint=aiplatform.gapic.Endpoint(
                    display_name=record.name,
                    description=f"endpoint {record.name} of the model registry",
                    labels={ENDPOINT_LABEL: record.name},
                ),
            )
            created = _wait(operation)
        return self._fetch_endpoint(sdk, str(created.name))

    def _named_endpoint(self, sdk: _Sdk, name: str) -> Any | None:
        """Return the Vertex endpoint displayed as `name` (preferring ours, by label) in this location, or None."""
        with self._translating(sdk, f"look up the Vertex endpoint {name}"):
            found = sdk.aiplatform.Endpoint.list(
                filter=f'display_name="{name}"',
                project=self.project,
                location=self.location,
                credentials=sdk.credentials,
            )
        if not found:
            return None
        ours = [e for e in found if dict(e.labels).get(ENDPOINT_LABEL) == name] or list(found)
        if len(ours) > 1:
            names = sorted(str(e.resource_name) for e in ours)
            msg = f"several Vertex endpoints are named {name!r} ({', '.join(names)}); delete the extra ones"
            raise DeploymentError(msg)
        return ours[0]

    def _check_endpoint_region(self, record: EndpointRecord) -> None:
        """Refuse to work in another region than the record's Vertex endpoint: models serve only in their region."""
        where = location_of(record.target_ref) if record.target_ref else None
        if where is not None and where != self.location:
            msg = (
                f"endpoint {record.name!r} is a Vertex AI endpoint in {where} ({record.target_ref}), and a model "
                f"serves only on endpoints of the region it is uploaded to: use location {where}, not {self.location}"
            )
            raise RegionMismatchError(msg)

    def _existing_endpoint(self, sdk: _Sdk, record: EndpointRecord) -> Any:
        """Return the record's Vertex endpoint, freshly read."""
        if not record.target_ref:
            msg = f"endpoint {record.name!r} has no Vertex endpoint recorded; deploy a model to it first"
            raise DeploymentError(msg)
        return self._fetch_endpoint(sdk, record.target_ref)

    def _cached_endpoint(self, sdk: _Sdk, record: EndpointRecord) -> Any:
        """Return the record's Vertex endpoint, read once per target (predictions need only its name)."""
        if not record.target_ref:
            msg = f"endpoint {record.name!r} has no Vertex endpoint recorded; deploy a model to it first"
            raise DeploymentError(msg)
        if record.target_ref not in self._endpoints:
            self._endpoints[record.target_ref] = self._fetch_endpoint(sdk, record.target_ref)
        return self._endpoints[record.target_ref]

    def _fetch_endpoint(self, sdk: _Sdk, resource_name: str) -> Any:
        with self._translating(sdk, f"read the Vertex endpoint {resource_name}"):
            vertex_endpoint = sdk.aiplatform.Endpoint(resource_name, credentials=sdk.credentials)
            _ = vertex_endpoint.gca_resource  # the constructor is lazy: read it now, inside the translation
        return vertex_endpoint

    def _lookup_endpoint(self, sdk: _Sdk, resource_name: str) -> Any | None:
        """Return the Vertex endpoint `resource_name`, or None if it does not exist (any more)."""
        from google.api_core import exceptions as api_exceptions

        try:
            return self._fetch_endpoint(sdk, resource_name)
        except DeploymentError as exc:
            if isinstance(exc.__cause__, api_exceptions.NotFound):
                return None
            raise

    def _wait_for_operations(self, sdk: _Sdk, vertex_endpoint: Any) -> bool:
        """Wait (without a limit) until no operation is in progress on the endpoint; return True if one was.

        A deploy or undeploy that another client started (perhaps one that died since) changes the endpoint only
        when it is done; comparing before that would miss it, and a retry would deploy a second copy.
        """
        from google.api_core.retry import exponential_sleep_generator

        client = vertex_endpoint.api_client
        name = vertex_endpoint.resource_name
        pending: list[str] = []
        with self._translating(sdk, f"list the operations of {name}"):
            token = ""
            while True:
                page = client.list_operations(request={"name": name, "page_token": token})
                pending += [op.name for op in page.operations if not op.done]
                token = page.next_page_token
                if not token:
                    break
        for operation in pending:
            _LOG.warning("waiting for Vertex AI to finish %s (a deployment takes 10-30 minutes)", operation)
            delays = exponential_sleep_generator(initial=1.0, maximum=20.0, multiplier=1.5)  # as api-core polls
            with self._translating(sdk, f"follow the operation {operation}"):
                while not client.get_operation(request={"name": operation}).done:
                    time.sleep(next(delays))
        return bool(pending)

    def _registry_version(self, sdk: _Sdk, target_ref: str, versions: VersionLookup) -> ModelMetadata | None:
        """Return the registry version that a Vertex model version's labels name, or None if it is not one."""
        base, _, version_id = target_ref.partition("@")
        with self._translating(sdk, f"read the Vertex model version {target_ref}"):
            model = sdk.aiplatform.Model(base, version=version_id or None, credentials=sdk.credentials)
            labels = dict(model.labels)
        name, version, digest = (labels.get(k, "") for k in (MODEL_LABEL, VERSION_LABEL, DIGEST_LABEL))
        if not (name and version and digest):
            return None
        metadata = versions(name, version)
        return metadata if metadata is not None and _digest_label(metadata.artifact_digest) == digest else None

    # ------------------------------------------------------------------------------------------- predictions

    def _predict_once(self, sdk: _Sdk, vertex_endpoint: Any, instances: list[Any]) -> Any:
        with self._translating(sdk, f"predict on {vertex_endpoint.resource_name}"):
            return vertex_endpoint.predict(instances=instances)

    @staticmethod
    def _prediction(record: EndpointRecord, answer: Any) -> Prediction:
        deployed_id = str(answer.deployed_model_id)
        try:
            version = record.deployment(deployed_id).version
        except KeyError:  # deployed outside the registry
            version = ""
        predictions = list(answer.predictions)
        # the serving container puts the ids in the response's metadata, the part of its answer that Vertex AI
        # passes on (see registry_core.deploy.http_app); the SDK gives it as a dict
        metadata = answer.metadata if isinstance(answer.metadata, dict) else {}
        return Prediction(
            predictions=predictions,
            deployed_model_id=deployed_id,
            model_version=version,
            prediction_ids=prediction_ids(metadata.get("predictionIds"), len(predictions)),
        )

    # ------------------------------------------------------------------------------------------- the SDK

    def _sdk(self) -> _Sdk:
        """Import and configure google-cloud-aiplatform (once per target)."""
        if self._loaded is not None:
            return self._loaded
        try:
            import requests
            from google.api_core import exceptions as api_exceptions
            from google.auth import exceptions as auth_exceptions
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import aiplatform
        except ImportError as exc:
            raise DependencyMissingError(_INSTALL_HINT) from exc
        local = is_local_endpoint(self.api_endpoint)
        credentials = AnonymousCredentials() if local else None  # type: ignore[no-untyped-call]
        if self.api_endpoint:
            # REST, always: an http:// endpoint only works over REST. Some SDK calls (e.g. reading the model that
            # Model.upload created) use the global credentials, so a local stand-in's anonymous ones go there too.
            init: dict[str, Any] = {"api_endpoint": self.api_endpoint, "api_transport": "rest"}
            if credentials is not None:
                init["credentials"] = credentials
            aiplatform.init(**init)
        errors: tuple[type[BaseException], ...] = (
            api_exceptions.GoogleAPICallError,  # HTTP/gRPC errors (NotFound, BadRequest...)
            api_exceptions.RetryError,  # retries or a long-running operation timed out
            auth_exceptions.GoogleAuthError,  # no or unusable credentials
            requests.exceptions.RequestException,  # unreachable endpoint
            ValueError,  # the SDK's own argument checks (e.g. a split that does not sum to 100)
        )
        self._loaded = _Sdk(aiplatform=aiplatform, errors=errors, credentials=credentials)
        return self._loaded

    def _client(self, sdk: _Sdk, kind: str) -> Any:
        """Return a GAPIC client (``ModelClientWithOverride``...) for this target's location and credentials."""
        config = sdk.aiplatform.initializer.global_config
        client_class = getattr(sdk.aiplatform.utils, kind)
        return config.create_client(
            client_class=client_class, credentials=sdk.credentials, location_override=self.location
        )

    def _parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def _translating(self, sdk: _Sdk, what: str) -> AbstractContextManager[None]:
        """Turn SDK and API errors raised inside into a one-line DeploymentError chained to them."""

        def translate(exc: Exception) -> DeploymentError | None:
            if isinstance(exc, sdk.errors):
                return DeploymentError(one_line(f"Vertex AI could not {what}: {api_message(exc)}"))
            return None

        return translated_errors(translate)


# ----------------------------------------------------------------------------------------------- helpers


def _wait(operation: Any) -> Any:
    """Return the result of a long-running operation, waiting as long as it takes.

    ``operation.result()`` alone gives up after api-core's default 900 s with a TimeoutError, while Vertex AI carries
    on; deployments take 10-30 minutes. Failures still raise (the operation's error as a GoogleAPICallError).
    """
    return operation.result(timeout=None)


def _utc(value: Any) -> datetime | None:
    """Return a protobuf timestamp (proto-plus datetime) as a plain UTC datetime, None if unset."""
    if not value:
        return None
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _text(value: object, what: str) -> str:
    # Settings are kept in the endpoint's record: bounded, so that the record always reads back.
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_SETTING or not value.isprintable():
        msg = (
            f"the Vertex AI setting {what} must be a non-empty printable string of at most {_MAX_SETTING} "
            f"characters, got {shown(value)}"
        )
        raise InvalidInputError(msg)
    return value.strip()


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_REPLICAS:
        msg = f"the Vertex AI setting {what} must be an integer from 1 to {_MAX_REPLICAS}, got {shown(value)}"
        raise InvalidInputError(msg)
    return value


def is_local_endpoint(api_endpoint: str | None) -> bool:
    """True for an ``http://`` endpoint on this machine (the test stand-in)."""
    if not api_endpoint:
        return False
    parts = urlsplit(api_endpoint)
    return parts.scheme == "http" and (parts.hostname or "") in _LOCAL_HOSTS


def _label_value(version: str) -> str:
    """Return a Google label value for a version label: "v1.2.0" -> "v1-2-0"."""
    return re.sub(r"[^a-z0-9_-]+", "-", version.lower()).strip("-")[:63]


def _version_alias(version: str) -> str:
    """Return a Vertex version alias for a version label ("v3", "v1-2-0"): a letter first, no dots."""
    alias = re.sub(r"[^a-z0-9-]+", "-", version.lower()).strip("-")
    return alias if alias[:1].isalpha() else f"v{alias}"


def _digest_label(digest: str) -> str:
    """Return the first 32 hex digits of a "sha256:..." digest (label values hold at most 63 characters)."""
    return digest.rpartition(":")[2].lower()[:32]


def _aliases(metadata: ModelMetadata) -> list[str]:
    """The version aliases of `metadata`: its version, its stage (unless archived), and "default" in production."""
    aliases = [_version_alias(metadata.version)]
    if metadata.stage in STAGE_ALIASES:
        aliases.append(metadata.stage.value)
    if metadata.stage is ModelStage.PRODUCTION:
        aliases.append("default")
    return aliases


def _routed_attempts(share: int) -> int:
    """How many predictions to send through the endpoint to reach a model with `share` percent of the traffic."""
    if share >= 100:
        return 1
    random_routing = math.ceil(math.log(ROUTED_PREDICT_MISS_PROBABILITY) / math.log(1 - share / 100))
    return min(ROUTED_PREDICT_MAX_ATTEMPTS, max(ROUTED_PREDICT_CYCLE, random_routing))
