"""Local stand-ins of the two Google identity services our credentials talk to, for tests without Google.

* `TokenServer`: the OAuth token endpoint a service account key names in its ``token_uri``; it answers every
  JWT-bearer grant with an access token.
* `MetadataServer`: the compute metadata server that Vertex AI tasks, GCE and Cloud Run ask for their service
  account (``instance/service-accounts/default/?recursive=true``) and its tokens; point google-auth at it with
  ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP`` (read when google-auth is imported, so in a subprocess).

Both bind 127.0.0.1 on a free port, serve on a daemon thread and stop with the context manager.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from support.background_server import BackgroundServer


class _Server:
    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                owner.requests.append(self.path)
                owner._answer(self)

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append(self.path)
                owner._answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.requests: list[str] = []
        self._background = BackgroundServer(Handler, name=type(self).__name__)

    @property
    def address(self) -> str:
        return self._background.url.removeprefix("http://")

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        status, body = self.route(urlsplit(handler.path).path, handler)
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Metadata-Flavor", "Google")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def route(self, path: str, handler: BaseHTTPRequestHandler) -> tuple[int, Any]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._background.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._background.stop()


class TokenServer(_Server):
    """An OAuth token endpoint: every grant gets a one-hour access token."""

    def route(self, path: str, handler: BaseHTTPRequestHandler) -> tuple[int, Any]:
        return 200, {"access_token": "standin-token", "expires_in": 3600, "token_type": "Bearer"}

    def service_account_key(self, folder: Path, email: str) -> Path:
        """Write a service account key file for `email` (a fresh RSA key) whose token_uri is this server."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        info = {
            "type": "service_account", "project_id": "test", "private_key_id": "1", "private_key": pem,
            "client_email": email, "client_id": "1", "token_uri": f"http://{self.address}/token",
        }  # fmt: skip
        path = folder / "service-account.json"
        path.write_text(json.dumps(info))
        return path


class MetadataServer(_Server):
    """The compute metadata server of a machine running as `email`."""

    def __init__(self, email: str) -> None:
        super().__init__()
        self.email = email

    def route(self, path: str, handler: BaseHTTPRequestHandler) -> tuple[int, Any]:
        if handler.headers.get("Metadata-Flavor") != "Google":
            return 403, {"error": "missing Metadata-Flavor header"}
        accounts = "/computeMetadata/v1/instance/service-accounts/"
        if path in (f"{accounts}default/", f"{accounts}{self.email}/"):
            return 200, {"email": self.email, "aliases": ["default"], "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
        if path.startswith(accounts) and path.endswith("/token"):
            return 200, {"access_token": "standin-token", "expires_in": 3600, "token_type": "Bearer"}
        if path in ("/", "/computeMetadata/v1/project/project-id"):
            return 200, "test-project"
        return 404, {"error": f"no {path}"}
