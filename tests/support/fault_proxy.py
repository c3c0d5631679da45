"""A fault-injecting HTTP proxy for the GCS emulator: 503s, 429s and connection resets on a share of requests.

The proxy listens on 127.0.0.1 (a threaded stdlib server) and forwards every request to the emulator. On a
configurable share of requests it injects a fault instead of the emulator's answer, either

* BEFORE forwarding: the emulator never sees the request (a plain transient failure), or
* AFTER forwarding: the emulator has acted on the request (an object was written, a precondition consumed) but the
  client gets a 503/429 or a reset connection instead of the answer. This is what makes retries dangerous: the retry
  of a conditional write meets its own first attempt.

Example:
    with FaultProxy(emulator.url, fault_rate=0.3, seed=1) as proxy:
        client = make_client(proxy.url)   # tests/support/gcs_emulator.py
        ...
    print(proxy.stats)
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from support.background_server import BackgroundServer

BEFORE = ("503-before", "429-before", "reset-before")
AFTER = ("503-after", "429-after", "reset-after")
ALL_FAULTS = BEFORE + AFTER
_STATUS = {"503": 503, "429": 429}
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
_UPSTREAM_TIMEOUT = 30.0


class FaultProxy:
    """Forward HTTP requests to `upstream`, injecting faults on a share of them.

    Args:
        upstream: Base URL of the server to forward to, e.g. the emulator's ``http://127.0.0.1:PORT``.
        fault_rate: Share of requests (0..1) that get a fault.
        faults: Which faults to draw from (names in ALL_FAULTS), uniformly.
        seed: Seed of the random choices (None: random).
        applies_to: Optional predicate (method, path, body) -> bool; requests it rejects are never faulted.
        after_forward: Optional hook (method, path, body) called for an AFTER fault once the emulator has answered
            and before the client gets its fault: the place to let a rival write in, deterministically.

    Attributes:
        stats: Counter of "requests", "forwarded" and each fault name; read it after the run.
        enabled: Set to False to forward everything untouched (e.g. during setup).
    """

    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.25,
        faults: Iterable[str] = ALL_FAULTS,
        seed: int | None = None,
        applies_to: Callable[[str, str, bytes], bool] | None = None,
        after_forward: Callable[[str, str, bytes], None] | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            msg = f"upstream must be http://host:port, not {upstream!r}"
            raise ValueError(msg)
        self.faults = tuple(faults)
        unknown = set(self.faults) - set(ALL_FAULTS)
        if unknown or not self.faults:
            msg = f"unknown or no faults: {sorted(unknown)}; expected some of {ALL_FAULTS}"
            raise ValueError(msg)
        if not 0 <= fault_rate <= 1:
            msg = f"fault_rate must be within [0, 1], not {fault_rate}"
            raise ValueError(msg)
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port
        self.fault_rate = fault_rate
        self.applies_to = applies_to
        self.after_forward = after_forward
        self.enabled = True
        self.stats: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._background = BackgroundServer(_Handler, name="fault-proxy", server_class=_Server, owner=self)

    # -- lifecycle --------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's base URL, ``http://127.0.0.1:PORT``."""
        return self._background.url

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1 and serve in a background thread."""
        self._background.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._background.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- decisions --------------------------------------------------------------------------------------------

    def decide(self, method: str, path: str, body: bytes) -> str | None:
        """Return the fault to inject into this request, or None to forward it untouched (thread-safe)."""
        with self._lock:
            self.stats["requests"] += 1
            if not self.enabled or (self.applies_to is not None and not self.applies_to(method, path, body)):
                return None
            if self._rng.random() >= self.fault_rate:
                return None
            fault = self._rng.choice(self.faults)
            self.stats[fault] += 1
            return fault

    def count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    @property
    def faulted(self) -> int:
        """How many requests got a fault so far."""
        with self._lock:
            return sum(self.stats[name] for name in ALL_FAULTS)

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, Any, bytes]:
        """Send one request upstream; return its status, headers and body."""
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=_UPSTREAM_TIMEOUT)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            data = response.read()
            self.count("forwarded")
            return response.status, response.getheaders(), data
        finally:
            connection.close()


class _Server(ThreadingHTTPServer):
    owner: FaultProxy

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reset_sockets: set[int] = set()
        self._reset_lock = threading.Lock()

    def mark_reset(self, sock: socket.socket) -> None:
        with self._reset_lock:
            self.reset_sockets.add(id(sock))

    def shutdown_request(self, request: Any) -> None:
        with self._reset_lock:
            reset = id(request) in self.reset_sockets
            self.reset_sockets.discard(id(request))
        if reset:
            request.close()  # no shutdown(): with SO_LINGER 0 the close sends a RST, not a FIN
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (or a socket we reset) is not worth a traceback on stderr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like GCS; every answer carries a Content-Length
    disable_nagle_algorithm = True  # headers and body go out in separate writes; Nagle would delay each by 40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _relay(self) -> None:
        proxy = self.server.owner
        body = self._body()
        fault = proxy.decide(self.command, self.path, body)
        if fault in BEFORE:
            self._inject(fault)
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        try:
            status, response_headers, data = proxy.forward(self.command, self.path, headers, body)
        except OSError as exc:
            self._error(502, f"proxy could not reach the emulator: {exc}")
            return
        if fault in AFTER:
            if proxy.after_forward is not None:
                proxy.after_forward(self.command, self.path, body)
            self._inject(fault)
            return
        self.send_response(status)
        for name, value in response_headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header(
                "Content-Length", dict((k.lower(), v) for k, v in response_headers).get("content-length", "0")
            )
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _inject(self, fault: str) -> None:
        kind = fault.split("-")[0]
        if kind == "reset":
            # Abortive close: the client sees ECONNRESET (or an empty reply) instead of an answer.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.mark_reset(self.connection)
            self.close_connection = True
            return
        self._error(_STATUS[kind], f"injected {fault}")

    def _error(self, status: int, message: str) -> None:
        payload = json.dumps({"error": {"code": status, "message": message, "errors": [{"message": message}]}})
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _relay


def shorten_gcs_retries(initial: float = 0.01, maximum: float = 0.2, timeout: float = 1.0) -> Callable[[], None]:
    """Make google-cloud-storage's DEFAULT_RETRY back off briefly and give up after `timeout` seconds.

    The SDK's defaults (1 s first delay, doubling, 120 s deadline) would make a test with injected faults take
    minutes. DEFAULT_RETRY is one shared object (used for reads, deletes and conditional writes, and imported by
    GCSStorage at call time), so its timing is changed in place. Returns a function that restores it.
    """
    from google.cloud.storage.retry import DEFAULT_RETRY

    saved = (DEFAULT_RETRY._initial, DEFAULT_RETRY._maximum, DEFAULT_RETRY._timeout, DEFAULT_RETRY._deadline)
    DEFAULT_RETRY._initial, DEFAULT_RETRY._maximum = initial, maximum
    DEFAULT_RETRY._timeout = DEFAULT_RETRY._deadline = timeout

    def restore() -> None:
        (DEFAULT_RETRY._initial, DEFAULT_RETRY._maximum, DEFAULT_RETRY._timeout, DEFAULT_RETRY._deadline) = saved

    return restore
