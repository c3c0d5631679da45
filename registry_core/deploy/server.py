"""The local prediction server: one endpoint over HTTP, following the endpoint's record in the registry.

`model-registry serve ENDPOINT` runs `serve`; tests and embedders use `PredictionServer`. The server keeps an
`EndpointRuntime` and re-reads the endpoint's record every `poll_interval` seconds, so deploying, shifting traffic,
rolling back and undeploying are record changes it follows without a restart. Artifacts are verified against their
manifest before a model is loaded; a version that fails is refused (and shown by ``GET /health``), never served.

Routes (JSON in and out, in Vertex AI's shapes):

- ``POST /v1/endpoints/{endpoint}:predict`` with ``{"instances": [...]}``: routed by the traffic split.
- ``POST /v1/endpoints/{endpoint}/deployedModels/{id}:predict``: one deployed model.
- ``GET /health``: what serves, what loaded and what was refused (503 when nothing can serve).
- ``GET /openapi.json``: an OpenAPI 3.1 description of these routes.

Errors are ``{"error": {"code": 400, "type": "InvalidInputError", "message": "..."}}``, the body and statuses of the
web API (`registry_core.errors`): a registry error answers its class's ``http_status`` under its class name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import types
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self
from urllib.parse import unquote, urlsplit

from registry_core.deploy.records import EndpointRecord
from registry_core.deploy.runtime import EndpointRuntime
from registry_core.errors import (
    DeploymentError,
    EndpointNotFoundError,
    InvalidInputError,
    NotFoundError,
    RegistryError,
    error_body,
)
from registry_core.storage.base import StorageBackend
from registry_core.text import shown

logger = logging.getLogger(__name__)


class HasStorage(Protocol):
    """Anything with the registry's storage, such as a `ModelRegistry` (named here without importing it)."""

    @property
    def storage(self) -> StorageBackend:
        """The registry's storage backend."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_POLL_INTERVAL = 0.5
MAX_BODY_BYTES = 10 * 1024 * 1024
"""Largest request body accepted (413 above)."""
_DRAIN_LIMIT = 8 * MAX_BODY_BYTES  # read and discard an oversized body up to this size so the client sees the 413
_READ_CHUNK = 1024 * 1024
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")  # 16 hex digits reach 2**64: longer is an attack, not a body
_MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions, or one trailer field
MAX_CHUNK_OVERHEAD = 1024 * 1024
"""Most bytes of chunked framing (size lines, extensions, line ends, trailers) in one request (413 above)."""
_CONNECTION_TIMEOUT = 60.0  # seconds an idle keep-alive connection (or a slow client) may hold a thread
_STOP_GRACE = 5.0  # seconds `stop` waits for requests in flight

_PREDICT = re.compile(
    r"^/v1/(?:projects/[^/]+/locations/[^/]+/)?endpoints/(?P<endpoint>[^/:]+)"
    r"(?:/deployedModels/(?P<deployed>[^/:]+))?:predict$"
)
_GET_ROUTES = ("/health", "/openapi.json")
_JSON_TYPES = {"float": "number", "double": "number", "half": "number", "bfloat16": "number", "string": "string"}


class _HTTPError(Exception):
    """A refusal of the request itself (route, method, framing, size): status code and one-line message."""

    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def kind(self) -> str:
        """The error body's type (see `registry_core.errors`)."""
        return "ContentTooLarge" if self.code == 413 else "HTTPError"


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def _finite(value: Any) -> Any:
    """Replace NaN and infinities (not representable in JSON) by null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _encode(body: Any) -> bytes:
    try:
        text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(body), allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def _storage_of(source: HasStorage | StorageBackend) -> StorageBackend:
    if isinstance(source, StorageBackend):
        return source
    storage = getattr(source, "storage", None)
    if not isinstance(storage, StorageBackend):
        msg = f"expected a ModelRegistry or a StorageBackend, got {type(source).__name__}"
        raise InvalidInputError(msg)
    return storage


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that binds without a reverse DNS lookup and can close idle keep-alive connections."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: PredictionServer) -> None:
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.stopping = False
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's version calls socket.getfqdn, which can be slow
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self, grace: float = _STOP_GRACE) -> None:
        """Stop reading from open connections and wait up to `grace` seconds for their requests in flight.

        Idle keep-alive connections end at once; a request read while stopping is answered 503 (connection
        closed); whatever is still open after `grace` is cut.
        """
        self.stopping = True
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._connections_lock:
                if not self._connections:
                    return
            time.sleep(0.01)
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that went away mid-request is not the server's problem; never print to stderr
        logger.debug("connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Routes one connection's requests to the PredictionServer."""

    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "registry-core-serve/1"
    timeout = _CONNECTION_TIMEOUT
    disable_nagle_algorithm = True  # headers and body are separate writes: without this, keep-alive stalls 40 ms

    def version_string(self) -> str:
        """The Server header (without the Python version)."""
        return self.server_version

    # ------------------------------------------------------------------------------------------ dispatch

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's naming
        """Handle GET."""
        self._dispatch()

    def do_HEAD(self) -> None:  # noqa: N802
        """Handle HEAD (a GET without the body)."""
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        """Handle POST."""
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        """Refuse PUT (405 on known routes, 404 elsewhere)."""
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        """Refuse PATCH."""
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        """Refuse DELETE."""
        self._dispatch()

    def do_OPTIONS(self) -> None:  # noqa: N802
        """Refuse OPTIONS."""
        self._dispatch()

    def _dispatch(self) -> None:
        app = self.server.app
        self._body_read = False
        try:
            if self.server.stopping:
                self.close_connection = True
                raise _HTTPError(503, "the server is stopping")
            path = urlsplit(self.path).path
            if path in _GET_ROUTES:
                self._allow("GET", "HEAD")
                if path == "/openapi.json":
                    self._reply(200, app.openapi())
                else:
                    self._reply(*app.health())
                return
            match = _PREDICT.match(path)
            if match is None:
                raise _HTTPError(404, f"no route {shown(path)}; see GET /openapi.json")
            self._allow("POST")
            payload = self._read_json()
            endpoint = unquote(match["endpoint"])
            deployed = unquote(match["deployed"]) if match["deployed"] else None
            self._reply(200, app.predict(endpoint, deployed, payload))
        except _HTTPError as exc:
            self._finish_body()
            self._reply(exc.code, error_body(exc.code, exc.kind, exc.message), exc.headers)
        except RegistryError as exc:  # bad instances (400), nothing serves (503), the model failed (500)...
            self._finish_body()
            self._reply(exc.http_status, error_body(exc.http_status, type(exc).__name__, exc))
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("%s %s failed", self.command, self.path)
            self._finish_body()
            self._reply(500, error_body(500, "InternalError", "internal error of the prediction server (see its log)"))

    def _allow(self, *methods: str) -> None:
        if self.command not in methods:
            allowed = ", ".join(methods)
            raise _HTTPError(405, f"{self.command} is not allowed here; use {allowed}", {"Allow": allowed})

    # ------------------------------------------------------------------------------------------ request body

    def _read_json(self) -> Any:
        body = self._read_body()
        if not body.strip():
            msg = 'the request body is empty; send {"instances": [...]}'
            raise InvalidInputError(msg)
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except RecursionError:
            msg = "the request body is nested too deeply"
            raise InvalidInputError(msg) from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            msg = f"the request body is not valid JSON: {exc}"
            raise InvalidInputError(msg) from None

    def _read_body(self) -> bytes:
        self._body_read = True
        limit = self.server.app.max_body_bytes
        encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if encoding and encoding != "identity":
            if encoding != "chunked":
                self.close_connection = True
                raise _HTTPError(501, f"unsupported Transfer-Encoding {shown(encoding)}")
            if self.headers.get("Content-Length") is not None:
                # two framings of one body: a proxy in front may pick the other one (request smuggling)
                self.close_connection = True
                raise _HTTPError(400, "a request must not have both Transfer-Encoding and Content-Length")
            return self._read_chunked(limit)
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b""
        try:
            length = int(declared)
            if length < 0:
                raise ValueError(declared)
        except ValueError:
            self.close_connection = True
            raise _HTTPError(400, f"invalid Content-Length {shown(declared)}") from None
        if length > limit:
            self._drain(length)
            raise _HTTPError(413, f"the request body has {length} bytes; the limit is {limit}")
        body = self.rfile.read(length)
        if len(body) < length:
            msg = "the client closed the connection before sending the whole body"
            raise ConnectionError(msg)
        return body

    def _read_chunked(self, limit: int) -> bytes:
        """Read a chunked body (RFC 9112 section 7.1) of at most `limit` bytes of data.

        Chunk sizes are 1 to 16 hex digits, nothing else (no sign, no ``0x``, no spaces before them); each size or
        trailer line is at most _MAX_CHUNK_LINE bytes, and the framing (size lines, extensions, line ends and
        trailers) at most MAX_CHUNK_OVERHEAD bytes in all, so the wire never carries much more than `limit`.
        """
        parts: list[bytes] = []
        total = overhead = 0
        while True:
            line = self._chunk_line()
            overhead += len(line)
            self._check_overhead(overhead)
            text = line.split(b";", 1)[0].rstrip(b" \t\r\n")
            if not _CHUNK_SIZE.fullmatch(text):
                self.close_connection = True
                raise _HTTPError(400, f"malformed chunked request body: bad chunk size {shown(text)}")
            size = int(text, 16)
            if size == 0:
                break
            total += size
            if total > limit:
                self.close_connection = True
                raise _HTTPError(413, f"the request body exceeds the limit of {limit} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                msg = "the client closed the connection mid-body"
                raise ConnectionError(msg)
            parts.append(chunk)
            end = self.rfile.read(1)
            if end == b"\r":
                end += self.rfile.read(1)
            if end not in (b"\r\n", b"\n"):
                if end in (b"", b"\r"):
                    msg = "the client closed the connection mid-body"
                    raise ConnectionError(msg)
                self.close_connection = True
                raise _HTTPError(400, "malformed chunked request body: a chunk is longer than its size")
            overhead += len(end)
        while (line := self._chunk_line()) not in (b"\r\n", b"\n"):  # trailer fields, ignored
            overhead += len(line)
            self._check_overhead(overhead)
        return b"".join(parts)

    def _chunk_line(self) -> bytes:
        """Read one size or trailer line of a chunked body (400 if it is too long, ConnectionError at EOF)."""
        line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
        if not line:
            msg = "the client closed the connection mid-body"
            raise ConnectionError(msg)
        if not line.endswith(b"\n"):
            self.close_connection = True
            raise _HTTPError(400, f"malformed chunked request body: a line longer than {_MAX_CHUNK_LINE} bytes")
        return line

    def _check_overhead(self, overhead: int) -> None:
        if overhead > MAX_CHUNK_OVERHEAD:
            self.close_connection = True
            msg = f"the chunked request body has more than {MAX_CHUNK_OVERHEAD} bytes of framing; send larger chunks"
            raise _HTTPError(413, msg)

    def _drain(self, length: int) -> None:
        """Read and drop a body we refuse, so the client gets the answer; close the connection if it is huge."""
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(_READ_CHUNK, remaining))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    def _finish_body(self) -> None:
        """Before answering early, drop a body nobody read, so that it is not taken for the next request."""
        if self._body_read:
            return
        self._body_read = True
        declared = (self.headers.get("Content-Length") or "").strip()
        if self.headers.get("Transfer-Encoding") or (declared and not declared.isdigit()):
            self.close_connection = True
        elif declared:
            self._drain(int(declared))

    def handle_expect_100(self) -> bool:
        """Refuse an announced oversized body before the client sends it."""
        declared = self.headers.get("Content-Length", "")
        limit = self.server.app.max_body_bytes
        if declared.strip().isdigit() and int(declared) > limit:
            self.close_connection = True
            message = f"the request body has {int(declared)} bytes; the limit is {limit}"
            self._reply(413, error_body(413, "ContentTooLarge", message))
            return False
        return super().handle_expect_100()

    # ------------------------------------------------------------------------------------------ responses

    def _reply(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = _encode(body)
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer errors found while parsing the request (bad request line, unknown method...) in JSON."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        with contextlib.suppress(OSError):
            self._reply(code, error_body(code, "HTTPError", message or explain or phrase))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        """Log one line per request at DEBUG (never straight to stderr)."""
        logger.debug("%s %s", self.address_string(), format % args)


class PredictionServer:
    """An HTTP prediction server for one endpoint, following its record in the registry.

    Usable as a context manager (``with PredictionServer(registry, "shop") as server: ... server.url``), or with
    `start` and `stop`. Serving happens in background threads.

    Args:
        registry: The registry (or its storage) holding the endpoint's record and the artifacts.
        endpoint_name: The endpoint to serve.
        host: Address to bind (only that one); IPv6 addresses work too.
        port: Port; 0 picks a free one (see `url`).
        poll_interval: Seconds between re-reads of the endpoint's record.
        max_body_bytes: Largest request body accepted.
    """

    def __init__(
        self,
        registry: HasStorage | StorageBackend,
        endpoint_name: str,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not poll_interval > 0:
            msg = f"poll_interval must be positive, got {shown(poll_interval)}"
            raise InvalidInputError(msg)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            msg = f"port must be an integer from 0 to 65535, got {shown(port)}"
            raise InvalidInputError(msg)
        self.runtime = EndpointRuntime(_storage_of(registry), endpoint_name)
        self.endpoint_name = endpoint_name
        self.host = host
        self.port = port
        self.poll_interval = poll_interval
        self.max_body_bytes = max_body_bytes
        self.refresh_error: str | None = None
        self._httpd: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Read the endpoint's record, load what it serves, bind, and serve in background threads.

        Raises:
            EndpointNotFoundError: the endpoint has no record (nothing is bound).
            InvalidInputError: the endpoint is not a local one.
            DeploymentError: the address cannot be bound.
        """
        if self._httpd is not None:
            msg = "the server is already started"
            raise DeploymentError(msg)
        record = self.runtime.refresh()
        if record.target != "local":
            msg = (
                f"endpoint {self.endpoint_name!r} is a {record.target} endpoint; the local server serves local "
                "endpoints only"
            )
            raise InvalidInputError(msg)
        try:
            httpd = _HTTPServer((self.host, self.port), self)
        except OSError as exc:
            msg = f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            raise DeploymentError(msg) from exc
        self._httpd = httpd
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="predict-http"),
            threading.Thread(target=self._follow, name="predict-refresh"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        logger.debug("serving endpoint %s on %s", self.endpoint_name, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and following the record (idempotent)."""
        httpd, self._httpd = self._httpd, None
        self._stopping.set()
        if httpd is not None:
            httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10)
        self._threads = []

    def __enter__(self) -> Self:
        return self.start() if self._httpd is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8080`` (the bound port when `port` was 0)."""
        if self._httpd is None:
            msg = "the server is not started"
            raise DeploymentError(msg)
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        return self._httpd is not None

    def _follow(self) -> None:
        while not self._stopping.wait(self.poll_interval):
            self.refresh()

    def refresh(self) -> None:
        """Re-read the endpoint's record now; a failure is logged and kept for /health, never raised."""
        try:
            self.runtime.refresh()
        except Exception as exc:  # noqa: BLE001 - the server keeps serving what it has; /health shows the problem
            message = f"cannot refresh endpoint {self.endpoint_name!r}: {exc}"
            if message != self.refresh_error:
                logger.warning("%s", message, exc_info=not isinstance(exc, RegistryError))
            self.refresh_error = message
        else:
            if self.refresh_error is not None:
                logger.info("endpoint %s: refreshing works again", self.endpoint_name)
            self.refresh_error = None

    # ------------------------------------------------------------------------------------------ answers

    def health(self) -> tuple[int, dict[str, Any]]:
        """Return the status code and body of ``GET /health``."""
        runtime = self.runtime
        record, predictors, errors = runtime.record, runtime.predictors, runtime.load_errors
        traffic = dict(record.traffic) if record is not None else {}
        deployed = [
            {
                "id": d.id,
                "model": d.model_name,
                "version": d.version,
                "traffic": traffic.get(d.id, 0),
                "loaded": d.id in predictors,
                "error": errors.get(d.id),
            }
            for d in (record.active() if record is not None else [])
        ]
        serving = any(d["traffic"] and d["loaded"] for d in deployed)
        body: dict[str, Any] = {
            "status": "ok" if serving else "unavailable",
            "endpoint": self.endpoint_name,
            "traffic": traffic,
            "deployedModels": deployed,
        }
        if self.refresh_error is not None:
            body["refreshError"] = self.refresh_error
        return (200 if serving else 503), body

    def predict(self, endpoint_name: str, deployed_id: str | None, payload: Any) -> dict[str, Any]:
        """Answer a predict request.

        Raises:
            EndpointNotFoundError, NotFoundError: another endpoint, or a deployed model it does not have.
            InvalidInputError: a malformed request or instances that do not fit the model.
            NotServingError: nothing can serve. PredictionError: the model failed on valid input.
        """
        if endpoint_name != self.endpoint_name:
            msg = f"endpoint {shown(endpoint_name)} is not served here; this server serves {self.endpoint_name!r}"
            raise EndpointNotFoundError(msg)
        instances = _instances(payload)
        runtime = self.runtime
        record = runtime.record
        if deployed_id is None:
            chosen = runtime.choose()
        else:
            if record is None or deployed_id not in {d.id for d in record.active()}:
                msg = f"endpoint {shown(self.endpoint_name)} has no deployed model {shown(deployed_id)}"
                raise NotFoundError(msg)
            chosen = deployed_id
        prediction = runtime.predict(instances, chosen)
        return {
            "predictions": prediction.predictions,
            "deployedModelId": prediction.deployed_model_id,
            "modelVersion": prediction.model_version,
            "model": _model_name(runtime.record or record, prediction.deployed_model_id),
        }

    def openapi(self) -> dict[str, Any]:
        """Return the OpenAPI 3.1 document of the server's routes."""
        return openapi_document(self.endpoint_name, self._instance_schema(), self.url if self.running else None)

    def _instance_schema(self) -> dict[str, Any]:
        """JSON schema of one instance, from the inputs of a loaded model (any object if none loaded)."""
        for predictor in list(self.runtime.predictors.values()):
            properties = {name: _value_schema(spec) for name, spec in sorted(predictor.inputs.items())}
            return {
                "type": "object",
                "properties": properties,
                "required": sorted(properties),
                "additionalProperties": False,
            }
        return {"type": "object", "description": "The inputs of the model's serving_default signature, by name."}


def _instances(payload: Any) -> list[Any]:
    """Return the instances of a predict request. Raises: InvalidInputError naming what is wrong with it."""
    problem = _request_problem(payload)
    if problem:
        raise InvalidInputError(problem)
    instances: list[Any] = payload["instances"]
    return instances


def _request_problem(payload: Any) -> str:
    if not isinstance(payload, dict):
        return 'the request body must be a JSON object: {"instances": [...]}'
    if unknown := sorted(set(payload) - {"instances", "parameters"}):
        return f"unknown fields {shown(unknown)}; a predict request has 'instances' and optional 'parameters'"
    if "instances" not in payload:
        return "the request has no 'instances'"
    instances = payload["instances"]
    if not isinstance(instances, list):
        return f"'instances' must be a list, got {type(instances).__name__}"
    if not instances:
        return "'instances' is empty"
    parameters = payload.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        return "'parameters' must be an object"
    return ""


def _model_name(record: EndpointRecord | None, deployed_id: str) -> str:
    if record is None:
        return ""
    try:
        return record.deployment(deployed_id).model_name
    except KeyError:
        return ""


def _value_schema(spec: Any) -> dict[str, Any]:
    dtype = getattr(getattr(spec, "dtype", None), "name", "")
    kind = "integer" if dtype.startswith(("int", "uint")) else "boolean" if dtype == "bool" else None
    schema: dict[str, Any] = {"type": kind or _JSON_TYPES.get(dtype, "number")}
    shape = getattr(spec, "shape", None)
    rank = getattr(shape, "rank", None)
    for _ in range((rank or 1) - 1):
        schema = {"type": "array", "items": schema}
    schema["description"] = f"{dtype or 'tensor'} input"
    return schema


def openapi_document(endpoint_name: str, instance_schema: dict[str, Any], url: str | None = None) -> dict[str, Any]:
    """Return the OpenAPI 3.1 description of the prediction server for `endpoint_name`."""
    error = {"$ref": "#/components/schemas/Error"}
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": error}}}
        for code, text in (
            (400, "Malformed JSON, bad 'instances', or instances that do not fit the model's inputs."),
            (404, "Unknown endpoint or deployed model."),
            (405, "Wrong method."),
            (413, f"Request body above {MAX_BODY_BYTES} bytes."),
            (500, "The model failed on valid input."),
            (503, "Nothing can serve (no model gets traffic, or it could not be loaded)."),
        )
    }
    predict = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
        },
        "responses": {
            "200": {
                "description": "One prediction per instance.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictResponse"}}},
            },
            **errors,
        },
    }
    endpoint_param = {
        "name": "endpoint",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [endpoint_name]},
    }
    deployed_param = {"name": "deployedModelId", "in": "path", "required": True, "schema": {"type": "string"}}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"Prediction server of endpoint {endpoint_name}",
            "version": "1",
            "description": "Serves the versions the endpoint's record in the model registry lists, routed by "
            "its traffic split, in Vertex AI's request and response shapes.",
        },
        "paths": {
            "/v1/endpoints/{endpoint}:predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predict, routed by the endpoint's traffic split.",
                    "parameters": [endpoint_param],
                    **predict,
                }
            },
            "/v1/endpoints/{endpoint}/deployedModels/{deployedModelId}:predict": {
                "post": {
                    "operationId": "predictDeployedModel",
                    "summary": "Predict with one deployed model of the endpoint.",
                    "parameters": [endpoint_param, deployed_param],
                    **predict,
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "What serves, what loaded and what was refused.",
                    "responses": {
                        code: {
                            "description": text,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                        }
                        for code, text in (("200", "Something serves."), ("503", "Nothing can serve."))
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {"200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {}}}},
                }
            },
        },
        "components": {
            "schemas": {
                "Instance": instance_schema,
                "PredictRequest": {
                    "type": "object",
                    "required": ["instances"],
                    "additionalProperties": False,
                    "properties": {
                        "instances": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Instance"},
                        },
                        "parameters": {"type": "object", "description": "Accepted for Vertex compatibility."},
                    },
                },
                "PredictResponse": {
                    "type": "object",
                    "required": ["predictions", "deployedModelId", "modelVersion", "model"],
                    "properties": {
                        "predictions": {
                            "type": "array",
                            "items": {"type": "object", "description": "The signature's outputs by name."},
                        },
                        "deployedModelId": {"type": "string"},
                        "modelVersion": {"type": "string"},
                        "model": {"type": "string", "description": "Registry model name."},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "endpoint", "traffic", "deployedModels"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "unavailable"]},
                        "endpoint": {"type": "string"},
                        "traffic": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "deployedModels": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "model", "version", "traffic", "loaded", "error"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "model": {"type": "string"},
                                    "version": {"type": "string"},
                                    "traffic": {"type": "integer"},
                                    "loaded": {"type": "boolean"},
                                    "error": {"type": ["string", "null"]},
                                },
                            },
                        },
                        "refreshError": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "type", "message"],
                            "properties": {
                                "code": {"type": "integer", "description": "The HTTP status."},
                                "type": {"type": "string", "description": "Error class, e.g. InvalidInputError."},
                                "message": {"type": "string", "description": "One line for a person."},
                            },
                        }
                    },
                },
            }
        },
    }
    if url is not None:
        document["servers"] = [{"url": url}]
    return document


# ------------------------------------------------------------------------------------------------ entry points


def serve(
    registry: HasStorage | StorageBackend,
    endpoint_name: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    ready: Callable[[str], object] | None = None,
) -> None:
    """Serve `endpoint_name` over HTTP until SIGTERM, SIGINT or KeyboardInterrupt (blocking).

    Args:
        registry: The registry (or its storage).
        endpoint_name: The endpoint to serve.
        host: Address to bind (only that one).
        port: Port; 0 picks a free one.
        poll_interval: Seconds between re-reads of the endpoint's record.
        ready: Called with the server's URL once it accepts requests.

    Raises:
        EndpointNotFoundError: the endpoint has no record (checked before binding).
        DeploymentError: the address cannot be bound.
    """
    server = PredictionServer(registry, endpoint_name, host=host, port=port, poll_interval=poll_interval)
    stop = threading.Event()
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        logger.info("received signal %d, stopping", signum)
        stop.set()

    server.start()
    try:
        if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, on_signal)
        if ready is not None:
            ready(server.url)
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        logger.info("interrupted, stopping")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.stop()


def run_server_cli(
    registry: HasStorage | StorageBackend, endpoint_name: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> int:
    """Run `serve` for the CLI: print where it serves, log loads and refusals to stderr, return the exit code.

    Raises:
        EndpointNotFoundError: the endpoint has no record (before binding).
        RegistryError: the endpoint cannot be served (not local, address in use...).
    """
    handler: logging.Handler | None = None
    package = logging.getLogger("registry_core")
    level = package.level
    if not package.handlers and not logging.getLogger().handlers:  # nobody configured logging: show loads, refusals
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.setLevel(logging.INFO)
        package.addHandler(handler)
        if level == logging.NOTSET or level > logging.INFO:
            package.setLevel(logging.INFO)

    def announce(url: str) -> None:
        print(f"serving endpoint {endpoint_name} on {url} (Ctrl-C to stop)", flush=True)  # noqa: T201

    try:
        serve(registry, endpoint_name, host=host, port=port, ready=announce)
    finally:
        if handler is not None:
            package.removeHandler(handler)
            package.setLevel(level)
    return 0
