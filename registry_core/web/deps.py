"""What every route needs from its request: the app's shared state, the session, who is asking, the templates.

`api` and `pages` import these; `app` assembles the application and never lends its own names to the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from registry_core.notifications.notifier import Notifier
from registry_core.registry import ModelRegistry
from registry_core.web.auth import Authenticator, Identity
from registry_core.web.config import WebConfig
from registry_core.web.sessions import Session, SessionCodec

API_PREFIX = "/api/v1"
TEMPLATES = Path(__file__).parent / "templates"


class NotAuthenticatedError(Exception):
    """A request that needs an identity came without one (or with an invalid one)."""

    def __init__(self, message: str = "sign in first: this needs an authenticated identity") -> None:
        super().__init__(message)


class CSRFError(Exception):
    """A form post without the session's CSRF token."""


@dataclass
class WebState:
    """What the routes share.

    Attributes:
        config: The UI's settings.
        registry: The registry shown and changed.
        auth: Establishes identities.
        codec: Signs session cookies.
        notifier: Sends notifications.
        templates: The Jinja2 templates.
    """

    config: WebConfig
    registry: ModelRegistry
    auth: Authenticator
    codec: SessionCodec
    notifier: Notifier
    templates: Jinja2Templates


def state_of(request: Request) -> WebState:
    """Return the app's shared state."""
    state: WebState = request.app.state.web
    return state


def session_of(request: Request) -> Session:
    """Return the request's session (from the signed cookie, or a new one)."""
    session: Session = request.state.session
    return session


def identity_of(request: Request) -> Identity | None:
    """Return who is asking (as `middleware.RequestGate` found before the route ran), or None.

    Raises:
        NotAuthenticatedError: a credential was presented and refused.
    """
    problem = getattr(request.state, "auth_error", None)
    if problem:
        raise NotAuthenticatedError(problem)
    identity: Identity | None = getattr(request.state, "identity", None)
    return identity


def client_of(request: Request) -> str:
    """Return the key wrong tokens of this request's client are counted under (`ratelimit.client_key`)."""
    client: str = request.state.client
    return client


def load_templates() -> Jinja2Templates:
    """Return the page templates, with the filters they use (``when``, ``filesize``)."""
    loaded = Jinja2Templates(directory=str(TEMPLATES))
    loaded.env.filters["when"] = _when
    loaded.env.filters["filesize"] = _filesize
    return loaded


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _filesize(size: int | None) -> str:
    if size is None:
        return ""
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"
