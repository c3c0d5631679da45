"""Who is asking: Google IAP assertions (ES256 JWTs), bearer tokens, and signed session cookies with CSRF tokens.

Identity comes, in this order, from the ``x-goog-iap-jwt-assertion`` header (iap mode), an
``Authorization: Bearer`` token, or the session cookie set by the login form (token mode). The session cookie
also carries the CSRF token that every form post must echo in a hidden field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from registry_core.text import shown
from registry_core.web.config import IAP_HEADER, IAPSettings, WebConfig

logger = logging.getLogger(__name__)

SESSION_COOKIE = "mr_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNNAMED = "\0unnamed-"  # key ids of keys that came without one (never a real kid)


class AuthError(Exception):
    """A credential was presented and refused (bad signature, audience, expiry, unknown token)."""


@dataclass(frozen=True)
class Identity:
    """An authenticated caller.

    Attributes:
        name: User name (token mode) or e-mail (iap mode); recorded as the actor of changes.
        via: How it was established: "iap", "bearer" or "session".
    """

    name: str
    via: Literal["iap", "bearer", "session"]


# ------------------------------------------------------------------------------------------------------ IAP


class IAPVerifier:
    """Verifies IAP assertions against keys in a local file (re-read when the file changes).

    Args:
        settings: Audience, issuer and the keys file.
    """

    def __init__(self, settings: IAPSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._keys: dict[str, EllipticCurvePublicKey] = {}
        self._stamp: tuple[float, int] | None = None

    def verify(self, assertion: str) -> Identity:
        """Return the identity in a valid assertion (its ``email`` claim).

        Raises:
            AuthError: malformed, unknown key, bad signature, wrong audience or issuer, expired, no email.
        """
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError as exc:
            msg = f"malformed IAP assertion: {exc}"
            raise AuthError(msg) from None
        if header.get("alg") != "ES256":
            msg = f"IAP assertions are signed with ES256, not {shown(header.get('alg'))}"
            raise AuthError(msg)
        claims = self._decode(assertion, self._candidates(header.get("kid")))
        email = claims.get("email")
        if not isinstance(email, str) or not email.strip():
            msg = "the IAP assertion has no email claim"
            raise AuthError(msg)
        return Identity(email.strip(), "iap")

    def _decode(self, assertion: str, keys: list[EllipticCurvePublicKey]) -> dict[str, Any]:
        for number, key in enumerate(keys, 1):
            try:
                return jwt.decode(
                    assertion, key, algorithms=["ES256"], audience=self.settings.audience,
                    issuer=self.settings.issuer, leeway=self.settings.leeway_seconds,
                    options={"require": ["exp", "iat", "aud", "iss"]},
                )  # fmt: skip
            except jwt.InvalidSignatureError:
                if number < len(keys):
                    continue  # PEM keys without an id: try the next one
                msg = "the IAP assertion's signature does not verify"
                raise AuthError(msg) from None
            except jwt.ExpiredSignatureError:
                msg = "the IAP assertion has expired"
                raise AuthError(msg) from None
            except jwt.InvalidAudienceError:
                msg = "the IAP assertion is for another audience"
                raise AuthError(msg) from None
            except jwt.InvalidIssuerError:
                msg = "the IAP assertion has the wrong issuer"
                raise AuthError(msg) from None
            except jwt.InvalidTokenError as exc:
                msg = f"invalid IAP assertion: {exc}"
                raise AuthError(msg) from None
        msg = "no IAP key to verify the assertion with"
        raise AuthError(msg)

    def _candidates(self, kid: Any) -> list[EllipticCurvePublicKey]:
        keys = self._load()
        if isinstance(kid, str) and kid in keys:
            return [keys[kid]]
        unnamed = [key for name, key in keys.items() if name.startswith(_UNNAMED)]
        if unnamed:  # PEM keys carry no key id: try each
            return unnamed
        msg = f"the IAP assertion is signed with an unknown key {shown(kid)}"
        raise AuthError(msg)

    def _load(self) -> dict[str, EllipticCurvePublicKey]:
        path = self.settings.keys_file
        try:
            stat = path.stat()
        except OSError as exc:
            msg = f"cannot read the IAP keys file {path}: {exc.strerror or exc}"
            raise AuthError(msg) from None
        stamp = (stat.st_mtime, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._keys = read_public_keys(path)
                self._stamp = stamp
            return self._keys


def read_public_keys(path: Path) -> dict[str, EllipticCurvePublicKey]:
    """Read EC public keys from a JWKS, a JSON map of key id to PEM, or PEM blocks (keys without an id).

    Raises:
        AuthError: the file holds no usable EC key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the IAP keys file {path}: {exc.strerror or exc}"
        raise AuthError(msg) from None
    keys: dict[str, EllipticCurvePublicKey] = {}
    try:
        if text.lstrip().startswith("{"):
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("keys"), list):
                for jwk in data["keys"]:
                    key = jwt.PyJWK.from_dict(jwk, algorithm="ES256").key
                    if isinstance(key, EllipticCurvePublicKey):
                        keys[str(jwk.get("kid") or f"{_UNNAMED}{len(keys)}")] = key
            elif isinstance(data, dict):
                for kid, pem in data.items():
                    key = load_pem_public_key(str(pem).encode())
                    if isinstance(key, EllipticCurvePublicKey):
                        keys[str(kid)] = key
        else:
            for block in text.split("-----END PUBLIC KEY-----"):
                if "-----BEGIN PUBLIC KEY-----" in block:
                    key = load_pem_public_key((block.strip() + "\n-----END PUBLIC KEY-----\n").encode())
                    if isinstance(key, EllipticCurvePublicKey):
                        keys[f"{_UNNAMED}{len(keys)}"] = key
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        msg = f"cannot read the IAP keys in {path}: {exc}"
        raise AuthError(msg) from None
    if not keys:
        msg = f"no EC public keys in {path}"
        raise AuthError(msg)
    return keys


# ---------------------------------------------------------------------------------------------------- tokens


class TokenAuthenticator:
    """Bearer tokens of token mode (compared in constant time).

    Args:
        config: Where the tokens come from (re-read from `tokens_file` when it changes).
    """

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self._tokens = config.all_tokens()
        self._stamp = _stamp(config.tokens_file)

    def user_for(self, token: str) -> str | None:
        """Return the user of `token`, or None."""
        if self.config.tokens_file is not None and _stamp(self.config.tokens_file) != self._stamp:
            self._tokens = self.config.all_tokens()
            self._stamp = _stamp(self.config.tokens_file)
        given = token.encode()
        found = None
        for known, user in self._tokens.items():
            if hmac.compare_digest(known.encode(), given):
                found = user
        return found

    @property
    def users(self) -> list[str]:
        """Return the configured user names."""
        return sorted(set(self._tokens.values()))


def _stamp(path: Path | None) -> tuple[float, int] | None:
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


# --------------------------------------------------------------------------------------------------- sessions


@dataclass
class Session:
    """The signed cookie's content: the logged-in user (token mode), the CSRF token and pending flash messages.

    Attributes:
        csrf: Token every form post must echo.
        user: Logged-in user (token mode), if any.
        expires: Unix time after which the login is void.
        flashes: (kind, text) messages shown on the next page.
        changed: Whether the cookie must be re-sent.
    """

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user: str | None = None
    expires: float = 0.0
    flashes: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = False

    def flash(self, kind: str, text: str) -> None:
        """Queue a message ("ok" or "error") for the next page."""
        self.flashes.append((kind, text))
        self.changed = True

    def pop_flashes(self) -> list[tuple[str, str]]:
        """Return and forget the queued messages."""
        found, self.flashes = self.flashes, []
        if found:
            self.changed = True
        return found

    def login(self, user: str, max_age: int) -> None:
        """Start a login (with a fresh CSRF token)."""
        self.user, self.expires, self.csrf, self.changed = user, time.time() + max_age, secrets.token_urlsafe(24), True

    def logout(self) -> None:
        """End the login (with a fresh CSRF token)."""
        self.user, self.expires, self.csrf, self.changed = None, 0.0, secrets.token_urlsafe(24), True

    def current_user(self) -> str | None:
        """Return the logged-in user if the login has not expired."""
        return self.user if self.user and self.expires > time.time() else None

    def csrf_matches(self, given: str | None) -> bool:
        """Return True if `given` is this session's CSRF token."""
        return bool(given) and hmac.compare_digest(self.csrf.encode(), str(given).encode())


class SessionCodec:
    """Signs and reads session cookies (HMAC-SHA256 over a compact JSON payload).

    Args:
        secret: The signing key.
        max_age: Seconds a cookie stays valid.
    """

    def __init__(self, secret: str, max_age: int) -> None:
        self._key = hashlib.sha256(b"model-registry-session:" + secret.encode()).digest()
        self.max_age = max_age

    def dumps(self, session: Session) -> str:
        """Return the cookie value for `session`."""
        payload = {"c": session.csrf, "u": session.user, "e": session.expires, "f": session.flashes,
                   "t": int(time.time())}  # fmt: skip
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
        return f"{body.decode()}.{self._sign(body)}"

    def loads(self, value: str | None) -> Session:
        """Return the session in a cookie value; a new one if it is missing, forged or too old."""
        if not value or "." not in value:
            return Session(changed=True)
        body, _, signature = value.rpartition(".")
        if not hmac.compare_digest(self._sign(body.encode()), signature):
            return Session(changed=True)
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            if time.time() - float(data["t"]) > self.max_age:
                return Session(changed=True)
            return Session(
                csrf=str(data["c"]), user=data.get("u"), expires=float(data.get("e") or 0),
                flashes=[(str(k), str(t)) for k, t in data.get("f") or []],
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return Session(changed=True)

    def _sign(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, body, hashlib.sha256).digest()).rstrip(b"=").decode()


# ---------------------------------------------------------------------------------------------------- resolve


class Authenticator:
    """Establishes who is asking, for one app.

    Args:
        config: The UI's settings.
    """

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.iap = IAPVerifier(config.iap) if config.auth_mode == "iap" and config.iap is not None else None
        self.tokens = TokenAuthenticator(config) if config.auth_mode == "token" else None

    def identify(self, headers: Any, session: Session) -> Identity | None:
        """Return the caller's identity, or None if it presents no credential.

        Raises:
            AuthError: a credential was presented and is invalid.
        """
        if self.iap is not None:
            assertion = headers.get(IAP_HEADER)
            return self.iap.verify(assertion) if assertion else None
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                msg = "expected 'Authorization: Bearer <token>'"
                raise AuthError(msg)
            user = self.tokens.user_for(token.strip()) if self.tokens else None
            if user is None:
                msg = "unknown bearer token"
                raise AuthError(msg)
            return Identity(user, "bearer")
        user = session.current_user()
        return Identity(user, "session") if user else None
