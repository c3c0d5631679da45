"""The KServe target: one InferenceService per endpoint; each deployment is a revision of its predictor.

The InferenceService (``serving.kserve.io/v1beta1``) has the registry endpoint's name and runs the serving image
(``model-registry serve-container``, KServe custom predictor mode) with ``STORAGE_URI`` = the version's artifact
URI and the version's name and digest in its environment (and, on a ``gs://`` registry, ``REGISTRY_ROOT``, the
registry endpoint ``REGISTRY_ENDPOINT`` and ``REGISTRY_LOG_SAMPLE_RATE``, so that it logs its predictions there).
A deployment's id is the Knative revision KServe made for it (``shop-predictor-00002``). Deploying patches the
predictor: the new revision gets ``canaryTrafficPercent`` of the traffic and the last rolled-out revision the rest
(no canary field: the new revision gets it all).

KServe splits traffic between two revisions only, the latest and the last rolled out: splits that need more (or a
share for an older revision) are refused with a one-line error. Promoting a canary removes
``canaryTrafficPercent``; rolling it back sets it to 0 (the canary's revision stays latest, with no traffic).
Undeploying the last deployment deletes the InferenceService.

Every change is waited for without a time limit (KServe pulls images and scales pods for minutes): until the
service observed the change, is Ready and its revisions have the expected traffic. ``Ready=False`` with a failure
reason raises, and nothing is recorded. The serving image has to be reachable by tag routing for canary probes:
the InferenceService is annotated ``serving.kserve.io/enable-tag-routing``, so that the latest and previous
revisions each have a URL of their own (``status.components.predictor.traffic[].url``); predictions on one
deployed id go to its URL, the others to the service's URL.

``kubernetes`` is imported inside the methods. Cluster access: ``kube_context`` from the kube config
(``KUBECONFIG``), else the in-cluster service account, else the kube config's current context.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any, ClassVar

from registry_core.deploy.base import (
    NEW_DEPLOYMENT,
    SERVING_IMAGE_VARIABLE,
    DeploymentTarget,
    DeployResult,
    ObservedDeployment,
    ObservedEndpoint,
    Prediction,
    VersionLookup,
    growing_delays,
    prediction_ids,
    require_new_deployment,
    translated_errors,
)
from registry_core.deploy.records import EndpointRecord
from registry_core.errors import DependencyMissingError, DeploymentError, InvalidInputError
from registry_core.metadata import ModelMetadata
from registry_core.text import one_line, shown

__all__ = ["KServeConflictError", "KServeError", "KServeForbiddenError", "KServeTarget"]

_LOG = logging.getLogger(__name__)

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
DEPLOYMENT_ENV = "REGISTRY_DEPLOYMENT"
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"
SERVING_COMMAND = ("model-registry", "serve-container")
# Delays between reads while a change is in progress: short at first, then every 15 s, for as long as it takes.
POLL_INITIAL_SECONDS = 0.05
POLL_MAX_SECONDS = 15.0
_INSTALL_HINT = "deploying to KServe needs the kubernetes client: pip install 'registry-core[k8s]'"
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,43}[a-z0-9])?$")  # a DNS label, short enough for KServe's derived names
_MAX_SETTING = 1024
_PREDICT_TIMEOUT = 120


class KServeError(DeploymentError):
    """The Kubernetes API (or KServe) refused or failed a request."""


class KServeForbiddenError(KServeError):
    """The credentials may not make the request (401/403), or there is no cluster access (no such kube context)."""


class KServeConflictError(KServeError):
    """The InferenceService changed under the request (409), or already exists."""


class KServeTarget(DeploymentTarget):
    """Endpoints on KServe, configured by the endpoint's (JSON-serializable) target settings.

    Args:
        namespace: Kubernetes namespace of the InferenceServices.
        image: The serving image; by default REGISTRY_SERVING_IMAGE (deploying needs one).
        kube_context: Context of the kube config to use (default: in-cluster, else the current context).
        api_endpoint: A Kubernetes API server URL to use without credentials (a local stand-in, for tests).
        log_sample_rate: Share of requests whose predictions the predictor logs, 0 to 1 (None: all, within the
            logger's hourly cap).

    Raises:
        InvalidInputError: a setting is malformed.
    """

    kind: ClassVar[str] = "kserve"

    def __init__(
        self,
        namespace: str = "default",
        image: str | None = None,
        kube_context: str | None = None,
        api_endpoint: str | None = None,
        log_sample_rate: float | None = None,
    ) -> None:
        from registry_core.deploy.container_settings import check_sample_rate

        self.namespace = _text(namespace, "namespace")
        if not _NAME.match(self.namespace):
            msg = f"the KServe namespace must be a Kubernetes name (lowercase letters, digits, '-'): {shown(namespace)}"
            raise InvalidInputError(msg)
        found_image = image or os.environ.get(SERVING_IMAGE_VARIABLE)
        self.image = _text(found_image, "image") if found_image else None
        self.kube_context = _text(kube_context, "kube_context") if kube_context is not None else None
        self.api_endpoint = _text(api_endpoint, "api_endpoint") if api_endpoint is not None else None
        self.log_sample_rate = check_sample_rate(log_sample_rate)
        self._api: Any = None

    def __repr__(self) -> str:
        return f"KServeTarget(namespace={self.namespace!r}, kube_context={self.kube_context!r})"

    def recorded_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Return `settings` with the namespace and the image taken from the environment, if it was."""
        return dict(settings) | {"namespace": self.namespace} | ({"image": self.image} if self.image else {})

    def check_deployable(self, metadata: ModelMetadata) -> None:
        """Refuse to deploy without a serving image. Raises: DeploymentError."""
        if self.image is None:
            msg = f"the KServe target needs a serving image: --serving-image or {SERVING_IMAGE_VARIABLE}"
            raise DeploymentError(msg)

    def needs_local_artifacts(self) -> bool:
        """False: the predictor reads the version's artifacts at STORAGE_URI itself."""
        return False

    # ------------------------------------------------------------------------------------------- the interface

    def deploy(
        self, endpoint: EndpointRecord, metadata: ModelMetadata, artifacts: Path | None, traffic: dict[str, int]
    ) -> DeployResult:
        """Create the InferenceService, or patch its predictor so that a new revision serves `metadata`.

        Raises:
            DeploymentError: a split KServe cannot make, or the API refused, or the new revision failed.
        """
        self.check_deployable(metadata)
        require_new_deployment(traffic)
        name = self._service_name(endpoint)
        percent = traffic[NEW_DEPLOYMENT]
        others = {k: v for k, v in traffic.items() if k != NEW_DEPLOYMENT and v > 0}
        current = self._settled(name, tolerate_failure=True)  # a failed canary before: this deploy replaces it
        predictor = self._predictor(metadata, endpoint.name)
        if current is None:
            if others:
                msg = f"the KServe service {self.namespace}/{name} does not exist: it cannot keep {shown(others)}"
                raise KServeError(msg)
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "InferenceService",
                "metadata": {"name": name, "namespace": self.namespace, "annotations": {TAG_ROUTING: "true"}},
                "spec": {"predictor": predictor},
            }
            with self._translating(f"create the InferenceService {self.namespace}/{name}"):
                created = self._custom().create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)
            generation = int(created["metadata"].get("generation", 1))
        else:
            rolled = _predictor_status(current).get("latestRolledoutRevision")
            if percent < 100 and set(others) != {rolled}:
                raise KServeError(_two_revisions(name, others, rolled))
            predictor["canaryTrafficPercent"] = percent if percent < 100 else None
            generation = self._patch(name, current, {"spec": {"predictor": predictor}})
        settled = self._settled(name, generation=generation, must_exist=True)
        assert settled is not None  # must_exist
        revision = str(_predictor_status(settled).get("latestCreatedRevision", ""))
        settled = self._wait_traffic(name, {revision: percent}, generation)
        _LOG.info("deployed %s %s as revision %s of %s/%s", metadata.model_name, metadata.version, revision,
                  self.namespace, name)  # fmt: skip
        return DeployResult(
            deployed_id=revision, target_ref=revision, endpoint_ref=f"{self.namespace}/{name}", image=self.image or ""
        )

    def set_traffic(self, endpoint: EndpointRecord, traffic: dict[str, int]) -> None:
        """Split the traffic between the latest and the last rolled-out revisions (canaryTrafficPercent).

        Raises:
            DeploymentError: the split names other revisions (KServe splits between two only), or the API failed.
        """
        name = self._service_name(endpoint)
        current = self._settled(name, must_exist=True, tolerate_failure=True)
        assert current is not None  # must_exist
        status = _predictor_status(current)
        latest, rolled = str(status.get("latestCreatedRevision", "")), str(status.get("latestRolledoutRevision", ""))
        wanted = {k: v for k, v in traffic.items() if v > 0}
        if self._served(current) == wanted:
            return
        if not set(wanted) <= {latest, rolled} or (latest == rolled and wanted.get(latest, 0) < 100):
            raise KServeError(_two_revisions(name, wanted, rolled, latest))
        canary = wanted.get(latest, 0)
        generation = self._patch(
            name, current, {"spec": {"predictor": {"canaryTrafficPercent": canary if canary < 100 else None}}}
        )
        # Rolling a failed canary back leaves its revision latest and not Ready: only the traffic matters then.
        self._wait_traffic(name, wanted, generation, tolerate_failure=latest not in wanted)

    def undeploy(self, endpoint: EndpointRecord, deployed_id: str, traffic: dict[str, int]) -> None:
        """Take `deployed_id`'s traffic away (its revision stays, for Knative to collect), or delete the service.

        Raises:
            DeploymentError: the API refused or failed.
        """
        name = self._service_name(endpoint)
        current = self._settled(name, tolerate_failure=True)
        if current is None:
            _LOG.warning("the KServe service %s/%s is gone; nothing to undeploy", self.namespace, name)
            return
        if not {k: v for k, v in traffic.items() if v > 0}:
            with self._translating(f"delete the InferenceService {self.namespace}/{name}"):
                self._custom().delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
            return
        self.set_traffic(endpoint, traffic)

    def observe(self, endpoint: EndpointRecord, versions: VersionLookup) -> ObservedEndpoint:
        """Return the revisions with traffic and their shares, once the service's change in progress is done.

        A revision the record lacks gets the registry version named in the predictor's environment if it is the
        latest revision (a deploy whose client died before recording it); an older unrecorded one gets none.

        Raises:
            DeploymentError: the API refused or failed.
        """
        name = self._service_name(endpoint)
        current = self._settled(name, tolerate_failure=True)
        if current is None:
            return ObservedEndpoint(endpoint_ref="")
        served = self._served(current)
        status = _predictor_status(current)
        latest = status.get("latestCreatedRevision")
        recorded = {d.id for d in endpoint.deployments}
        observed = []
        for revision in served:
            metadata = None
            if revision not in recorded and revision == latest:
                metadata = self._spec_version(current, versions)
            observed.append(
                ObservedDeployment(
                    id=revision, target_ref=revision, metadata=metadata, description=f"revision {revision}"
                )
            )
        return ObservedEndpoint(endpoint_ref=f"{self.namespace}/{name}", deployments=tuple(observed), traffic=served)

    def predict(self, endpoint: EndpointRecord, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        """POST ``{"instances": [...]}`` to the service's KServe v1 route (or to revision `deployed_id`'s tag URL).

        Raises:
            DeploymentError: no URL, the predictor failed, or the answer is not ``{"predictions": [...]}``.
        """
        name = self._service_name(endpoint)
        current = self._get(name)
        if current is None:
            msg = f"the KServe service {self.namespace}/{name} does not exist"
            raise KServeError(msg)
        url = str(current.get("status", {}).get("url", ""))
        served = deployed_id
        if deployed_id is not None:
            routes = [t for t in _predictor_status(current).get("traffic", []) if t.get("revisionName") == deployed_id]
            url = str(routes[0].get("url", "")) if routes else ""
        if not url:
            msg = f"the KServe service {self.namespace}/{name} has no URL for {shown(deployed_id or name)} yet"
            raise KServeError(msg)
        model = _env(current).get("REGISTRY_MODEL_NAME", "model")
        request = urllib.request.Request(  # noqa: S310 - the URL KServe reported
            f"{url.rstrip('/')}/v1/models/{model}:predict",
            data=json.dumps({"instances": instances}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=_PREDICT_TIMEOUT) as answer:  # noqa: S310
                body = answer.read()
                served = answer.headers.get("X-Revision") or served
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace")
            raise KServeError(one_line(f"the KServe predictor at {url} answered {exc.code}: {detail}")) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise KServeError(one_line(f"the KServe predictor at {url} is unreachable: {exc}")) from exc
        try:
            answered = json.loads(body)
            predictions = answered["predictions"]
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"the KServe predictor at {url} answered no JSON predictions: {shown(body[:200])}"
            raise KServeError(msg) from exc
        served = served or ""
        try:
            version = endpoint.deployment(served).version
        except KeyError:
            version = ""
        ids = prediction_ids(answered.get("predictionIds"), len(predictions))
        return Prediction(
            predictions=list(predictions), deployed_model_id=served, model_version=version, prediction_ids=ids
        )

    # ------------------------------------------------------------------------------------------- the service

    def _service_name(self, endpoint: EndpointRecord) -> str:
        if endpoint.target_ref:
            return endpoint.target_ref.rpartition("/")[2]
        if _NAME.match(endpoint.name):
            return endpoint.name
        # Not a DNS label ("shop_eu", a long name): a cleaned name plus a hash of the real one, so that two endpoints
        # never share an InferenceService ("shop_eu" and "shop-eu").
        cleaned = re.sub(r"[^a-z0-9]+", "-", endpoint.name.lower()).strip("-")[:34].strip("-")
        digest = hashlib.sha256(endpoint.name.encode()).hexdigest()[:8]
        return f"e-{cleaned}-{digest}" if cleaned else f"e-{digest}"

    def _predictor(self, metadata: ModelMetadata, endpoint_name: str) -> dict[str, Any]:
        """The custom predictor that serves `metadata` on `endpoint_name`: serve-container reading STORAGE_URI."""
        from registry_core.deploy.container_settings import (
            DIGEST_ENV,
            MODEL_NAME_ENV,
            MODEL_VERSION_ENV,
            prediction_log_env,
        )

        env = {
            "STORAGE_URI": metadata.artifact_uri,
            MODEL_NAME_ENV: metadata.model_name,
            MODEL_VERSION_ENV: metadata.version,
            DIGEST_ENV: metadata.artifact_digest,  # the container refuses files that are not these
            # Unique per deploy: a spec equal to the latest one (a version deployed again after its canary was
            # rolled back) would make no new revision, and the deploy would get the old, undeployed, id.
            DEPLOYMENT_ENV: uuid.uuid4().hex[:12],
            **prediction_log_env(self.registry_root, endpoint_name, self.log_sample_rate),
        }
        container = {
            "name": "kserve-container",
            "image": self.image,
            "command": list(SERVING_COMMAND),
            "args": ["--platform", "kserve"],
            "env": [{"name": k, "value": v} for k, v in env.items()],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        }
        return {"containers": [container]}

    def _spec_version(self, service: dict[str, Any], versions: VersionLookup) -> ModelMetadata | None:
        env = _env(service)
        name, version, digest = (env.get(k, "") for k in ("REGISTRY_MODEL_NAME", "REGISTRY_MODEL_VERSION",
                                                          "REGISTRY_ARTIFACT_DIGEST"))  # fmt: skip
        if not (name and version and digest):
            return None
        metadata = versions(name, version.replace(".", "-"))
        return metadata if metadata is not None and metadata.artifact_digest == digest else None

    def _served(self, service: dict[str, Any]) -> dict[str, int]:
        traffic = _predictor_status(service).get("traffic", [])
        return {str(t["revisionName"]): int(t.get("percent", 0)) for t in traffic if int(t.get("percent", 0)) > 0}

    def _patch(self, name: str, current: dict[str, Any], change: dict[str, Any]) -> int:
        """Merge-patch the service, guarded by the resourceVersion we read; return the new generation."""
        body = change | {"metadata": {"resourceVersion": current["metadata"].get("resourceVersion")}}
        with self._translating(f"patch the InferenceService {self.namespace}/{name}"):
            patched = self._custom().patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name, body)
        return int(patched["metadata"].get("generation", 1))

    def _wait_traffic(
        self, name: str, expected: dict[str, int], generation: int, *, tolerate_failure: bool = False
    ) -> dict[str, Any]:
        """Wait until each revision of `expected` gets its percent. Raises: KServeError if the service changed."""
        delays = growing_delays(POLL_INITIAL_SECONDS, POLL_MAX_SECONDS)
        while True:
            settled = self._settled(name, generation=generation, must_exist=True, tolerate_failure=tolerate_failure)
            assert settled is not None  # must_exist
            served = self._served(settled)
            if all(served.get(k, 0) == v for k, v in expected.items()):
                return settled
            if int(settled["metadata"].get("generation", 0)) != generation:
                msg = f"the KServe service {self.namespace}/{name} was changed by someone else while it rolled out"
                raise KServeConflictError(msg)
            time.sleep(next(delays))

    def _settled(
        self, name: str, *, generation: int = 0, must_exist: bool = False, tolerate_failure: bool = False
    ) -> dict[str, Any] | None:
        """Wait, without a time limit, until the service observed `generation` and is Ready (None: no service).

        Raises:
            KServeError: Ready is False with a failure reason, or the service is gone and `must_exist`.
        """
        delays = growing_delays(POLL_INITIAL_SECONDS, POLL_MAX_SECONDS)
        started = time.monotonic()
        while True:
            service = self._get(name)
            if service is None:
                if must_exist:
                    msg = f"the KServe service {self.namespace}/{name} disappeared while it was changing"
                    raise KServeError(msg)
                return None
            status = service.get("status", {})
            ready: dict[str, Any] = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})
            observed = int(status.get("observedGeneration", 0)) >= max(generation, 1)
            if observed and ready.get("status") == "True":
                return service
            if observed and ready.get("status") == "False" and ready.get("reason") and not tolerate_failure:
                msg = one_line(
                    f"the KServe service {self.namespace}/{name} failed: {ready['reason']}: "
                    f"{ready.get('message', 'no message')} (its last rolled-out revision keeps serving)"
                )
                raise KServeError(msg)
            if observed and tolerate_failure and ready.get("status") == "False":
                return service
            _LOG.info("KServe service %s/%s is not ready (%.0f s); waiting", self.namespace, name,
                      time.monotonic() - started)  # fmt: skip
            time.sleep(next(delays))

    def _get(self, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            with self._translating(f"read the InferenceService {self.namespace}/{name}"):
                found: dict[str, Any] = self._custom().get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name
                )
        except KServeError as exc:
            if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 404:
                return None
            raise
        return found

    # ------------------------------------------------------------------------------------------- kubernetes

    def _custom(self) -> Any:
        if self._api is None:
            try:
                from kubernetes import client, config
            except ImportError as exc:
                raise DependencyMissingError(_INSTALL_HINT) from exc
            if self.api_endpoint is not None:
                configuration = client.Configuration()
                configuration.host = self.api_endpoint
                api_client = client.ApiClient(configuration)
            else:
                api_client = self._configured_client(client, config)
            self._api = client.CustomObjectsApi(api_client)
        return self._api

    def _configured_client(self, client: Any, config: Any) -> Any:
        """An API client from the kube config's `kube_context`, or in-cluster, or the current context."""
        try:
            if self.kube_context is None:
                try:
                    configuration = client.Configuration()
                    config.load_incluster_config(client_configuration=configuration)
                    return client.ApiClient(configuration)
                except config.ConfigException:
                    pass
            # KUBECONFIG read now (the client reads it once, at import); persist_config=False: never rewrite the
            # user's kube config (refreshed tokens stay in memory).
            return config.new_client_from_config(
                config_file=os.environ.get("KUBECONFIG") or None, context=self.kube_context, persist_config=False
            )
        except (config.ConfigException, OSError, ValueError) as exc:
            msg = one_line(f"no Kubernetes access for context {shown(self.kube_context or '(current)')}: {exc}")
            raise KServeForbiddenError(msg) from exc

    def _translating(self, what: str) -> AbstractContextManager[None]:
        """Turn kubernetes client errors raised inside into a one-line KServeError subclass chained to them."""
        return translated_errors(functools.partial(_kserve_error, what))


# ----------------------------------------------------------------------------------------------- helpers


def _kserve_error(what: str, exc: Exception) -> KServeError | None:
    """The KServeError that says what went wrong in `exc`, a kubernetes client error, or None for others."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, ApiException):
        message = str(exc.reason or "")
        with suppress(ValueError, AttributeError):  # a Status object's message, when the body is one
            message = str(json.loads(exc.body or "{}").get("message") or message)
        kind: type[KServeError] = KServeError
        if exc.status in {401, 403}:
            kind = KServeForbiddenError
        elif exc.status == 409:
            kind = KServeConflictError
        return kind(one_line(f"KServe could not {what}: {exc.status} {message}"))
    if isinstance(exc, HTTPError | OSError):
        return KServeError(one_line(f"KServe could not {what}: {exc}"))
    return None


def _predictor_status(service: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = service.get("status", {}).get("components", {}).get("predictor", {})
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    containers = service.get("spec", {}).get("predictor", {}).get("containers", [{}])
    return {str(e.get("name")): str(e.get("value", "")) for e in (containers[0] if containers else {}).get("env", [])}


def _two_revisions(name: str, wanted: dict[str, int], rolled: object, latest: object = None) -> str:
    return one_line(
        f"KServe splits traffic between two revisions only, the latest and the last rolled out "
        f"({latest or 'the new one'} and {rolled or 'none'}); {name} cannot serve {shown(wanted)}: promote or "
        f"roll back the canary first"
    )


def _text(value: object, what: str) -> str:
    # Settings are kept in the endpoint's record: bounded, so that the record always reads back.
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_SETTING or not value.isprintable():
        msg = (
            f"the KServe setting {what} must be a non-empty printable string of at most {_MAX_SETTING} "
            f"characters, got {shown(value)}"
        )
        raise InvalidInputError(msg)
    return value.strip()
