"""A local stand-in of the Kubernetes API for KServe InferenceServices, and of the predictors they serve.

It answers the calls the kubernetes client makes for ``serving.kserve.io/v1beta1`` InferenceServices (GET, POST,
PATCH as merge-patch or json-patch, DELETE) and models what KServe does that the KServe target depends on: a new
predictor spec makes a new revision (``<name>-predictor-0000N``), not Ready for `ready_after` reads; once Ready it
gets ``canaryTrafficPercent`` of the traffic and the last rolled-out revision the rest (all of it without the
field, and it becomes the rolled-out revision). A revision of a version in `failing` ends ``Ready=False`` with
reason ``RevisionFailed``. A patch carrying an old ``metadata.resourceVersion`` gets 409; `forbidden` makes every
call 403. Tag routing: each revision with traffic has a URL on this server that answers the KServe v1 protocol as
that revision (``{"predictions": [[model, version]], "predictionIds": [...]}``), or 500 for versions in
`bad_predictions`.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from support.background_server import BackgroundServer

_PATH = re.compile(r"^/apis/serving\.kserve\.io/v1beta1/namespaces/([^/]+)/inferenceservices(?:/([^/?]+))?/?$")
_SERVE = re.compile(r"^/serve/([^/]+)/([^/]+)(?:/rev/([^/]+))?/v1/models/([^/:]+):predict$")


class KServeStandIn:
    """The stand-in's state; `url` is its API server address."""

    def __init__(self, ready_after: int = 2) -> None:
        self.ready_after = ready_after
        self.failing: set[str] = set()  # versions whose revisions fail to become Ready
        self.bad_predictions: set[str] = set()  # versions whose revisions answer 500
        self.forbidden = False
        self.conflicts = 0  # the next N writes get 409, as if someone else changed the service
        self.services: dict[tuple[str, str], dict[str, Any]] = {}
        self.revisions: dict[str, dict[str, Any]] = {}  # name -> {"version", "reads", "ready", "spec"}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.predictions: list[tuple[str | None, str]] = []  # (revision asked by its tag URL or None, revision)
        self.lock = threading.Lock()
        self._version = 0
        self.url = ""

    def reset(self) -> None:
        """Forget every service and setting."""
        with self.lock:
            self.failing.clear()
            self.bad_predictions.clear()
            self.forbidden = False
            self.conflicts = 0
            self.services.clear()
            self.revisions.clear()
            self.requests.clear()
            self.predictions.clear()

    # ------------------------------------------------------------------------------------------- KServe's model

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _new_revision(self, service: dict[str, Any]) -> None:
        name = service["metadata"]["name"]
        status = service.setdefault("status", {}).setdefault("components", {}).setdefault("predictor", {})
        number = sum(1 for r in self.revisions.values() if r["service"] == name) + 1
        revision = f"{name}-predictor-{number:05d}"
        env = {e["name"]: e.get("value", "") for e in service["spec"]["predictor"]["containers"][0].get("env", [])}
        self.revisions[revision] = {
            "service": name, "model": env.get("REGISTRY_MODEL_NAME", ""),
            "version": env.get("REGISTRY_MODEL_VERSION", ""), "reads": 0, "ready": None,
        }  # fmt: skip
        status["latestCreatedRevision"] = revision

    def _advance(self, service: dict[str, Any]) -> None:
        """One read: the latest revision gets closer to Ready; the status follows the spec."""
        status = service["status"]
        predictor = status["components"]["predictor"]
        latest = self.revisions[predictor["latestCreatedRevision"]]
        if latest["ready"] is None:
            latest["reads"] += 1
            if latest["reads"] >= self.ready_after:
                latest["ready"] = latest["version"] not in self.failing
        if latest["ready"] is None:
            condition = {"type": "Ready", "status": "Unknown", "reason": "RevisionMissing"}
        elif latest["ready"]:
            condition = {"type": "Ready", "status": "True"}
        else:
            message = f"Revision {predictor['latestCreatedRevision']} failed: container exited"
            condition = {"type": "Ready", "status": "False", "reason": "RevisionFailed", "message": message}
        status["conditions"] = [condition]
        status["observedGeneration"] = service["metadata"]["generation"]
        rolled = predictor.get("latestRolledoutRevision")
        canary = service["spec"]["predictor"].get("canaryTrafficPercent")
        latest_name = predictor["latestCreatedRevision"]
        if latest["ready"]:
            if canary is None or canary >= 100 or rolled is None:
                if rolled != latest_name:
                    predictor["previousRolledoutRevision"] = rolled
                predictor["latestRolledoutRevision"] = latest_name
                traffic = {latest_name: 100}
            else:
                traffic = {latest_name: canary, rolled: 100 - canary} if latest_name != rolled else {rolled: 100}
        else:
            traffic = {rolled: 100} if rolled else {}
        base = f"{self.url}/serve/{service['metadata']['namespace']}/{service['metadata']['name']}"
        predictor["traffic"] = [
            {"revisionName": r, "percent": p, "latestRevision": r == latest_name,
             "tag": "latest" if r == latest_name else "prev", "url": f"{base}/rev/{r}"}
            for r, p in traffic.items()
        ]  # fmt: skip
        status["url"] = base if traffic else ""

    # ------------------------------------------------------------------------------------------- requests

    def handle(self, method: str, path: str, kind: str, body: Any) -> tuple[int, Any]:
        """Answer one API request: (status, JSON body)."""
        with self.lock:
            self.requests.append((method, path, kind))
            if self.forbidden:
                return 403, _status(403, "Forbidden", "inferenceservices is forbidden: User cannot patch")
            found = _PATH.match(path.partition("?")[0])
            if not found:
                return 404, _status(404, "NotFound", f"no route {path}")
            namespace, name = found.groups()
            key = (namespace, name or "")
            if method == "POST" and name is None:
                name = body["metadata"]["name"]
                key = (namespace, name)
                if key in self.services:
                    return 409, _status(409, "AlreadyExists", f'inferenceservices "{name}" already exists')
                service = copy.deepcopy(body)
                service["metadata"] |= {
                    "namespace": namespace,
                    "generation": 1,
                    "resourceVersion": self._next_version(),
                }
                self._new_revision(service)
                self.services[key] = service
                return 201, _public(service)
            service = self.services.get(key)
            if service is None:
                return 404, _status(404, "NotFound", f'inferenceservices.serving.kserve.io "{name}" not found')
            if method == "GET":
                self._advance(service)
                return 200, _public(service)
            if method == "DELETE":
                del self.services[key]
                return 200, _status(200, "Success", "deleted")
            if method == "PATCH":
                if self.conflicts:
                    self.conflicts -= 1
                    return 409, _status(409, "Conflict", "the object has been modified; please apply your changes")
                patched = _json_patch(service, body) if "json-patch" in kind else _merge(copy.deepcopy(service), body)
                wanted = patched.get("metadata", {}).get("resourceVersion")
                if wanted is not None and wanted != service["metadata"]["resourceVersion"]:
                    return 409, _status(409, "Conflict", "the object has been modified; please apply your changes")
                before = service["spec"]["predictor"]
                after = patched["spec"]["predictor"]
                patched["metadata"]["resourceVersion"] = self._next_version()
                patched["metadata"]["generation"] = service["metadata"]["generation"] + 1
                strip = {"canaryTrafficPercent"}
                if {k: v for k, v in before.items() if k not in strip} != {
                    k: v for k, v in after.items() if k not in strip
                }:
                    self._new_revision(patched)
                self.services[key] = patched
                return 200, _public(patched)
            return 405, _status(405, "MethodNotAllowed", method)

    def predict(self, namespace: str, name: str, revision: str | None) -> tuple[int, Any, str]:
        """Answer a v1 predict on the service (split by percent) or on one revision (its tag URL)."""
        with self.lock:
            service = self.services.get((namespace, name))
            if service is None:
                return 404, {"error": "no such service"}, ""
            traffic = {t["revisionName"]: t["percent"] for t in service["status"]["components"]["predictor"]["traffic"]}
            asked = revision
            if revision is None:
                pick = random.uniform(0, 100)  # noqa: S311 - routing, not security
                for candidate, percent in traffic.items():
                    revision = candidate
                    pick -= percent
                    if pick < 0:
                        break
            if revision not in traffic:
                return 404, {"error": f"revision {revision} has no route"}, ""
            served = self.revisions[revision]
            self.predictions.append((asked, revision))
            if served["version"] in self.bad_predictions:
                return 500, {"error": "model crashed"}, revision
            # as serve-container answers: one prediction id per instance beside the predictions
            prediction_id = f"{revision}-{len(self.predictions)}"
            answer = {"predictions": [[served["model"], served["version"]]], "predictionIds": [prediction_id]}
            return 200, answer, revision


def _public(service: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(service)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}  # fmt: skip


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target


def _json_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 add/replace/remove on object members (what a client sends to change a predictor)."""
    result = copy.deepcopy(target)
    for op in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].strip("/").split("/")]
        node = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if op["op"] == "remove":
            node.pop(last, None)
        else:
            node[last] = op["value"]
    return result


class _Handler(BaseHTTPRequestHandler):
    standin: KServeStandIn

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _answer(self, code: int, body: Any, revision: str = "") -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if revision:
            self.send_header("X-Revision", revision)
        self.end_headers()
        self.wfile.write(data)

    def _api(self) -> None:
        kind = self.headers.get("Content-Type", "")
        self._answer(*self.standin.handle(self.command, self.path, kind, self._body()))

    do_GET = do_PATCH = do_DELETE = _api  # noqa: N815 - http.server's names

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        served = _SERVE.match(self.path)
        if served:
            self._body()
            namespace, name, revision, _ = served.groups()
            self._answer(*self.standin.predict(namespace, name, revision))
            return
        self._api()


@contextmanager
def kserve_standin(ready_after: int = 2) -> Iterator[KServeStandIn]:
    """Run the stand-in on 127.0.0.1 (a free port) for the duration of the block."""
    standin = KServeStandIn(ready_after)
    handler = type("Handler", (_Handler,), {"standin": standin})
    with BackgroundServer(handler, name="kserve-standin") as server:
        standin.url = server.url
        yield standin
