"""Pure-ASGI middleware: who is asking is settled, and request bodies are capped, before any body is read.

`RequestGate` (outermost) reads the session cookie, establishes the identity from the headers and the session,
refuses a request that carries a body to a route that changes something without an identity (401), and a token
from an address with too many wrong ones (429); on the way out it sets the session cookie and security headers.
`BodyLimit` (inside it) refuses a declared ``Content-Length`` over the limit (413) without reading anything, and
counts the bytes of a streamed (chunked) body as the route reads them, stopping it with 413 at the limit.
FastAPI reads and parses a route's body before it runs the route's dependencies, so these checks cannot be
dependencies.
"""

from __future__ import annotations

import http.cookies
from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_core.web.auth import Authenticator, AuthError
from registry_core.web.ratelimit import TooManyAttemptsError, client_key
from registry_core.web.sessions import SESSION_COOKIE, Session, SessionCodec

Refuse = Callable[[Request, int, str, str, dict[str, str]], Response]
"""Builds an error response in the app's style: (request, status, error type, message, extra headers)."""

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; form-action 'none'; "
    "base-uri 'none'; sandbox"
)
"""The content security policy of a stored report page (generated HTML with its own inline style).

It may style itself and nothing else: no script, no request anywhere (so no style can carry data off), and it runs
sandboxed, as an origin of its own, so even a page altered in storage cannot act with the UI's session.
"""


class RequestGate:
    """Session and identity before the route; session cookie and security headers after it.

    The identity (or the reason a presented credential was refused) is left in the request's state for
    `app.identity_of`, and the session for `app.session_of`.

    Args:
        app: The application inside.
        codec: Reads and signs session cookies.
        auth: Establishes identities.
        refuse: Builds the error responses.
        open_paths: Paths that take a body without an identity (signing in and out).
        secure_cookies: Mark the session cookie Secure.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        codec: SessionCodec,
        auth: Authenticator,
        refuse: Refuse,
        open_paths: frozenset[str] = frozenset({"/login", "/logout"}),
        secure_cookies: bool = False,
    ) -> None:
        self.app = app
        self.codec = codec
        self.auth = auth
        self.refuse = refuse
        self.open_paths = open_paths
        self.secure_cookies = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session = self.codec.loads(request.cookies.get(SESSION_COOKIE))
        state = scope.setdefault("state", {})
        state["session"] = session
        path: str = scope["path"]
        send = self._finishing(send, session, cookie=not path.startswith(("/api/", "/static/")))
        refusal = None if path.startswith("/static/") else self._admit(request, session, state)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _admit(self, request: Request, session: Session, state: dict[str, Any]) -> Response | None:
        client = client_key(request.client.host if request.client else None)
        state["client"] = client
        try:
            identity = self.auth.identify(request.headers, session, client)
            if request.method == "POST" and request.url.path == "/login":
                self.auth.limiter.check(client)  # refused before the form (and its token) is read
        except TooManyAttemptsError as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            if request.method in BODY_METHODS:
                headers["Connection"] = "close"  # the body stays unread: end the connection rather than drain it
            return self.refuse(request, 429, "TooManyAttempts", str(exc), headers)
        except AuthError as exc:
            identity, state["auth_error"] = None, str(exc)
        state["identity"] = identity
        if identity is None and request.method in BODY_METHODS and request.url.path not in self.open_paths:
            message = state.get("auth_error") or _SIGN_IN
            return self.refuse(request, 401, "NotAuthenticated", message, {"Connection": "close"})
        return None

    def _finishing(self, send: Send, session: Session, *, cookie: bool) -> Send:
        async def finish(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if cookie and session.changed:
                    headers.append("set-cookie", self._cookie(self.codec.dumps(session)))
            await send(message)

        return finish

    def _cookie(self, value: str) -> str:
        cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        cookie[SESSION_COOKIE] = value
        morsel = cookie[SESSION_COOKIE]
        morsel["max-age"] = str(self.codec.max_age)
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "lax"
        if self.secure_cookies:
            morsel["secure"] = True
        return morsel.OutputString()


_SIGN_IN = "sign in first: this needs an authenticated identity"


class BodyLimit:
    """Caps request bodies at `max_bytes`: by the declared length before reading, and by counting what is read.

    Args:
        app: The application inside.
        max_bytes: Largest body accepted.
        refuse: Builds the error responses.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, refuse: Refuse) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [value for name, value in scope["headers"] if name == b"content-length"]
        refusal = None
        if len(declared) > 1 or (declared and not declared[0].strip().isdigit()):
            refusal = (400, "BadRequest", "Content-Length must be one whole number")
        elif declared and int(declared[0]) > self.max_bytes:
            refusal = (413, "ContentTooLarge", self._too_large())
        if refusal is not None:
            status, kind, message = refusal
            response = self.refuse(Request(scope), status, kind, message, {"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body reading to the app's handler, which answers
                    # 413 in the app's style; the rest of the body is never read.
                    raise HTTPException(413, self._too_large(), headers={"Connection": "close"})
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"
