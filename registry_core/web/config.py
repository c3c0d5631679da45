"""WebConfig: settings of the web UI and REST API, from a TOML or JSON file and MODEL_REGISTRY_UI_* variables.

This module imports only pydantic (and the notification settings, pydantic too), so the CLI can read and check a
configuration without the web extra.

Example ``registry-ui.toml``::

    registry = "gs://my-bucket/registry"
    auth_mode = "iap"                       # or "token"
    allow_anonymous_read = false
    approvers = ["ml-lead@example.com"]     # who may approve/reject; empty: anyone but the registrant
    base_url = "https://registry.example.com"

    [iap]
    audience = "/projects/123/global/backendServices/456"
    keys_file = "/etc/registry/iap-keys.json"   # Google's IAP keys (JWKS or kid->PEM map), refreshed by you

    [email]
    host = "smtp.example.com"
    port = 587
    security = "starttls"
    from_addr = "registry@example.com"
    username = "registry"
    password_env = "SMTP_PASSWORD"
    [email.recipients]
    promotion_requested = ["ml-leads@example.com"]
    all = ["audit@example.com"]

    [[webhooks]]
    url = "https://hooks.example.com/registry"
    secret_env = "REGISTRY_WEBHOOK_SECRET"
    events = ["promoted", "rolled_back"]

Limits: ``max_request_bytes`` (413 beyond), ``wrong_token_limit`` per ``wrong_token_window_seconds`` and client
address (429 beyond), ``webhook_allowed_networks`` (loopback/link-local networks webhooks may reach anyway).

Every top-level setting can also come from ``MODEL_REGISTRY_UI_<NAME>`` (e.g. ``MODEL_REGISTRY_UI_AUTH_MODE=token``,
``MODEL_REGISTRY_UI_TOKENS='{"s3cret": "alice"}'``); a variable wins over the file. Structured values are JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from registry_core.errors import InvalidInputError
from registry_core.notifications.settings import EmailSettings, WebhookSettings
from registry_core.text import one_line

ENV_PREFIX = "MODEL_REGISTRY_UI_"
CONFIG_ENV = "MODEL_REGISTRY_UI_CONFIG"
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_HEADER = "x-goog-iap-jwt-assertion"

class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IAPSettings(_Settings):
    """Google Cloud Identity-Aware Proxy: how to verify the ``x-goog-iap-jwt-assertion`` header.

    Attributes:
        audience: The expected ``aud`` claim, e.g. ``/projects/NUMBER/global/backendServices/ID`` or
            ``/projects/NUMBER/apps/PROJECT_ID``.
        keys_file: Local file with the public keys: a JWKS (``{"keys": [...]}``, Google's ``public_key-jwk``), a
            JSON map of key id to PEM (Google's ``public_key``), or PEM public keys. Re-read when it changes.
        issuer: The expected ``iss`` claim.
        leeway_seconds: Clock skew tolerated on ``exp``/``iat``.
    """

    audience: str
    keys_file: Path
    issuer: str = IAP_ISSUER
    leeway_seconds: int = Field(default=30, ge=0, le=600)


class WebConfig(_Settings):
    """Settings of `model-registry ui`.

    Attributes:
        registry: Registry root (folder, file://, gs://); None: --registry, else the default root.
        auth_mode: "token" (bearer tokens and a login form) or "iap" (Google Identity-Aware Proxy).
        tokens: Bearer token -> user name (token mode).
        tokens_file: File with more tokens: JSON/TOML ``{token = "user"}`` or lines ``TOKEN USER``.
        iap: IAP verification settings (iap mode).
        allow_anonymous_read: Let requests without identity browse (never change anything).
        approvers: Identities allowed to approve or reject; empty: anyone the four-eyes rule allows. Those that
            are e-mail addresses also get "promotion_requested" mails.
        session_secret: Key signing session cookies (CSRF token, messages, session id); unset: a random one per
            process. Sign-ins themselves are held by the server process, so a restart ends them either way.
        session_max_age_seconds: How long a sign-in lasts.
        secure_cookies: Mark cookies Secure (behind HTTPS).
        max_request_bytes: Largest request body accepted (413 beyond it, before it is read).
        wrong_token_limit: Wrong tokens (bearer or login form) accepted from one client address (IPv6: one /64)
            within `wrong_token_window_seconds`; after that its tokens get 429 with Retry-After.
        wrong_token_window_seconds: The window of `wrong_token_limit`.
        base_url: Public URL of the UI, for links in notifications.
        email: SMTP notifications.
        webhooks: Webhook notifications.
        webhook_allowed_networks: Networks (CIDR) webhooks may reach although they are loopback, link-local or
            otherwise not meant for them (e.g. ``["127.0.0.1/32"]`` for a relay on this machine); checked on the
            addresses a webhook's host resolves to, at each delivery.
        watch_interval_seconds: Also notify about changes made by other processes (CLI, pipelines), found by
            re-reading the models this often; 0 turns it off.
        drain_timeout_seconds: On shutdown, how long to wait for queued notifications.
    """

    registry: str | None = None
    auth_mode: Literal["token", "iap"] = "token"
    tokens: dict[str, str] = Field(default_factory=dict)
    tokens_file: Path | None = None
    iap: IAPSettings | None = None
    allow_anonymous_read: bool = False
    approvers: list[str] = Field(default_factory=list)
    session_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    secure_cookies: bool = False
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    wrong_token_limit: int = Field(default=10, ge=1)
    wrong_token_window_seconds: float = Field(default=300.0, gt=0)
    base_url: str = "http://127.0.0.1:8080"
    email: EmailSettings | None = None
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    webhook_allowed_networks: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    watch_interval_seconds: float = Field(default=15.0, ge=0)
    drain_timeout_seconds: float = Field(default=10.0, ge=0)

    @field_validator("tokens")
    @classmethod
    def _clean_tokens(cls, value: dict[str, str]) -> dict[str, str]:
        for token, user in value.items():
            if len(token) < 8:
                msg = "tokens must be at least 8 characters long"
                raise ValueError(msg)
            if not user.strip() or not user.isprintable():
                msg = "every token needs a printable user name"
                raise ValueError(msg)
        return {token: user.strip() for token, user in value.items()}

    @model_validator(mode="after")
    def _mode_settings(self) -> Self:
        if self.auth_mode == "iap" and self.iap is None:
            msg = "auth_mode 'iap' needs an [iap] section with audience and keys_file"
            raise ValueError(msg)
        if len(self.session_secret) < 16:
            msg = "session_secret must be at least 16 characters long"
            raise ValueError(msg)
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> WebConfig:
        """Read the file (TOML or JSON; default: $MODEL_REGISTRY_UI_CONFIG), then MODEL_REGISTRY_UI_* variables.

        Raises:
            InvalidInputError: an unreadable file or an invalid setting, named in one line.
        """
        env = os.environ if env is None else env
        source = path or env.get(CONFIG_ENV) or None
        data: dict[str, Any] = _read_file(Path(source)) if source else {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            data[name] = _env_value(raw, cls.model_fields[name].annotation)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            msg = f"invalid UI settings: {one_line(exc)}"
            raise InvalidInputError(msg) from None

    def all_tokens(self) -> dict[str, str]:
        """Return the configured tokens, from `tokens` and `tokens_file`.

        Raises:
            InvalidInputError: the tokens file cannot be read or parsed.
        """
        found = dict(self.tokens)
        if self.tokens_file is not None:
            found |= _read_tokens(self.tokens_file)
        return found


def _env_value(raw: str, annotation: Any) -> Any:
    if annotation in (str, "str", str | None, "str | None"):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # pydantic parses "true", "8080", paths and literals from strings


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read UI config {path}: {exc.strerror or exc}"
        raise InvalidInputError(msg) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except ValueError as exc:
        msg = f"UI config {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        raise InvalidInputError(msg) from None
    if not isinstance(data, dict):
        msg = f"UI config {path} must hold a table of settings"
        raise InvalidInputError(msg)
    return data


def _read_tokens(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read tokens file {path}: {exc.strerror or exc}"
        raise InvalidInputError(msg) from None
    stripped = text.strip()
    parsed: Any
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError as exc:
            msg = f"tokens file {path} is not valid JSON: {exc}"
            raise InvalidInputError(msg) from None
    elif "=" in stripped:
        try:
            parsed = tomllib.loads(text)
        except ValueError as exc:
            msg = f"tokens file {path} is not valid TOML: {exc}"
            raise InvalidInputError(msg) from None
    else:
        parsed = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            token, _, user = line.partition(" ")
            if not user.strip():
                msg = f"{path}:{number}: expected 'TOKEN USER'"
                raise InvalidInputError(msg)
            parsed[token] = user.strip()
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        msg = f"tokens file {path} must map tokens to user names"
        raise InvalidInputError(msg)
    try:
        return WebConfig.model_validate({"tokens": parsed}).tokens
    except ValidationError as exc:
        msg = f"tokens file {path}: {one_line(exc)}"
        raise InvalidInputError(msg) from None
