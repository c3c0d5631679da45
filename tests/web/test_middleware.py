"""Identity before bodies, and bodies capped, against `model-registry ui` (uvicorn) as a real server process.

Requests are written by hand on a socket, so a test can declare a body and not send it, or stream one in chunks,
and see whether the server answers before it has read the body.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web_support import MODEL, TOKENS, build_registry, free_port

LIMIT = 64 * 1024
BOB = "bob-token-00002"
PROMOTE = f"/api/v1/models/{MODEL}/versions/v3/promote"
DECLARED = 75 * 1000 * 1000  # what made the server grow to 1.9 GB when it read and parsed it


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the client got to send before the answer (or the closed connection) stopped it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("bodies")
    registry = build_registry(folder / "registry", folder / "work")
    config = folder / "ui.toml"
    tokens = ", ".join(f'"{token}" = "{user}"' for token, user in TOKENS.items())
    config.write_text(f"tokens = {{{tokens}}}\nmax_request_bytes = {LIMIT}\nwatch_interval_seconds = 0\n")
    port = free_port()
    log = folder / "ui.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "registry_core", "--registry", str(registry.config.root), "ui", "--port", str(port),
             "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield Server(port, process)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(15)


def send(server: Server, head: str, chunks: Iterable[bytes] = (), wait: float = 5.0) -> Answer:
    """Send a request head, then body chunks while the server has not answered; return its answer."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=wait)
    sent = 0
    try:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # it answered (or closed) before the body was all there
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        received = b""
        while b"\r\n\r\n" not in received:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no answer within {wait}s: the server waits for the body") from None
            if not data:
                raise AssertionError(f"connection closed without an answer after {received!r}")
            received += data
        top, _, body = received.partition(b"\r\n\r\n")
        status_line, *lines = top.decode().split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        while len(body) < int(headers.get("content-length", 0)):
            data = sock.recv(65536)
            if not data:
                break
            body += data
        return Answer(int(status_line.split()[1]), headers, body, sent)
    finally:
        sock.close()


def head(method: str, path: str, token: str | None = None, **fields: object) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in fields.items()]
    return "\n".join(lines) + "\n"


def chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    piece = f"{size:x}\r\n".encode() + b" " * size + b"\r\n"
    for _ in range(total // size):
        yield piece
    yield b"0\r\n\r\n"


def test_a_post_without_identity_is_refused_before_its_body_is_read(server: Server) -> None:
    answer = send(server, head("POST", PROMOTE, Content_Type="application/json", Content_Length=DECLARED))
    assert answer.status == 401
    assert json.loads(answer.body)["error"]["type"] == "NotAuthenticated"
    assert answer.headers["connection"] == "close"
    form = send(server, head("POST", f"/models/{MODEL}/versions/v3/promote",
                             Content_Type="application/x-www-form-urlencoded", Content_Length=1000))  # fmt: skip
    assert form.status == 401  # under the size limit: it is the missing identity that stops it


@pytest.mark.parametrize(
    ("method", "path", "token"),
    [("POST", PROMOTE, BOB), ("POST", "/login", None), ("GET", "/api/v1/models", BOB), ("PUT", "/models", BOB)],
)
def test_a_declared_length_over_the_limit_is_413_on_every_route_before_the_body_is_sent(
    server: Server, method: str, path: str, token: str | None
) -> None:
    answer = send(server, head(method, path, token, Content_Type="application/json", Content_Length=DECLARED))
    assert answer.status == 413
    assert answer.headers["connection"] == "close"
    assert f"larger than {LIMIT} bytes" in answer.body.decode()


def test_a_chunked_body_is_cut_off_at_the_limit_without_the_server_growing(server: Server) -> None:
    before = server.rss_kib()
    total = 256 * 1024 * 1024
    answer = send(server, head("POST", PROMOTE, BOB, Content_Type="application/json", Transfer_Encoding="chunked"),
                  chunked(total))  # fmt: skip
    assert answer.status == 413
    assert json.loads(answer.body)["error"]["type"] == "ContentTooLarge"
    assert answer.sent < 32 * 1024 * 1024  # it answered long before the client finished (socket buffers aside)
    assert server.rss_kib() - before < 32 * 1024


def test_an_unauthenticated_chunked_body_is_refused_at_once(server: Server) -> None:
    answer = send(server, head("POST", PROMOTE, Content_Type="application/json", Transfer_Encoding="chunked"),
                  chunked(64 * 1024 * 1024))  # fmt: skip
    assert answer.status == 401
    assert answer.sent < 16 * 1024 * 1024


def test_a_body_within_the_limit_still_works(server: Server) -> None:
    body = json.dumps({"stage": "validation", "reason": "x" * 1000}).encode()
    answer = send(server, head("POST", PROMOTE, BOB, Content_Type="application/json", Content_Length=len(body)),
                  [body])  # fmt: skip
    assert answer.status == 200, answer.body
    assert json.loads(answer.body)["version"]["stage"] == "validation"


def test_wrong_tokens_are_counted_per_client_address_behind_a_local_proxy(server: Server) -> None:
    def whoami(token: str, client: str) -> Answer:
        return send(server, head("GET", "/api/v1/whoami", token, X_Forwarded_For=client))

    assert all(whoami("guessed-token-00", "203.0.113.5").status == 401 for _ in range(10))
    refused = whoami(BOB, "203.0.113.5")
    assert refused.status == 429
    assert int(refused.headers["retry-after"]) > 0
    assert whoami(BOB, "203.0.113.6").status == 200  # another client behind the same proxy
