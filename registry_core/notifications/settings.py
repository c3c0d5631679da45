"""Settings of the notification sinks (pydantic only), and what the notifier reads from its application's settings.

The web UI's configuration file holds them (``[email]``, ``[[webhooks]]``, ``webhook_allowed_networks``,
``approvers``, ``base_url``: see `registry_core.web.config`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from registry_core.errors import InvalidInputError
from registry_core.text import shown

EVENT_KINDS = (
    "registered",
    "promotion_requested",
    "approved",
    "rejected",
    "promoted",
    "stage_changed",
    "deployed",
    "undeployed",
    "rolled_back",
    "monitored",
    "monitoring_alert",
)
"""Notification kinds. "promoted" is a move up the lifecycle; other stage moves (archive, demotion) are
"stage_changed". A monitoring run is "monitoring_alert" when it found drift, anomalies or degraded quality, else
"monitored"."""
OPT_IN_KINDS = frozenset({"monitored"})
"""Kinds sent only to those who name them: "all" (mail) and an empty event list (webhooks) leave them out, so a
monitor run by cron every hour does not mail everyone that all is well."""


def _secret(value: str | None, env: str | None, what: str) -> str | None:
    if value:
        return value
    if env:
        found = os.environ.get(env)
        if not found:
            msg = f"{what}: environment variable {env} is not set"
            raise InvalidInputError(msg)
        return found
    return None


def _check_kinds(kinds: list[str] | Mapping[str, Any], allow_all: bool) -> None:
    known = set(EVENT_KINDS) | ({"all"} if allow_all else set())
    if unknown := sorted(set(kinds) - known):
        msg = f"unknown event kinds {unknown}; expected some of: {', '.join(sorted(known))}"
        raise ValueError(msg)


class EmailSettings(BaseModel):
    """SMTP notifications.

    Attributes:
        host: SMTP server.
        port: SMTP port (25, 465 for TLS, 587 for STARTTLS).
        security: "none", "starttls" or "tls" (implicit TLS).
        from_addr: Sender address.
        username: Login, if the server wants one.
        password: Its password (prefer `password_env`).
        password_env: Name of the environment variable holding the password.
        recipients: Event kind (or "all") -> addresses.
        timeout_seconds: Socket timeout.
        max_attempts: Tries per message on connection errors and temporary (4xx) SMTP failures.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    from_addr: str
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    recipients: dict[str, list[str]] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("recipients")
    @classmethod
    def _known_kinds(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _check_kinds(value, allow_all=True)
        return value

    def login_password(self) -> str | None:
        """Return the SMTP password (from the file or the named variable)."""
        return _secret(self.password, self.password_env, "email.password_env")


class WebhookSettings(BaseModel):
    """One webhook: a JSON POST per event, signed with HMAC-SHA256.

    Attributes:
        url: Where to POST (http or https).
        secret: Signing key (prefer `secret_env`).
        secret_env: Name of the environment variable holding the key.
        events: Kinds to send; empty: every kind.
        timeout_seconds: Per request.
        max_attempts: Tries on connection errors and 5xx/429 answers, with exponential backoff.
        backoff_seconds: First wait between tries (doubled each time, at most 30 s).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    secret: str | None = None
    secret_env: str | None = None
    events: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0, le=30)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            msg = f"webhook url must start with http:// or https://, got {shown(value)}"
            raise ValueError(msg)
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        _check_kinds(value, allow_all=False)
        return value

    def signing_key(self) -> bytes:
        """Return the HMAC key. Raises: InvalidInputError when none is configured."""
        key = _secret(self.secret, self.secret_env, f"webhook {self.url} secret_env")
        if not key:
            msg = f"webhook {self.url} needs a secret (or secret_env) to sign its requests"
            raise InvalidInputError(msg)
        return key.encode()


class NotificationSettings(Protocol):
    """What the notifier reads from its application's settings (the web UI's WebConfig has all of it)."""

    @property
    def base_url(self) -> str:
        """Public URL of the UI, for links in notifications."""
        ...

    @property
    def approvers(self) -> Sequence[str]:
        """Approvers; those that are e-mail addresses get "promotion_requested" mails."""
        ...

    @property
    def email(self) -> EmailSettings | None:
        """SMTP notifications, if any."""
        ...

    @property
    def webhooks(self) -> Sequence[WebhookSettings]:
        """Webhook notifications."""
        ...

    @property
    def webhook_allowed_networks(self) -> Sequence[IPv4Network | IPv6Network]:
        """Networks webhooks may reach although they are loopback, link-local or the like."""
        ...
