"""The local prediction server: one endpoint over HTTP (Starlette on uvicorn), following the endpoint's record.

`model-registry serve ENDPOINT` runs `serve`; tests and embedders use `PredictionServer`. The server keeps an
`EndpointService` and re-reads the endpoint's record every `poll_interval` seconds, so deploying, shifting traffic,
rolling back and undeploying are record changes it follows without a restart. Artifacts are verified against their
manifest before a model is loaded; a version that fails is refused (and shown by ``GET /health``), never served.

Routes (JSON in and out; `registry_core.deploy.http_app` has the details):

- ``POST /v1/endpoints/{endpoint}:predict`` with ``{"instances": [...]}``: routed by the traffic split (Vertex AI's
  shapes); ``POST /v1/endpoints/{endpoint}/deployedModels/{id}:predict``: one deployed model.
- ``GET /health``: what serves, what loaded and what was refused (503 when nothing can serve).
- ``GET /openapi.json``: an OpenAPI 3.1 description of the routes.
- KServe's Open Inference Protocol v2 under ``/v2`` (``{model}`` is a registry model name): health, model metadata
  and readiness, ``POST /v2/models/{model}[/versions/{version}]/infer``.
- SageMaker's container contract: ``GET /ping``, ``POST /invocations`` (this server's endpoint, by its split).

HTTP (parsing, keep-alive, chunked bodies, idle timeouts, graceful shutdown) is uvicorn's, run in a background
thread on a socket bound here, so that a busy port is an error before anything starts.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, Self

from registry_core.deploy.openapi import MAX_BODY_BYTES, openapi_document
from registry_core.deploy.service import EndpointService
from registry_core.errors import DependencyMissingError, DeploymentError, InvalidInputError
from registry_core.monitoring.prediction_log import PredictionLogger, PredictionLogSettings
from registry_core.storage.base import StorageBackend
from registry_core.text import shown

if TYPE_CHECKING:
    from registry_core.deploy.http_app import ContainerRoutes  # imports Starlette: only once serving starts

logger = logging.getLogger(__name__)

__all__ = ["MAX_BODY_BYTES", "PredictionServer", "run_server_cli", "serve", "serve_until_stopped"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_POLL_INTERVAL = 0.5
KEEP_ALIVE_SECONDS = 60  # an idle keep-alive connection costs a socket, not a thread: keep it as long as before
_STOP_GRACE = 5  # seconds `stop` waits for requests in flight
_START_TIMEOUT = 30.0


class HasStorage(Protocol):
    """Anything with the registry's storage, such as a `ModelRegistry` (named here without importing it)."""

    @property
    def storage(self) -> StorageBackend:
        """The registry's storage backend."""


def _service(storage: StorageBackend, endpoint_name: str, settings: PredictionLogSettings) -> EndpointService:
    """The answers of a server following `endpoint_name`'s record, logging its predictions as `settings` say."""
    if not settings.enabled:
        return EndpointService(
            storage,
            endpoint_name,
            logging_off="prediction logging is disabled",
            max_feedback_per_hour=settings.max_feedback_per_hour,
        )
    return EndpointService(storage, endpoint_name, prediction_log=PredictionLogger(storage, endpoint_name, settings))


def _storage_of(source: HasStorage | StorageBackend) -> StorageBackend:
    if isinstance(source, StorageBackend):
        return source
    storage = getattr(source, "storage", None)
    if not isinstance(storage, StorageBackend):
        msg = f"expected a ModelRegistry or a StorageBackend, got {type(source).__name__}"
        raise InvalidInputError(msg)
    return storage


class PredictionServer:
    """An HTTP prediction server for one endpoint, following its record in the registry.

    Usable as a context manager (``with PredictionServer(registry, "shop") as server: ... server.url``), or with
    `start` and `stop`. Serving happens in background threads.

    Args:
        registry: The registry (or its storage) holding the endpoint's record and the artifacts (None with `service`).
        endpoint_name: The endpoint to serve.
        host: Address to bind (only that one); IPv6 addresses work too.
        port: Port; 0 picks a free one (see `url`).
        poll_interval: Seconds between re-reads of the endpoint's record.
        max_body_bytes: Largest request body accepted.
        service: The answers, when they do not follow an endpoint's record (a serving container's one version).
        container: A serving container's extra routes (`registry_core.deploy.container`); with `service`.
        prediction_log: How predictions are logged under the registry root (default: every request, see
            `PredictionLogSettings`); not with `service`, which has its own.
    """

    def __init__(
        self,
        registry: HasStorage | StorageBackend | None,
        endpoint_name: str,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_body_bytes: int = MAX_BODY_BYTES,
        service: EndpointService | None = None,
        container: ContainerRoutes | None = None,
        prediction_log: PredictionLogSettings | None = None,
    ) -> None:
        if not poll_interval > 0:
            msg = f"poll_interval must be positive, got {shown(poll_interval)}"
            raise InvalidInputError(msg)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            msg = f"port must be an integer from 0 to 65535, got {shown(port)}"
            raise InvalidInputError(msg)
        if service is None:
            if registry is None:
                msg = "a PredictionServer needs a registry, or the service it answers with"
                raise InvalidInputError(msg)
            service = _service(_storage_of(registry), endpoint_name, prediction_log or PredictionLogSettings())
        self.service = service
        self.container = container
        self.runtime = self.service.runtime
        self.endpoint_name = endpoint_name
        self.host = host
        self.port = port
        self.poll_interval = poll_interval
        self.max_body_bytes = max_body_bytes
        self._address: tuple[str, int] | None = None
        self._uvicorn: Any = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Read the endpoint's record, load what it serves, bind, and serve in background threads.

        Raises:
            EndpointNotFoundError: the endpoint has no record (nothing is bound).
            InvalidInputError: the endpoint is not a local one.
            DeploymentError: the address cannot be bound, or the server did not start.
            DependencyMissingError: Starlette or uvicorn is not installed.
        """
        if self._uvicorn is not None:
            msg = "the server is already started"
            raise DeploymentError(msg)
        record = self.runtime.refresh() if self.container is None else None  # a container's may still load
        if record is not None and record.target != "local":
            msg = (
                f"endpoint {self.endpoint_name!r} is a {record.target} endpoint; the local server serves local "
                "endpoints only"
            )
            raise InvalidInputError(msg)
        try:
            import uvicorn

            from registry_core.deploy.http_app import create_app
        except ImportError as exc:
            msg = f"the prediction server needs its extra: pip install 'registry-core[serve]' ({exc.name} is missing)"
            raise DependencyMissingError(msg) from exc
        sock = self._bind()
        self._address = sock.getsockname()[:2]
        self.service.open()  # a server stopped and started again logs again
        app = create_app(
            self.service,
            max_body_bytes=self.max_body_bytes,
            url=lambda: self.url if self.running else None,
            container=self.container,
        )
        config = uvicorn.Config(
            app,
            loop="asyncio",
            http="h11",  # one HTTP implementation whatever else is installed: its refusals are the ones tested
            lifespan="on",  # its shutdown writes the prediction logs that wait (see `create_app`)
            log_config=None,  # never configure the process's logging; requests are logged at DEBUG by the app
            access_log=False,
            server_header=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=_STOP_GRACE,
        )
        server = uvicorn.Server(config)
        self._uvicorn = server
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(server, sock), name="predict-http", daemon=True),
        ]
        if self.container is None:  # a container serves one version: no record to follow
            self._threads.append(threading.Thread(target=self._follow, name="predict-refresh", daemon=True))
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not self._threads[0].is_alive() or time.monotonic() > deadline:
                self.stop()
                msg = f"the prediction server did not start on {self.host}:{self.port} (see the log)"
                raise DeploymentError(msg)
            time.sleep(0.01)
        logger.debug("serving endpoint %s on %s", self.endpoint_name, self.url)
        return self

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on a connection only when its socket says TCP, and
        # without it every answer (headers, then body) waited ~40 ms for the client's delayed ACK (make bench-serve)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            msg = f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            raise DeploymentError(msg) from exc
        return sock

    @staticmethod
    def _run(server: Any, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException:  # noqa: BLE001 - a failure here must not print a thread's traceback; start reports it
            logger.exception("the prediction server stopped on an error")
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving and following the record (idempotent); requests in flight get a few seconds to finish."""
        server, self._uvicorn = self._uvicorn, None
        self._stopping.set()
        if server is not None:
            server.should_exit = True
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=_STOP_GRACE + 5)
        self._threads = []
        self.service.close()  # done by uvicorn's shutdown already, unless it never started or gave up

    def __enter__(self) -> Self:
        return self.start() if self._uvicorn is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8080`` (the bound port when `port` was 0)."""
        if self._uvicorn is None or self._address is None:
            msg = "the server is not started"
            raise DeploymentError(msg)
        host, port = self._address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        return self._uvicorn is not None

    def _follow(self) -> None:
        while not self._stopping.wait(self.poll_interval):
            self.service.refresh()

    # ------------------------------------------------------------------------------------------ answers

    @property
    def refresh_error(self) -> str | None:
        """Why the last re-read of the record failed (None when it worked)."""
        return self.service.refresh_error

    def refresh(self) -> None:
        """Re-read the endpoint's record now; a failure is logged and kept for /health, never raised."""
        self.service.refresh()

    def health(self) -> tuple[int, dict[str, Any]]:
        """Return the status code and body of ``GET /health``."""
        return self.service.health()

    def predict(self, endpoint_name: str, deployed_id: str | None, payload: Any) -> dict[str, Any]:
        """Answer a predict request (see `EndpointService.predict`)."""
        return self.service.predict(endpoint_name, deployed_id, payload)

    def openapi(self) -> dict[str, Any]:
        """Return the OpenAPI 3.1 document of the server's routes."""
        url = self.url if self.running else None
        return openapi_document(self.endpoint_name, self.service.instance_schema(), url, self.max_body_bytes)


# ------------------------------------------------------------------------------------------------ entry points


def serve(
    registry: HasStorage | StorageBackend,
    endpoint_name: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    ready: Callable[[str], object] | None = None,
    prediction_log: PredictionLogSettings | None = None,
) -> None:
    """Serve `endpoint_name` over HTTP until SIGTERM, SIGINT or KeyboardInterrupt (blocking).

    Args:
        registry: The registry (or its storage).
        endpoint_name: The endpoint to serve.
        host: Address to bind (only that one).
        port: Port; 0 picks a free one.
        poll_interval: Seconds between re-reads of the endpoint's record.
        ready: Called with the server's URL once it accepts requests.
        prediction_log: How predictions are logged (default: every request).

    Raises:
        EndpointNotFoundError: the endpoint has no record (checked before binding).
        DeploymentError: the address cannot be bound.
    """
    server = PredictionServer(
        registry, endpoint_name, host=host, port=port, poll_interval=poll_interval, prediction_log=prediction_log
    )
    serve_until_stopped(server, ready)


def serve_until_stopped(
    server: PredictionServer,
    ready: Callable[[str], object] | None = None,
    *,
    prepare: Callable[[], object] | None = None,
) -> None:
    """Start `server` and serve until SIGTERM, SIGINT or KeyboardInterrupt (blocking), then stop it.

    Args:
        server: The server, not started.
        ready: Called with the server's URL once it accepts requests (and `prepare` has returned).
        prepare: Called once the server listens, before `ready` (e.g. loading what it serves); what it raises
            stops the server and propagates.

    Raises:
        RegistryError: the server cannot start (see `PredictionServer.start`).
    """
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
        if prepare is not None:
            prepare()
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


@contextlib.contextmanager
def logging_to_stderr() -> Iterator[None]:
    """Show the package's INFO logs (loads, refusals) on stderr while inside, unless logging is configured."""
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
    try:
        yield
    finally:
        if handler is not None:
            package.removeHandler(handler)
            package.setLevel(level)


def run_server_cli(
    registry: HasStorage | StorageBackend,
    endpoint_name: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    prediction_log: PredictionLogSettings | None = None,
) -> int:
    """Run `serve` for the CLI: print where it serves, log loads and refusals to stderr, return the exit code.

    Raises:
        EndpointNotFoundError: the endpoint has no record (before binding).
        RegistryError: the endpoint cannot be served (not local, address in use...).
    """

    def announce(url: str) -> None:
        print(f"serving endpoint {endpoint_name} on {url} (Ctrl-C to stop)", flush=True)  # noqa: T201

    with logging_to_stderr():
        serve(registry, endpoint_name, host=host, port=port, ready=announce, prediction_log=prediction_log)
    return 0
