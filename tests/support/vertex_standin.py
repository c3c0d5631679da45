"""A local stand-in for the few Vertex AI REST endpoints the registry calls (Vertex AI has no emulator).

Point the real ``google-cloud-aiplatform`` SDK at it with::

    aiplatform.init(project="test-project", location="us-central1", api_endpoint=standin.url,
                    api_transport="rest", credentials=AnonymousCredentials())

The SDK keeps the ``http://`` scheme of such an endpoint when the transport is REST (gRPC would need TLS), sends
``/v1/...`` (or ``/v1beta1/...``) paths and parses JSON answers with unknown fields ignored; it polls long-running
operations at ``GET /ui/{operation name}`` (the first path binding of api-core's REST operations client).

Long-running operations (model upload, endpoint creation, deploy, undeploy) behave as the service's do: the request
is checked at once, the change happens when the operation completes, and until then nothing of it is visible (a
deployed model appears on its endpoint, with its traffic split, when the deployment is done). By default they
complete when created; `VertexStandIn.operation_polls` makes each answer "not done" (no ``done`` field) to that
many polls first, `VertexStandIn.operation_seconds` makes each take that long, and response types in
`VertexStandIn.held` (e.g. ``"DeployModelResponse"``) wait until the test removes them or calls
`VertexStandIn.finish_operations` - the service carries on whether or not the client that started an operation is
still polling it. `VertexStandIn.fail_next` makes the next operation of a type end with an error half-way.

Implemented (all under ``/{v1|v1beta1|ui}/projects/{project}/locations/{location}/``):

* ``pipelineJobs`` create (``?pipelineJobId=``), get, list. A created job is ``PIPELINE_STATE_RUNNING``; the first
  get moves it to `VertexStandIn.pipeline_final_state` (``PIPELINE_STATE_SUCCEEDED`` unless a test changes it).
* ``schedules`` create (a cron schedule with a ``createPipelineJobRequest``, checked like a pipeline job), get, list.
* ``models:upload`` (new model, or a new version ``<id>@<n>`` with ``parentModel``), ``models`` list,
  ``models/{id}[@version|@alias]`` get, ``:listVersions``, ``:mergeVersionAliases``. Version aliases are unique per
  model: giving another version an alias moves it; the first version always gets ``default``. With
  `VertexStandIn.bucket_location`, an upload whose ``gs://`` artifact bucket is not in the model's region (a
  multi-region included) is refused with the service's FAILED_PRECONDITION message. The model's ``containerSpec``
  (image, command, ports, routes, env) is checked and kept whole with the version, for tests to read.
* ``endpoints`` create, get, list, patch (``?updateMask=`` of ``trafficSplit``, ``displayName``, ``description``,
  ``labels``; an ``etag`` in the body must be the current one, as ``Endpoint.update`` sends it), ``:deployModel``
  (of a model version in the endpoint's own project and region only), ``:undeployModel``, ``:predict``.
  Deploying, undeploying and patching change the endpoint's ``etag``.
* ``.../operations/{id}`` get, and ``endpoints/{id}/operations`` list (done and in progress).
* Artifact Registry's Kubeflow Pipelines template host, ``https://{location}-kfp.pkg.dev/{project}/{repo}``, served
  at the path ``/{location}-kfp.pkg.dev/{project}/{repo}`` (give kfp's ``RegistryClient`` that URL): a multipart
  ``POST`` (field ``content``, optional comma-separated ``tags``) makes the version ``sha256:<digest>`` of the
  package named after the pipeline and answers ``{package}/{version}``; ``GET .../{package}/{version or tag}``
  downloads it. Repositories must be created first (`VertexStandIn.kfp_repositories`).
* Artifact Registry's API ``https://artifactregistry.googleapis.com/v1/...``, served at the path
  ``/artifactregistry.googleapis.com/v1/...``: ``GET projects/{p}/locations/{l}/repositories/{r}/packages/{pkg}/tags/
  {tag}``, which the Vertex target asks before it uploads a model with the project's serving image. An image pushed
  with `VertexStandIn.push_image` answers 200 with the tag (``name``, and ``version`` naming
  ``.../versions/sha256:<digest>``); any other tag 404 ``Requested entity was not found.``; every tag of a
  repository in `VertexStandIn.image_denied` 403 ``Permission 'artifactregistry.tags.get' denied on resource
  '//artifactregistry.googleapis.com/...' (or it may not exist).``, as the service answers a caller without
  ``roles/artifactregistry.reader`` (and, to hide what exists, a repository that does not exist).

Every request is validated (resource names, traffic splits summing to 100 over existing deployed model ids, alias
format and uniqueness, labels, pipeline parameters, cron schedules) and recorded in `VertexStandIn.requests`. A bad
request gets a 400 and an unknown resource a 404, both with a Google-style body
``{"error": {"code": ..., "message": ..., "status": ...}}`` that the SDK raises as ``google.api_core.exceptions``
(by HTTP status over REST: a FAILED_PRECONDITION answer is a ``BadRequest``); a failed operation carries the gRPC
code, which api-core raises by that code (``FailedPrecondition``).

The state (``pipeline_jobs``, ``schedules``, ``models``, ``endpoints``, ``operations``, ``kfp_packages``) is plain
JSON-shaped dicts that tests may read; take `VertexStandIn.lock` if you read while SDK calls run on other threads.

Use `isolated_aiplatform_config` around tests that call ``aiplatform.init``: the SDK's global configuration cannot be
unset through ``init`` (an ``api_endpoint`` or credentials would leak into later tests), and
``PipelineJob.submit()`` asks Cloud Resource Manager (real Google, over gRPC, with the *global* credentials or ADC)
for the project number to check who owns the pipeline-root bucket; with global anonymous credentials and no network
that call retries for 60 s. With a fresh configuration and ADC made unavailable it fails at once (the SDK logs it).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import itertools
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from support.background_server import BackgroundServer

JSON = dict[str, Any]
Predictor = Callable[[JSON, list[Any], Any], list[Any] | JSON]

_PROJECT = re.compile(r"^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})$")
_LOCATION = re.compile(r"^(?:[a-z]+-[a-z]+[0-9]+|global)$")
_ROUTE = re.compile(
    r"^/(?P<api>v1|v1beta1|ui)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/(?P<collection>[A-Za-z]+)(?:/(?P<id>[^/:]+))?(?P<operations>/operations(?:/(?P<op>[^/:]+))?)?"
    r"(?::(?P<verb>[A-Za-z]+))?$"
)
# Artifact Registry's Kubeflow Pipelines host https://{location}-kfp.pkg.dev/{project}/{repo}, as a path here.
_KFP_ROUTE = re.compile(
    r"^/(?P<location>[a-z]+-[a-z]+[0-9]+)-kfp\.pkg\.dev/(?P<project>[^/]+)/(?P<repo>[^/]+)"
    r"(?:/(?P<package>[^/]+)/(?P<ref>[^/]+))?/?$"
)
# Artifact Registry's API https://artifactregistry.googleapis.com/v1/{tag name}, as a path here.
_AR_TAG_ROUTE = re.compile(
    r"^/artifactregistry\.googleapis\.com/v1/(?P<name>(?P<repository>projects/[^/]+/locations/[^/]+/repositories/"
    r"[^/]+)/packages/[^/]+/tags/[^/]+)$"
)
# An image as Artifact Registry's Docker hosts spell it: {location}-docker.pkg.dev/{project}/{repo}/{package}:{tag}
_AR_IMAGE = re.compile(
    r"^(?P<location>[a-z]+-[a-z]+[0-9]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repo>[^/]+)/(?P<package>[^:@]+)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$"
)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?LW#-]+$")
_GRPC_CODE = {"INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "FAILED_PRECONDITION": 9, "ABORTED": 10}
_JOB_ID = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
_RESOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a Kubernetes container variable
_ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_FILTER_TERM = re.compile(r'^\s*(?P<key>[A-Za-z_][\w.-]*)\s*=\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s"]+))\s*$')
_FILTER_KEYS = {"display_name": "displayName", "displayName": "displayName", "state": "state"}
_PIPELINE_TERMINAL = {
    "PIPELINE_STATE_SUCCEEDED",
    "PIPELINE_STATE_FAILED",
    "PIPELINE_STATE_CANCELLED",
    "PIPELINE_STATE_PAUSED",
}
_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 405: "UNIMPLEMENTED"}
_AIPLATFORM_TYPE = "type.googleapis.com/google.cloud.aiplatform.{api}.{name}"
_ENDPOINT_MASK = {  # updateMask paths of endpoints.patch (camelCase as REST sends them, or snake_case) -> field
    "trafficSplit": "trafficSplit",
    "traffic_split": "trafficSplit",
    "displayName": "displayName",
    "display_name": "displayName",
    "description": "description",
    "labels": "labels",
}


class VertexApiError(Exception):
    """An error answer: HTTP code, Google status name and message."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS.get(code, "UNKNOWN")

    def body(self) -> JSON:
        """Return the Google-style error body."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def _bad(message: str, status: str = "INVALID_ARGUMENT") -> VertexApiError:
    return VertexApiError(400, message, status)


def _not_found(message: str) -> VertexApiError:
    return VertexApiError(404, message)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in received: `path` is URL-decoded and has no query; `body` is the parsed JSON."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    raw_path: str = ""  # as sent, with the query and any %-escapes


@dataclass
class _Operation:
    """A long-running operation that is not done yet: what it will do, and how long it has been waited for."""

    name: str
    api: str
    response_type: str
    finish: Callable[[], JSON]  # applies the change; returns the response, or raises VertexApiError (a failure)
    started: float  # time.monotonic() at creation
    pending_answers: int = 0  # how many polls were answered "not done"


@dataclass
class _Raw:
    """A response that is not JSON (Artifact Registry's upload answer, a downloaded template)."""

    body: bytes
    content_type: str


@dataclass
class _Route:
    api: str
    parent: str  # projects/{p}/locations/{l}
    collection: str
    id: str | None
    op: str | None
    verb: str | None
    query: dict[str, str] = field(default_factory=dict)


class VertexStandIn:
    """A threaded HTTP server on 127.0.0.1 answering the Vertex AI REST calls the registry makes.

    Use as a context manager or call `start`/`stop`. Its threads are daemons, so it never outlives the test run.

    Args:
        pipeline_final_state: The state a pipeline job reaches on its first get after creation.
        predictor: ``(deployed_model, instances, parameters) -> predictions``, or the serving container's whole
            answer (a dict, of which the caller gets ``predictions`` and ``metadata``, as from Vertex AI); the
            default echoes each instance with the id, model and version of the deployed model that answered.
        operation_polls: How many polls of a long-running operation are answered "not done" before it completes
            (0: operations are done when created). Tests may change it while operations are pending.
        operation_seconds: How long (wall time) an operation takes at least before it completes.
        bucket_location: ``bucket name -> location`` (e.g. ``"US-CENTRAL1"``, ``"US"``; None: no such bucket), to
            refuse model uploads from a bucket outside the model's region, as Vertex AI does; None: not checked.
    """

    def __init__(
        self,
        *,
        pipeline_final_state: str = "PIPELINE_STATE_SUCCEEDED",
        predictor: Predictor | None = None,
        operation_polls: int = 0,
        operation_seconds: float = 0.0,
        bucket_location: Callable[[str], str | None] | None = None,
    ) -> None:
        self.pipeline_final_state = pipeline_final_state
        self.predictor: Predictor = predictor or _echo_predictor
        self.operation_polls = operation_polls
        self.operation_seconds = operation_seconds
        self.held: set[str] = set()  # response types (e.g. "DeployModelResponse") whose operations wait for the test
        self.bucket_location = bucket_location
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.pipeline_jobs: dict[str, JSON] = {}
        self.models: dict[str, list[JSON]] = {}  # model name (no version) -> versions, oldest first
        self.endpoints: dict[str, JSON] = {}
        self.operations: dict[str, JSON] = {}
        self.schedules: dict[str, JSON] = {}
        self.kfp_repositories: set[str] = set()  # "{location}/{project}/{repo}" that exist
        self.kfp_packages: dict[str, JSON] = {}  # "{location}/{project}/{repo}/{package}" -> versions and tags
        self.image_tags: dict[str, str] = {}  # Artifact Registry tag name -> its version's name (push_image)
        self.image_denied: set[str] = set()  # "projects/{p}/locations/{l}/repositories/{r}" answering 403
        self._pending: dict[str, _Operation] = {}
        self._failures: dict[str, list[str]] = {}  # response type -> messages of the next operations to fail
        self._ids = itertools.count(1001)
        self._etags = itertools.count(1)
        self._predict_counter: dict[str, int] = {}
        self._background = BackgroundServer(_Handler, name="vertex-standin", owner=self, poll_interval=0.05)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:PORT`` (pass it as ``api_endpoint``)."""
        return self._background.url

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve on a daemon thread."""
        self._background.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._background.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection helpers

    def calls(self, method: str | None = None, path_contains: str | None = None) -> list[RecordedRequest]:
        """Return the recorded requests with this method and/or a path containing `path_contains`."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and (path_contains is None or path_contains in r.path)
            ]

    def model_version(self, model_name: str) -> JSON:
        """Return the stored version for ``projects/.../models/{id}[@version|@alias]``."""
        with self.lock:
            return self._resolve_model(model_name)

    def pending_operations(self) -> dict[str, int]:
        """Return the operations not done yet: name -> how many polls were answered "not done"."""
        with self.lock:
            return {name: op.pending_answers for name, op in self._pending.items()}

    def finish_operations(self) -> None:
        """Complete every pending operation now, as the service does in its own time."""
        with self.lock:
            for name in list(self._pending):
                self._complete(name)

    def push_image(self, image: str, content: bytes = b"an image") -> str:
        """Publish ``{location}-docker.pkg.dev/{project}/{repo}/{package}:{tag}`` in the Artifact Registry stand-in.

        Returns:
            The version the tag names, ``sha256:<digest of content>``.
        """
        match = _AR_IMAGE.match(image)
        if match is None:
            msg = f"not an Artifact Registry image with a tag: {image!r}"
            raise ValueError(msg)
        package = (
            f"projects/{match['project']}/locations/{match['location']}/repositories/{match['repo']}"
            f"/packages/{match['package'].replace('/', '%2F')}"
        )
        version = "sha256:" + hashlib.sha256(content).hexdigest()
        with self.lock:
            self.image_tags[f"{package}/tags/{match['tag']}"] = f"{package}/versions/{version}"
        return version

    def fail_next(self, response_type: str, message: str) -> None:
        """Make the next operation answering `response_type` (e.g. "DeployModelResponse") fail half-way.

        The request is accepted (the operation starts); the operation then ends with a FAILED_PRECONDITION error and
        changes nothing, like a deployment whose model server never becomes healthy.
        """
        with self.lock:
            self._failures.setdefault(response_type, []).append(message)

    # ------------------------------------------------------------------ dispatch

    def handle(
        self, method: str, raw_path: str, raw_body: bytes, content_type: str = "application/json"
    ) -> tuple[int, JSON | _Raw]:
        """Record and answer one request; return (HTTP status, JSON body or a raw one)."""
        split = urlsplit(raw_path)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        tag = _AR_TAG_ROUTE.match(split.path)  # still encoded: a package name's "/" is "%2F" in a tag's name
        if tag is not None:
            with self.lock:
                self.requests.append(RecordedRequest(method, path, query, None, raw_path))
                try:
                    return 200, self._image_tag(method, tag)
                except VertexApiError as exc:
                    return exc.code, exc.body()
        kfp = _KFP_ROUTE.match(path)
        if kfp is not None:  # Artifact Registry's template host: multipart uploads and YAML downloads, not JSON
            with self.lock:
                self.requests.append(RecordedRequest(method, path, query, None, raw_path))
                try:
                    return 200, self._kfp(method, kfp, raw_body, content_type)
                except VertexApiError as exc:
                    return exc.code, exc.body()
        body: Any = None
        parse_error = None
        if raw_body.strip():
            try:
                body = json.loads(raw_body)
            except ValueError as exc:
                parse_error = f"Invalid JSON payload received. {exc}"
        with self.lock:
            self.requests.append(RecordedRequest(method, path, query, body, raw_path))
            self._advance()
            try:
                if parse_error is not None:
                    raise _bad(parse_error)
                if body is not None and not isinstance(body, dict):
                    raise _bad("Invalid JSON payload received. Expected an object.")
                return 200, self._dispatch(method, path, query, body or {})
            except VertexApiError as exc:
                return exc.code, exc.body()

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: JSON) -> JSON:
        match = _ROUTE.match(path)
        if match is None:
            if re.match(r"^/(v1|v1beta1|ui)/", path):
                raise _bad(
                    f"Invalid resource name in {path!r}: expected projects/{{project}}/locations/{{location}}/..."
                )
            raise _not_found(f"The requested URL {path} was not found on this server.")
        project, location = match["project"], match["location"]
        if not _PROJECT.match(project):
            raise _bad(f"Invalid project {project!r} in resource name.")
        if not _LOCATION.match(location):
            raise _bad(f"Invalid location {location!r} in resource name.")
        route = _Route(
            api=match["api"],
            parent=f"projects/{project}/locations/{location}",
            collection=match["collection"],
            id=match["id"],
            op=match["op"],
            verb=match["verb"],
            query=query,
        )
        if route.op is not None or (route.collection == "operations" and route.id is not None):
            if method != "GET" or route.verb is not None:
                raise VertexApiError(405, f"Method {method} {path} is not implemented by the stand-in.")
            return self._get_operation(path.split("/", 2)[2])
        if match["operations"]:  # GET .../endpoints/{id}/operations: the endpoint's operations
            if method != "GET" or route.verb is not None or route.collection != "endpoints" or route.id is None:
                raise VertexApiError(405, f"Method {method} {path} is not implemented by the stand-in.")
            return self._list_operations(self._endpoint(route)["name"])
        key = (method, route.collection, route.id is not None, route.verb)
        handler = self._handlers().get(key)
        if handler is None:
            raise _not_found(f"The requested URL {path} (method {method}) is not implemented by the stand-in.")
        return handler(route, body)

    def _handlers(self) -> dict[tuple[str, str, bool, str | None], Callable[[_Route, JSON], JSON]]:
        return {
            ("POST", "pipelineJobs", False, None): self._create_pipeline_job,
            ("GET", "pipelineJobs", True, None): self._get_pipeline_job,
            ("GET", "pipelineJobs", False, None): self._list_pipeline_jobs,
            ("POST", "models", False, "upload"): self._upload_model,
            ("GET", "models", False, None): self._list_models,
            ("GET", "models", True, None): self._get_model,
            ("GET", "models", True, "listVersions"): self._list_model_versions,
            ("POST", "models", True, "mergeVersionAliases"): self._merge_version_aliases,
            ("POST", "endpoints", False, None): self._create_endpoint,
            ("GET", "endpoints", False, None): self._list_endpoints,
            ("GET", "endpoints", True, None): self._get_endpoint,
            ("PATCH", "endpoints", True, None): self._update_endpoint,
            ("POST", "endpoints", True, "deployModel"): self._deploy_model,
            ("POST", "endpoints", True, "undeployModel"): self._undeploy_model,
            ("POST", "endpoints", True, "predict"): self._predict,
            ("POST", "schedules", False, None): self._create_schedule,
            ("GET", "schedules", True, None): self._get_schedule,
            ("GET", "schedules", False, None): self._list_schedules,
        }

    # ------------------------------------------------------------------ shared helpers

    def _next_id(self) -> str:
        return str(next(self._ids))

    # ------------------------------------------------------------------ long-running operations

    def _start_operation(
        self, api: str, resource: str, response_type: str, metadata_type: str, finish: Callable[[], JSON]
    ) -> JSON:
        """Start an operation that will apply `finish` when it completes (at once, unless operations take time).

        Until then nothing it changes is visible (a deployed model appears on its endpoint when the deployment is
        done), and the operation is answered without ``done``, as the service answers operations in progress.
        """
        name = f"{resource}/operations/{self._next_id()}"
        now = _now()
        self.operations[name] = {
            "name": name,
            "metadata": {
                "@type": _AIPLATFORM_TYPE.format(api=api, name=metadata_type),
                "genericMetadata": {"createTime": now, "updateTime": now},
            },
        }
        self._pending[name] = _Operation(name, api, response_type, finish, time.monotonic())
        if self._due(self._pending[name]):
            self._complete(name)
        return self.operations[name]

    def _due(self, operation: _Operation) -> bool:
        return (
            operation.response_type not in self.held
            and operation.pending_answers >= self.operation_polls
            and time.monotonic() - operation.started >= self.operation_seconds
        )

    def _complete(self, name: str) -> None:
        operation = self._pending.pop(name)
        public = self.operations[name]
        public["metadata"]["genericMetadata"]["updateTime"] = _now()
        failures = self._failures.get(operation.response_type)
        try:
            if failures:
                raise VertexApiError(400, failures.pop(0), "FAILED_PRECONDITION")
            response = operation.finish()
        except VertexApiError as exc:
            public.update(done=True, error={"code": _GRPC_CODE.get(exc.status, 2), "message": exc.message})
            return
        response_type = _AIPLATFORM_TYPE.format(api=operation.api, name=operation.response_type)
        public.update(done=True, response={"@type": response_type, **response})

    def _advance(self) -> None:
        """Complete the operations whose time has come (the service works on them whether anyone polls or not)."""
        for name, operation in list(self._pending.items()):
            if self._due(operation):
                self._complete(name)

    def _get_operation(self, name: str) -> JSON:
        operation = self.operations.get(name)
        if operation is None:
            raise _not_found(f"Operation {name} not found.")
        pending = self._pending.get(name)
        if pending is not None:
            if self._due(pending):
                self._complete(name)
            else:
                pending.pending_answers += 1
        return operation

    def _list_operations(self, resource: str) -> JSON:
        prefix = f"{resource}/operations/"
        return {"operations": [op for name, op in self.operations.items() if name.startswith(prefix)]}

    @staticmethod
    def _check_labels(labels: Any) -> dict[str, str]:
        if labels is None:
            return {}
        if not isinstance(labels, dict):
            raise _bad("labels must be a map of strings.")
        for key, value in labels.items():
            if not isinstance(value, str) or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise _bad(f"Invalid label {key!r}: {value!r}.")
        return dict(labels)

    @staticmethod
    def _matches_filter(resource: JSON, filter_text: str) -> bool:
        if not filter_text.strip():
            return True
        for term in re.split(r"\s+AND\s+", filter_text.strip(), flags=re.IGNORECASE):
            match = _FILTER_TERM.match(term)
            if match is None:
                raise _bad(f'Unsupported filter term {term!r} (the stand-in knows key="value" AND ...).')
            key = match["key"]
            wanted = match["quoted"] if match["quoted"] is not None else match["bare"]
            if key.startswith("labels."):
                actual = (resource.get("labels") or {}).get(key.removeprefix("labels."))
            elif key in _FILTER_KEYS:
                actual = resource.get(_FILTER_KEYS[key])
            else:
                raise _bad(f"Unsupported filter key {key!r}.")
            if actual != wanted:
                return False
        return True

    def _filtered(self, resources: list[JSON], route: _Route) -> list[JSON]:
        filter_text = route.query.get("filter", "")
        return [r for r in resources if self._matches_filter(r, filter_text)]

    def _own_name(self, name: Any, route: _Route, collection: str, what: str) -> str:
        """Check that `name` is ``{route.parent}/{collection}/{id}`` (optionally ``@version``); return it."""
        if not isinstance(name, str) or not name:
            raise _bad(f"{what} is required.")
        match = re.match(rf"^(projects/[^/]+/locations/[^/]+)/{collection}/[^/@]+(@[^/]+)?$", name)
        if match is None:
            raise _bad(f"Invalid resource name {name!r} for {what}: expected {route.parent}/{collection}/{{id}}.")
        if match[1] != route.parent:
            raise _bad(f"{what} {name!r} is not in {route.parent}.")
        return name

    # ------------------------------------------------------------------ pipeline jobs

    def _create_pipeline_job(self, route: _Route, body: JSON) -> JSON:
        job_id = route.query.get("pipelineJobId") or f"pipeline-job-{self._next_id()}"
        if not _JOB_ID.match(job_id):
            raise _bad(f"Invalid pipelineJobId {job_id!r}: must match {_JOB_ID.pattern}.")
        name = f"{route.parent}/pipelineJobs/{job_id}"
        if name in self.pipeline_jobs:
            raise VertexApiError(409, f"PipelineJob {name} already exists.")
        labels = self._check_pipeline_job(body, "")
        now = _now()
        job = {
            **body,
            "name": name,
            "displayName": body.get("displayName") or job_id,
            "labels": labels,
            "state": "PIPELINE_STATE_RUNNING",
            "createTime": now,
            "startTime": now,
            "updateTime": now,
        }
        self.pipeline_jobs[name] = job
        return job

    def _check_pipeline_job(self, job: Any, where: str) -> dict[str, str]:
        """Check a PipelineJob body (`where` prefixes field names in messages); return its labels."""
        if not isinstance(job, dict):
            raise _bad(f"{where}pipelineJob is required.")
        spec = job.get("pipelineSpec")
        if not isinstance(spec, dict) or not isinstance(spec.get("root"), dict):
            raise _bad(f"{where}pipelineSpec with a root is required.")
        if not (spec.get("pipelineInfo") or {}).get("name"):
            raise _bad(f"{where}pipelineSpec.pipelineInfo.name is required.")
        runtime = job.get("runtimeConfig") or {}
        output_dir = runtime.get("gcsOutputDirectory")
        if not isinstance(output_dir, str) or not output_dir.startswith("gs://") or len(output_dir) <= 5:
            raise _bad(f"{where}runtimeConfig.gcsOutputDirectory must be a gs:// URI, got {output_dir!r}.")
        self._check_pipeline_parameters(spec, runtime.get("parameterValues") or {})
        service_account = job.get("serviceAccount")
        if service_account is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", service_account):
            raise _bad(f"Invalid {where}serviceAccount {service_account!r}.")
        return self._check_labels(job.get("labels"))

    @staticmethod
    def _check_pipeline_parameters(spec: JSON, values: Any) -> None:
        if not isinstance(values, dict):
            raise _bad("runtimeConfig.parameterValues must be a map.")
        declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise _bad(f"The pipeline has no input parameter(s) {', '.join(unknown)}.")
        missing = sorted(
            p for p, d in declared.items() if p not in values and not d.get("isOptional") and "defaultValue" not in d
        )
        if missing:
            raise _bad(f"Missing value(s) for required pipeline parameter(s) {', '.join(missing)}.")

    def _get_pipeline_job(self, route: _Route, body: JSON) -> JSON:
        name = f"{route.parent}/pipelineJobs/{route.id}"
        job = self.pipeline_jobs.get(name)
        if job is None:
            raise _not_found(f"PipelineJob {name} not found.")
        if job["state"] not in _PIPELINE_TERMINAL:
            job["state"] = self.pipeline_final_state
            job["updateTime"] = job["endTime"] = _now()
            if job["state"] == "PIPELINE_STATE_FAILED":
                job["error"] = {"code": 9, "message": "The stand-in was told to fail this job."}
        return job

    def _list_pipeline_jobs(self, route: _Route, body: JSON) -> JSON:
        jobs = [j for n, j in self.pipeline_jobs.items() if n.startswith(f"{route.parent}/")]
        return {"pipelineJobs": self._filtered(jobs, route)}

    # ------------------------------------------------------------------ schedules

    def _create_schedule(self, route: _Route, body: JSON) -> JSON:
        if not body.get("displayName"):
            raise _bad("schedule.displayName is required.")
        cron = body.get("cron")
        if not isinstance(cron, str) or not cron.strip():
            raise _bad("schedule.cron is required (the stand-in knows cron schedules only).")
        self._check_cron(cron)
        max_concurrent = int(body.get("maxConcurrentRunCount") or 0)  # int64: a string in JSON
        if max_concurrent < 1:
            raise _bad("schedule.maxConcurrentRunCount must be positive.")
        if body.get("maxRunCount") is not None and int(body["maxRunCount"]) < 1:
            raise _bad("schedule.maxRunCount must be positive.")
        request = body.get("createPipelineJobRequest")
        if not isinstance(request, dict):
            raise _bad("schedule.createPipelineJobRequest is required.")
        if request.get("parent") != route.parent:
            raise _bad(f"createPipelineJobRequest.parent {request.get('parent')!r} is not {route.parent}.")
        self._check_pipeline_job(request.get("pipelineJob"), "createPipelineJobRequest.pipelineJob.")
        name = f"{route.parent}/schedules/{self._next_id()}"
        now = _now()
        schedule = {
            **body,
            "name": name,
            "state": "ACTIVE",
            "createTime": now,
            "updateTime": now,
            "startTime": body.get("startTime") or now,
            "nextRunTime": body.get("startTime") or now,
            "startedRunCount": "0",
        }
        self.schedules[name] = schedule
        return schedule

    @staticmethod
    def _check_cron(cron: str) -> None:
        fields = cron.split()
        if fields and re.match(r"^(CRON_TZ|TZ)=[A-Za-z_]+(?:/[A-Za-z_+-]+)*$", fields[0]):
            fields = fields[1:]
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise _bad(f"Invalid cron schedule {cron!r}: expected five fields, optionally after TZ=<zone>.")

    def _get_schedule(self, route: _Route, body: JSON) -> JSON:
        name = f"{route.parent}/schedules/{route.id}"
        schedule = self.schedules.get(name)
        if schedule is None:
            raise _not_found(f"Schedule {name} not found.")
        return schedule

    def _list_schedules(self, route: _Route, body: JSON) -> JSON:
        schedules = [s for n, s in self.schedules.items() if n.startswith(f"{route.parent}/")]
        return {"schedules": self._filtered(schedules, route)}

    # ------------------------------------------------------------------ Artifact Registry: pipeline templates

    def _kfp(self, method: str, match: re.Match[str], raw_body: bytes, content_type: str) -> _Raw:
        """Answer the template host ``{location}-kfp.pkg.dev/{project}/{repo}``: upload, or download by version/tag."""
        repository = f"{match['location']}/{match['project']}/{match['repo']}"
        if repository not in self.kfp_repositories:
            raise _not_found(f"Repository {repository} not found.")
        if method == "POST" and match["package"] is None:
            return self._kfp_upload(repository, raw_body, content_type)
        if method == "GET" and match["package"] is not None:
            package = self.kfp_packages.get(f"{repository}/{match['package']}")
            ref = match["ref"]
            if package is not None:
                version = package["tags"].get(ref, ref)
                if version in package["versions"]:
                    return _Raw(package["versions"][version], "application/x-yaml")
            raise _not_found(f"Package version {match['package']}/{ref} not found in {repository}.")
        raise VertexApiError(405, f"Method {method} is not implemented by the stand-in's template host.")

    def _kfp_upload(self, repository: str, raw_body: bytes, content_type: str) -> _Raw:
        fields = _multipart(raw_body, content_type)
        content = fields.get("content")
        if content is None:
            raise _bad("The upload needs a multipart field 'content' with the pipeline template.")
        try:
            import yaml

            template = yaml.safe_load(content)
        except Exception as exc:  # noqa: BLE001 - any parse error is the client's
            raise _bad(f"The template is not YAML: {exc}") from None
        spec = template.get("pipelineSpec", template) if isinstance(template, dict) else None
        name = ((spec or {}).get("pipelineInfo") or {}).get("name") if isinstance(spec, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("root"), dict) or not name:
            raise _bad("The template is not a compiled pipeline (pipelineInfo.name and root are required).")
        tags = [t.strip() for t in fields.get("tags", b"").decode().split(",") if t.strip()]
        for tag in tags:
            if tag.startswith("sha256:") or not re.match(r"^[a-zA-Z0-9][-a-zA-Z0-9_.]{0,127}$", tag):
                raise _bad(f"Invalid tag {tag!r}.")
        version = "sha256:" + hashlib.sha256(content).hexdigest()
        package = self.kfp_packages.setdefault(f"{repository}/{name}", {"versions": {}, "tags": {}})
        package["versions"][version] = content  # the same bytes again are the same version
        for tag in tags:
            package["tags"][tag] = version  # a tag moves to the version uploaded last
        return _Raw(f"{name}/{version}".encode(), "text/plain; charset=utf-8")

    # ------------------------------------------------------------------ Artifact Registry: image tags

    def _image_tag(self, method: str, match: re.Match[str]) -> JSON:
        """Answer ``tags.get`` as Artifact Registry does: the tag, 404, or 403 (a repository the caller cannot read)."""
        if method != "GET":
            raise VertexApiError(405, f"Method {method} is not implemented by the stand-in's Artifact Registry.")
        if match["repository"] in self.image_denied:
            raise VertexApiError(
                403,
                f"Permission 'artifactregistry.tags.get' denied on resource "
                f"'//artifactregistry.googleapis.com/{match['name']}' (or it may not exist).",
                "PERMISSION_DENIED",
            )
        version = self.image_tags.get(match["name"])
        if version is None:
            raise _not_found("Requested entity was not found.")
        return {"name": match["name"], "version": version}

    # ------------------------------------------------------------------ models

    def _resolve_model(self, name: str) -> JSON:
        base, _, version = name.partition("@")
        versions = self.models.get(base)
        if versions is None:
            raise _not_found(f"Model {base} not found.")
        wanted = version or "default"
        for candidate in versions:
            if candidate["versionId"] == wanted or wanted in candidate["versionAliases"]:
                return candidate
        raise _not_found(f"Model {name} not found: no version or alias {wanted!r}.")

    @staticmethod
    def _check_aliases(aliases: Any, *, allow_removal: bool = False) -> list[str]:
        if aliases is None:
            return []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise _bad("versionAliases must be a list of strings.")
        seen: set[str] = set()
        for alias in aliases:
            bare = alias[1:] if allow_removal and alias.startswith("-") else alias
            if not _ALIAS.match(bare):
                raise _bad(f"Invalid version alias {alias!r}: must match {_ALIAS.pattern}.")
            if bare in seen:
                raise _bad(f"Duplicate version alias {bare!r} in the request.")
            seen.add(bare)
        return list(aliases)

    @staticmethod
    def _take_aliases(versions: list[JSON], target: JSON, aliases: list[str]) -> None:
        """Give `aliases` to `target`, removing them from the model's other versions."""
        for alias in aliases:
            for other in versions:
                if other is not target and alias in other["versionAliases"]:
                    other["versionAliases"].remove(alias)
                    other["versionUpdateTime"] = other["updateTime"] = _now()
            if alias not in target["versionAliases"]:
                target["versionAliases"].append(alias)

    def _upload_model(self, route: _Route, body: JSON) -> JSON:
        model = body.get("model")
        if not isinstance(model, dict):
            raise _bad("model is required.")
        if not model.get("displayName"):
            raise _bad("model.displayName is required.")
        image = (model.get("containerSpec") or {}).get("imageUri")
        if not image:
            raise _bad("model.containerSpec.imageUri is required for a custom model.")
        self._check_container_spec(model["containerSpec"])
        artifact_uri = model.get("artifactUri")
        if artifact_uri is not None and not str(artifact_uri).startswith("gs://"):
            raise _bad(f"model.artifactUri must be a gs:// URI, got {artifact_uri!r}.")
        if artifact_uri is not None:
            self._check_artifact_bucket(str(artifact_uri), route)
        aliases = self._check_aliases(model.get("versionAliases"))
        labels = self._check_labels(model.get("labels"))
        parent_model = body.get("parentModel")
        if parent_model:
            base = self._own_name(parent_model, route, "models", "parentModel")
            if "@" in base:
                raise _bad(f"parentModel {base!r} must not name a version.")
            if body.get("modelId"):
                raise _bad("modelId and parentModel cannot both be set.")
            if base not in self.models:
                raise _not_found(f"Parent model {base} not found.")
        else:
            model_id = body.get("modelId") or self._next_id()
            if not _RESOURCE_ID.match(model_id):
                raise _bad(f"Invalid modelId {model_id!r}.")
            base = f"{route.parent}/models/{model_id}"
            if base in self.models:
                raise VertexApiError(409, f"Model {base} already exists.")
            if "default" not in aliases:
                aliases.append("default")  # the first version is always the default one

        def finish() -> JSON:  # the version exists once the upload is done
            versions = self.models.get(base)
            if parent_model and versions is None:
                raise _not_found(f"Parent model {base} not found.")
            if not parent_model and versions is not None:
                raise VertexApiError(409, f"Model {base} already exists.")
            versions = versions or []
            version_id = str(int(versions[-1]["versionId"]) + 1) if versions else "1"
            now = _now()
            stored = {
                **model,
                "name": base,
                "versionId": version_id,
                "versionAliases": [],
                "labels": labels,
                "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
                "deployedModels": [],
                "createTime": versions[0]["createTime"] if versions else now,
                "updateTime": now,
                "versionCreateTime": now,
                "versionUpdateTime": now,
                "etag": f"etag-{self._next_id()}",
            }
            versions.append(stored)
            self.models[base] = versions
            self._take_aliases(versions, stored, aliases)
            return {"model": base, "modelVersionId": version_id}

        return self._start_operation(route.api, base, "UploadModelResponse", "UploadModelOperationMetadata", finish)

    @staticmethod
    def _check_container_spec(spec: JSON) -> None:
        """Refuse what the service refuses in a custom container spec (the spec is kept whole with the model)."""
        for key in ("command", "args"):
            if not isinstance(spec.get(key, []), list) or not all(isinstance(a, str) for a in spec.get(key, [])):
                raise _bad(f"model.containerSpec.{key} must be a list of strings.")
        for port in spec.get("ports", []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or not 1 <= number <= 65535:
                raise _bad(f"model.containerSpec.ports: invalid containerPort {number!r}.")
        for key in ("predictRoute", "healthRoute"):
            route = spec.get(key)
            if route is not None and not (isinstance(route, str) and route.startswith("/")):
                raise _bad(f"model.containerSpec.{key} must be a path starting with '/', got {route!r}.")
        names = [entry.get("name") if isinstance(entry, dict) else None for entry in spec.get("env", [])]
        for name in names:
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise _bad(f"model.containerSpec.env: invalid variable name {name!r}.")
        if len(set(names)) != len(names):
            raise _bad("model.containerSpec.env: a variable is set twice.")

    def _check_artifact_bucket(self, artifact_uri: str, route: _Route) -> None:
        """Refuse artifacts in a bucket outside the model's region, with the service's own message."""
        if self.bucket_location is None:
            return
        bucket = artifact_uri.removeprefix("gs://").split("/", 1)[0]
        location = self.bucket_location(bucket)
        if location is None:
            raise _bad(f"The Cloud Storage bucket of `{artifact_uri}` does not exist.", "FAILED_PRECONDITION")
        region = route.parent.rsplit("/", 1)[1]
        if location.lower() != region:
            raise _bad(
                f"The Cloud Storage bucket of `{artifact_uri}` is in location `{location.lower()}`. "
                f"It must be in the same regional location as the service location `{region}`.",
                "FAILED_PRECONDITION",
            )

    def _model_name(self, route: _Route) -> str:
        return f"{route.parent}/models/{route.id}"

    def _get_model(self, route: _Route, body: JSON) -> JSON:
        return self._resolve_model(self._model_name(route))

    def _list_models(self, route: _Route, body: JSON) -> JSON:
        defaults = [self._resolve_model(n) for n in self.models if n.startswith(f"{route.parent}/")]
        return {"models": self._filtered(defaults, route)}

    def _list_model_versions(self, route: _Route, body: JSON) -> JSON:
        name = self._model_name(route)
        if "@" in name:
            raise _bad(f"listVersions takes a model name without a version, got {name!r}.")
        versions = self.models.get(name)
        if versions is None:
            raise _not_found(f"Model {name} not found.")
        return {"models": self._filtered(list(versions), route)}

    def _merge_version_aliases(self, route: _Route, body: JSON) -> JSON:
        name = self._model_name(route)
        if "@" not in name:
            raise _bad(f"mergeVersionAliases needs a model version name (id@version), got {name!r}.")
        target = self._resolve_model(name)
        changes = self._check_aliases(body.get("versionAliases"), allow_removal=True)
        if not changes:
            raise _bad("versionAliases must not be empty.")
        versions = self.models[target["name"]]
        for change in changes:
            if change.startswith("-"):
                alias = change[1:]
                if alias == "default":
                    raise _bad("The default alias cannot be removed; give it to another version instead.")
                if alias in target["versionAliases"]:
                    target["versionAliases"].remove(alias)
            else:
                self._take_aliases(versions, target, [change])
        target["versionUpdateTime"] = target["updateTime"] = _now()
        return target

    # ------------------------------------------------------------------ endpoints

    def _endpoint(self, route: _Route) -> JSON:
        name = f"{route.parent}/endpoints/{route.id}"
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise _not_found(f"Endpoint {name} not found.")
        return endpoint

    def _create_endpoint(self, route: _Route, body: JSON) -> JSON:
        if not body.get("displayName"):
            raise _bad("endpoint.displayName is required.")
        endpoint_id = route.query.get("endpointId") or self._next_id()
        if not _RESOURCE_ID.match(endpoint_id):
            raise _bad(f"Invalid endpointId {endpoint_id!r}.")
        name = f"{route.parent}/endpoints/{endpoint_id}"
        if name in self.endpoints:
            raise VertexApiError(409, f"Endpoint {name} already exists.")
        labels = self._check_labels(body.get("labels"))

        def finish() -> JSON:  # the endpoint exists once the creation is done
            if name in self.endpoints:
                raise VertexApiError(409, f"Endpoint {name} already exists.")
            now = _now()
            endpoint = {
                **body,
                "name": name,
                "labels": labels,
                "deployedModels": [],
                "trafficSplit": {},
                "createTime": now,
                "updateTime": now,
                "etag": f"etag-{self._next_id()}",
            }
            self.endpoints[name] = endpoint
            return endpoint

        return self._start_operation(route.api, name, "Endpoint", "CreateEndpointOperationMetadata", finish)

    def _get_endpoint(self, route: _Route, body: JSON) -> JSON:
        return self._endpoint(route)

    def _update_endpoint(self, route: _Route, body: JSON) -> JSON:
        endpoint = self._endpoint(route)
        if body.get("name") not in (None, "", endpoint["name"]):
            raise _bad(f"endpoint.name {body['name']!r} does not match the URL ({endpoint['name']}).")
        paths = [p.strip() for p in route.query.get("updateMask", "").split(",") if p.strip()]
        if not paths:
            raise _bad("updateMask is required.")
        if unknown := sorted(p for p in paths if p not in _ENDPOINT_MASK):
            raise _bad(f"Unsupported updateMask path(s) {', '.join(unknown)}.")
        etag = body.get("etag")
        if etag and etag != endpoint["etag"]:
            raise VertexApiError(
                409, f"The etag {etag!r} does not match the endpoint's current etag; read it again.", "ABORTED"
            )
        changes: JSON = {}
        for field_name in {_ENDPOINT_MASK[p] for p in paths}:
            value = body.get(field_name)
            if field_name == "trafficSplit":
                ids = {d["id"] for d in endpoint["deployedModels"]}
                changes[field_name] = self._check_traffic(value, ids) if value else {}
            elif field_name == "displayName":
                if not value:
                    raise _bad("endpoint.displayName must not be empty.")
                changes[field_name] = value
            elif field_name == "labels":
                changes[field_name] = self._check_labels(value)
            else:
                changes[field_name] = value or ""
        endpoint.update(changes)
        self._touch(endpoint)
        return endpoint

    def _touch(self, endpoint: JSON) -> None:
        endpoint["updateTime"] = _now()
        endpoint["etag"] = f"etag-e{next(self._etags)}"

    def _list_endpoints(self, route: _Route, body: JSON) -> JSON:
        endpoints = [e for n, e in self.endpoints.items() if n.startswith(f"{route.parent}/")]
        return {"endpoints": self._filtered(endpoints, route)}

    @staticmethod
    def _check_traffic(split: Any, allowed: set[str]) -> dict[str, int]:
        if not isinstance(split, dict):
            raise _bad("trafficSplit must be a map of deployed model id to percentage.")
        result: dict[str, int] = {}
        for key, value in split.items():
            if key not in allowed:
                raise _bad(f"trafficSplit refers to {key!r}, which is not a deployed model of this endpoint.")
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise _bad(f"trafficSplit[{key!r}] must be an integer percentage, got {value!r}.")
            result[key] = value
        total = sum(result.values())
        if total != 100:
            raise _bad(f"The sum of trafficSplit percentages must be 100, got {total}.")
        return result

    def _deploy_model(self, route: _Route, body: JSON) -> JSON:
        endpoint = self._endpoint(route)
        deployed = body.get("deployedModel")
        if not isinstance(deployed, dict):
            raise _bad("deployedModel is required.")
        model_name = self._own_name(deployed.get("model"), route, "models", "deployedModel.model")
        version = self._resolve_model(model_name)
        supported = version["supportedDeploymentResourcesTypes"]
        dedicated = deployed.get("dedicatedResources")
        if "DEDICATED_RESOURCES" in supported and "automaticResources" in deployed:
            raise _bad("This model supports dedicatedResources only.")
        if not isinstance(dedicated, dict) or not (dedicated.get("machineSpec") or {}).get("machineType"):
            raise _bad("deployedModel.dedicatedResources.machineSpec.machineType is required.")
        if int(dedicated.get("minReplicaCount") or 0) < 1:
            raise _bad("deployedModel.dedicatedResources.minReplicaCount must be at least 1.")
        existing = {d["id"] for d in endpoint["deployedModels"]}
        split = body.get("trafficSplit")
        if split:
            self._check_traffic(split, existing | {"0"})
        deployed_id = self._next_id()
        created = _now()

        def finish() -> JSON:  # the model serves (and the split applies) once the deployment is done
            current = {d["id"] for d in endpoint["deployedModels"]}
            new_split = self._check_traffic(split, current | {"0"}) if split else None
            record = {
                **deployed,
                "id": deployed_id,
                "model": version["name"],
                "modelVersionId": version["versionId"],
                "displayName": deployed.get("displayName") or version["displayName"],
                "createTime": created,
            }
            endpoint["deployedModels"].append(record)
            if new_split is not None:  # an empty trafficSplit leaves the endpoint's split as it was
                endpoint["trafficSplit"] = {(deployed_id if k == "0" else k): v for k, v in new_split.items()}
            self._touch(endpoint)
            version["deployedModels"].append({"endpoint": endpoint["name"], "deployedModelId": deployed_id})
            return {"deployedModel": record}

        return self._start_operation(
            route.api, endpoint["name"], "DeployModelResponse", "DeployModelOperationMetadata", finish
        )

    def _undeploy_model(self, route: _Route, body: JSON) -> JSON:
        endpoint = self._endpoint(route)
        deployed_id = body.get("deployedModelId")
        ids = [d["id"] for d in endpoint["deployedModels"]]
        if not deployed_id:
            raise _bad("deployedModelId is required.")
        if deployed_id not in ids:
            raise _not_found(f"Deployed model {deployed_id} not found on {endpoint['name']}.")
        split = body.get("trafficSplit")
        self._undeploy_split(endpoint, deployed_id, split)  # refused now if the split is wrong

        def finish() -> JSON:  # the model stops serving once the undeployment is done
            gone = next((d for d in endpoint["deployedModels"] if d["id"] == deployed_id), None)
            if gone is None:
                raise _not_found(f"Deployed model {deployed_id} not found on {endpoint['name']}.")
            new_split = self._undeploy_split(endpoint, deployed_id, split)
            endpoint["deployedModels"].remove(gone)
            endpoint["trafficSplit"] = new_split if endpoint["deployedModels"] else {}
            self._touch(endpoint)
            for version in self.models.get(gone["model"], []):
                version["deployedModels"] = [
                    d
                    for d in version["deployedModels"]
                    if not (d["endpoint"] == endpoint["name"] and d["deployedModelId"] == deployed_id)
                ]
            return {}

        return self._start_operation(
            route.api, endpoint["name"], "UndeployModelResponse", "UndeployModelOperationMetadata", finish
        )

    def _undeploy_split(self, endpoint: JSON, deployed_id: str, split: Any) -> dict[str, int]:
        """Return the endpoint's split once `deployed_id` is gone, checking the one the request gives."""
        ids = [d["id"] for d in endpoint["deployedModels"]]
        remaining = set(ids) - {deployed_id}
        if split:
            new_split = self._check_traffic(split, set(ids))
            if new_split.get(deployed_id):
                raise _bad(f"trafficSplit still sends traffic to the deployed model {deployed_id} being undeployed.")
            new_split.pop(deployed_id, None)
            return new_split
        if remaining and endpoint["trafficSplit"].get(deployed_id):
            raise _bad(
                f"Deployed model {deployed_id} has traffic; give a trafficSplit that moves it elsewhere.",
                "FAILED_PRECONDITION",
            )
        return {k: v for k, v in endpoint["trafficSplit"].items() if k != deployed_id}

    def _predict(self, route: _Route, body: JSON) -> JSON:
        endpoint = self._endpoint(route)
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise _bad("instances must be a non-empty list.")
        split = {k: v for k, v in endpoint["trafficSplit"].items() if v > 0}
        if not split:
            raise _bad(f"Endpoint {endpoint['name']} has no deployed model with traffic.", "FAILED_PRECONDITION")
        # Deterministic weighted round robin: request n goes to the model whose cumulative share covers n % 100.
        n = self._predict_counter.get(endpoint["name"], 0)
        self._predict_counter[endpoint["name"]] = n + 1
        slot, cumulative, chosen = n % 100, 0, None
        for deployed in endpoint["deployedModels"]:
            cumulative += split.get(deployed["id"], 0)
            if slot < cumulative:
                chosen = deployed
                break
        assert chosen is not None
        answered = self.predictor(chosen, instances, body.get("parameters"))
        # A container's whole answer ({"predictions": ..., and more}) reaches the caller as a PredictResponse: its
        # predictions and metadata, nothing else of it (the other fields are the service's own).
        container = answered if isinstance(answered, dict) else {"predictions": answered}
        response = {
            "predictions": container["predictions"],
            "deployedModelId": chosen["id"],
            "model": chosen["model"],
            "modelVersionId": chosen["modelVersionId"],
            "modelDisplayName": chosen["displayName"],
        }
        return response | ({"metadata": container["metadata"]} if "metadata" in container else {})


@contextmanager
def isolated_aiplatform_config(*, offline_adc: bool = True) -> Iterator[None]:
    """Run with a fresh ``google-cloud-aiplatform`` global configuration; restore the previous one afterwards.

    Args:
        offline_adc: Also point GOOGLE_APPLICATION_CREDENTIALS at a missing file for the duration, so that SDK code
            that falls back to Application Default Credentials fails at once instead of reaching Google.
    """
    from google.cloud.aiplatform import initializer

    config = initializer.global_config
    saved = dict(vars(config))
    previous_adc = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    vars(config).clear()
    vars(config).update(vars(type(config)()))
    try:
        with tempfile.TemporaryDirectory(prefix="no-adc-") as folder:
            if offline_adc:
                os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = os.path.join(folder, "missing.json")
            yield
    finally:
        vars(config).clear()
        vars(config).update(saved)
        if offline_adc:
            if previous_adc is None:
                os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
            else:
                os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = previous_adc


def _multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """Return the fields of a multipart/form-data body by name."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise _bad(f"Expected a multipart/form-data upload, got {content_type!r}.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields[name] = part.get_payload(decode=True) or b""
    return fields


def _echo_predictor(deployed: JSON, instances: list[Any], parameters: Any) -> list[Any]:
    """Answer each instance with which deployed model (and model version) served it."""
    return [
        {
            "deployedModelId": deployed["id"],
            "model": deployed["model"],
            "modelVersionId": deployed["modelVersionId"],
            "instance": instance,
        }
        for instance in instances
    ]


class _Server(ThreadingHTTPServer):
    owner: VertexStandIn


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall per request

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type") or "application/json"
        status, body = self.server.owner.handle(self.command, self.path, raw, content_type)
        if isinstance(body, _Raw):
            payload, content_type = body.body, body.content_type
        else:
            payload, content_type = json.dumps(body).encode(), "application/json; charset=UTF-8"
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Stay quiet: the recorded requests are the log."""
