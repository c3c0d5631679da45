"""The prediction server's ASGI app (Starlette): routes, bodies, JSON answers and errors around an `EndpointService`.

HTTP itself (parsing, chunked bodies, keep-alive, timeouts) is uvicorn's; this module only decides what a request
means. `BodyGate`, outermost, logs one line per request and refuses what no route should read: a declared body over
the limit (413), ``Transfer-Encoding`` together with ``Content-Length`` (400: two framings of one body, which a proxy
in front may read the other way) and a malformed ``Content-Length`` (400). Routes read bodies with `read_body`, which
stops a streamed (chunked) body at the limit and closes the connection. A declared body over the limit but
within a few times it is read and dropped before the 413, so that the client, still sending, reads the answer and
may keep the connection; a larger one is answered at once and the connection closed.

Errors of the Vertex-style, health and SageMaker routes are ``{"error": {"code", "type", "message"}}`` (the web
API's, `registry_core.errors.error_body`); those of ``/v2/...`` are ``{"error": "message"}``, as the v2 protocol says.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_core.deploy.offload import Offload
from registry_core.deploy.openapi import container_paths, openapi_document
from registry_core.deploy.service import EndpointService, logger
from registry_core.errors import InvalidInputError, NotFoundError, RegistryError, error_body
from registry_core.text import one_line, shown

DRAIN_FACTOR = 8
"""A declared body up to this many times the limit is read and dropped before the 413; above, the connection closes."""
_CLOSE = {"Connection": "close"}

Handler = Callable[[Request], Awaitable[Response]]


class Refusal(Exception):
    """A refusal of the request itself (route, method, framing, size): status, one-line message, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    @property
    def kind(self) -> str:
        """The error body's type (see `registry_core.errors`)."""
        return "ContentTooLarge" if self.status == 413 else "HTTPError"


# ------------------------------------------------------------------------------------------------ answers


def _finite(value: Any) -> Any:
    """Replace NaN and infinities (not representable in JSON) by null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def encode(body: Any) -> bytes:
    """Return `body` as compact JSON (NaN and infinities as null)."""
    try:
        text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(body), allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response that no cache keeps."""
    return Response(
        encode(body),
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        media_type="application/json; charset=utf-8",
    )


def refusal(path: str, status: int, kind: str, message: object, headers: dict[str, str] | None = None) -> Response:
    """An error response in the format of `path`'s protocol (v2's ``{"error": "..."}`` under /v2)."""
    if path == "/v2" or path.startswith("/v2/"):
        return answer(status, {"error": one_line(message)}, headers)
    return answer(status, error_body(status, kind, message), headers)


# ------------------------------------------------------------------------------------------------ bodies


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def parse_json(body: bytes) -> Any:
    """Parse a request body. Raises: InvalidInputError for an empty, malformed or too deeply nested body."""
    if not body.strip():
        msg = "the request body is empty; send a JSON object"
        raise InvalidInputError(msg)
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        msg = "the request body is nested too deeply"
        raise InvalidInputError(msg) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        msg = f"the request body is not valid JSON: {exc}"
        raise InvalidInputError(msg) from None


async def read_body(request: Request, limit: int) -> bytes:
    """Read the request's body, refusing (413, connection closed) one that goes over `limit` bytes as it streams."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refusal(413, f"the request body exceeds the limit of {limit} bytes", _CLOSE)
        parts.append(chunk)
    return b"".join(parts)


class BodyGate:
    """Logs each request at DEBUG, and refuses framings and declared sizes that no route should read.

    Args:
        app: The application inside.
        max_body_bytes: Largest body accepted.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        refused = self._refusal(scope)
        try:
            if refused is not None:
                if refused.status == 413 and not refused.headers:
                    await _drain(receive)
                response = refusal(scope["path"], refused.status, refused.kind, refused.message, refused.headers)
                await response(scope, receive, noting)
            else:
                await self.app(scope, receive, noting)
        finally:
            client = scope.get("client")
            where = f"{client[0]}:{client[1]}" if client else "-"
            logger.debug('%s "%s %s" %d', where, scope["method"], scope["path"], status)

    def _refusal(self, scope: Scope) -> Refusal | None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        lengths = [value for name, value in headers if name == b"content-length"]
        if lengths and any(name == b"transfer-encoding" for name, _ in headers):
            return Refusal(400, "a request must not have both Transfer-Encoding and Content-Length", _CLOSE)
        if len(lengths) > 1 or (lengths and not lengths[0].strip().isdigit()):
            return Refusal(400, f"invalid Content-Length {shown(b', '.join(lengths).decode('latin-1'))}", _CLOSE)
        declared = int(lengths[0]) if lengths else 0
        if declared > self.max_body_bytes:
            message = f"the request body has {declared} bytes; the limit is {self.max_body_bytes}"
            # A client that sends its whole body before reading (most do) is reset, not answered, when the server
            # closes with the body unread; so a body up to a few times the limit is read and dropped first. A
            # client waiting for "100 Continue" has sent nothing: it is answered at once.
            waiting = any(name == b"expect" and value.lower() == b"100-continue" for name, value in headers)
            huge = declared > DRAIN_FACTOR * self.max_body_bytes
            return Refusal(413, message, _CLOSE if huge or waiting else {})
        return None


async def _drain(receive: Receive) -> None:
    """Read a request's body to its end, keeping none of it."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


# ------------------------------------------------------------------------------------------------ the app


@dataclass(frozen=True)
class ContainerRoutes:
    """The routes a serving container adds for its platform (see `registry_core.deploy.container`).

    Attributes:
        model_name: The name KServe's v1 routes answer to (``/v1/models/{model_name}:predict``).
        predict: Vertex AI's predict route (``AIP_PREDICT_ROUTE``), or None.
        health: Vertex AI's health route (``AIP_HEALTH_ROUTE``), or None.
        deployed_model_id: What the Vertex predict route answers as ``deployedModelId``.
    """

    model_name: str
    predict: str | None = None
    health: str | None = None
    deployed_model_id: str = ""


def _answering(handler: Handler) -> Handler:
    """Turn what a route raises into its protocol's error response (never a traceback to the client)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        path = request.url.path
        try:
            return await handler(request)
        except Refusal as exc:
            return refusal(path, exc.status, exc.kind, exc.message, exc.headers)
        except RegistryError as exc:  # bad input (400), not served here (404), nothing serves (503), model failed...
            return refusal(path, exc.http_status, type(exc).__name__, exc)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody reads it: the client has gone
        except Exception:
            logger.exception("%s %s failed", request.method, path)
            return refusal(path, 500, "InternalError", "internal error of the prediction server (see its log)")

    return wrapped


def create_app(
    service: EndpointService,
    *,
    max_body_bytes: int,
    url: Callable[[], str | None] = lambda: None,
    container: ContainerRoutes | None = None,
) -> ASGIApp:
    """Return the ASGI app serving `service`.

    Args:
        service: The answers.
        max_body_bytes: Largest request body accepted.
        url: The server's URL once it listens (listed in /openapi.json), or None.
        container: The routes of a serving container (Vertex's configured ones, KServe's v1), or None.
    """
    offload = Offload()

    async def json_body(request: Request) -> Any:
        return parse_json(await read_body(request, max_body_bytes))

    async def health(request: Request) -> Response:
        return answer(*service.health())

    async def openapi(request: Request) -> Response:
        document = openapi_document(service.endpoint_name, service.instance_schema(), url(), max_body_bytes)
        if container is not None:
            document["paths"] |= container_paths(container.model_name, container.predict, container.health)
        return answer(200, document)

    async def predict(request: Request) -> Response:
        body = await read_body(request, max_body_bytes)
        endpoint, deployed = request.path_params["endpoint"], request.path_params.get("deployed")
        # parsing and the model's call block: a worker thread, so the event loop keeps answering others (or the loop
        # itself, while they are quick: see Offload)
        result = await offload(lambda: service.predict(endpoint, deployed, parse_json(body)), len(body))
        return answer(200, result)

    async def feedback(request: Request) -> Response:
        body = await read_body(request, max_body_bytes)
        endpoint = request.path_params["endpoint"]
        # a storage write (GCS: a round trip): in a worker thread, like predictions
        return answer(200, await run_in_threadpool(lambda: service.feedback(endpoint, parse_json(body))))

    async def ping(request: Request) -> Response:
        return answer(*service.health())

    async def invocations(request: Request) -> Response:
        body = await read_body(request, max_body_bytes)
        return answer(200, await offload(lambda: service.invocations(parse_json(body)), len(body)))

    async def v2_server(request: Request) -> Response:
        return answer(200, service.v2_server_metadata())

    async def v2_live(request: Request) -> Response:
        return answer(200, {"live": True})

    async def v2_ready(request: Request) -> Response:
        ready = service.ready()
        return answer(200 if ready else 503, {"ready": ready})

    async def v2_model(request: Request) -> Response:
        model, version = request.path_params["model"], request.path_params.get("version")
        return answer(200, service.v2_model_metadata(model, version))

    async def v2_model_ready(request: Request) -> Response:
        model, version = request.path_params["model"], request.path_params.get("version")
        ready = service.v2_model_ready(model, version)
        return answer(200 if ready else 503, {"name": model, "ready": ready})

    async def v2_infer(request: Request) -> Response:
        model, version = request.path_params["model"], request.path_params.get("version")
        if request.headers.get("inference-header-content-length") is not None:
            msg = "binary tensor data (Triton's extension) is not supported; send the tensors' data as JSON"
            raise InvalidInputError(msg)
        body = await read_body(request, max_body_bytes)
        return answer(200, await offload(lambda: service.v2_infer(model, version, parse_json(body)), len(body)))

    vertex = "/v1/projects/{project}/locations/{location}/endpoints/{endpoint}"
    get, post = ["GET"], ["POST"]
    routes = _container_routes(service, container, json_body) if container is not None else []
    routes += [
        Route("/health", _answering(health), methods=get),
        Route("/openapi.json", _answering(openapi), methods=get),
        Route("/v1/endpoints/{endpoint}:predict", _answering(predict), methods=post),
        Route("/v1/endpoints/{endpoint}/deployedModels/{deployed}:predict", _answering(predict), methods=post),
        Route(vertex + ":predict", _answering(predict), methods=post),
        Route(vertex + "/deployedModels/{deployed}:predict", _answering(predict), methods=post),
        Route("/v1/endpoints/{endpoint}:feedback", _answering(feedback), methods=post),
        Route(vertex + ":feedback", _answering(feedback), methods=post),
        Route("/ping", _answering(ping), methods=get),
        Route("/invocations", _answering(invocations), methods=post),
        Route("/v2", _answering(v2_server), methods=get),
        Route("/v2/health/live", _answering(v2_live), methods=get),
        Route("/v2/health/ready", _answering(v2_ready), methods=get),
    ]
    for prefix in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
        routes += [
            Route(prefix, _answering(v2_model), methods=get),
            Route(prefix + "/ready", _answering(v2_model_ready), methods=get),
            Route(prefix + "/infer", _answering(v2_infer), methods=post),
        ]

    async def unrouted(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
        path = request.url.path
        if exc.status_code == 405:
            allowed = ", ".join(sorted(m.strip() for m in (exc.headers or {}).get("Allow", "").split(",")))
            message = f"{request.method} is not allowed here; use {allowed}"
            return refusal(path, 405, "HTTPError", message, {"Allow": allowed})
        if exc.status_code == 404:
            return refusal(path, 404, "HTTPError", f"no route {shown(path)}; see GET /openapi.json")
        return refusal(path, exc.status_code, "HTTPError", exc.detail, dict(exc.headers or {}))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # uvicorn's shutdown, once the requests in flight are answered: write the prediction logs that wait
        await run_in_threadpool(service.close)

    app = Starlette(routes=routes, exception_handlers={HTTPException: unrouted}, lifespan=lifespan)
    app.router.redirect_slashes = False  # "/health/" is no route, not a redirect
    return BodyGate(app, max_body_bytes=max_body_bytes)


def _container_routes(
    service: EndpointService, container: ContainerRoutes, json_body: Callable[[Request], Awaitable[Any]]
) -> list[Route]:
    """Vertex AI's configured predict and health routes and KServe's v1 protocol, for one served version."""

    def check_model(request: Request) -> str:
        model = str(request.path_params["model"])
        if model != container.model_name:
            msg = f"model {shown(model)} is not served here; this container serves {container.model_name!r}"
            raise NotFoundError(msg)
        return model

    async def vertex_predict(request: Request) -> Response:
        payload = await json_body(request)
        result = await run_in_threadpool(lambda: service.predict(service.endpoint_name, None, payload))
        ids = result["predictionIds"]
        # Vertex AI's :predict answers a PredictResponse (predictions, deployedModelId, model, modelVersionId,
        # modelDisplayName, metadata: google/cloud/aiplatform/v1/prediction_service.proto); a top-level key of the
        # container's that is none of these cannot reach the caller, while "metadata" ("request-level metadata
        # returned by the model", a google.protobuf.Value) does, and the SDK returns it as Prediction.metadata. So the
        # ids go there for Vertex callers, and stay at the top for those calling the container directly (rawPredict).
        body = {"predictions": result["predictions"], "deployedModelId": container.deployed_model_id}
        return answer(200, body | {"predictionIds": ids, "metadata": {"predictionIds": ids}})

    async def health(request: Request) -> Response:
        return answer(*service.health())

    async def v1_models(request: Request) -> Response:
        return answer(200, {"models": [container.model_name]})

    async def v1_model(request: Request) -> Response:
        model = check_model(request)
        ready = service.ready()
        return answer(200 if ready else 503, {"name": model, "ready": ready})

    async def v1_predict(request: Request) -> Response:
        check_model(request)
        payload = await json_body(request)
        result = await run_in_threadpool(lambda: service.invocations(payload))
        return answer(200, {"predictions": result["predictions"], "predictionIds": result["predictionIds"]})

    routes = []
    if container.predict is not None:
        routes.append(Route(container.predict, _answering(vertex_predict), methods=["POST"]))
    if container.health is not None:
        routes.append(Route(container.health, _answering(health), methods=["GET"]))
    return [
        *routes,
        Route("/v1/models", _answering(v1_models), methods=["GET"]),
        Route("/v1/models/{model}", _answering(v1_model), methods=["GET"]),
        Route("/v1/models/{model}:predict", _answering(v1_predict), methods=["POST"]),
    ]
