"""Who is asking: Google IAP assertions (ES256 JWTs), bearer tokens, and sessions started with the login form.

Identity comes from the ``x-goog-iap-jwt-assertion`` header (iap mode: on every request, nothing else counts), or
(token mode) an ``Authorization: Bearer`` token, else the session cookie of a sign-in (see `sessions`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from registry_core.errors import InvalidInputError
from registry_core.text import shown
from registry_core.web.config import IAP_HEADER, IAPSettings, WebConfig
from registry_core.web.ratelimit import AttemptLimiter
from registry_core.web.sessions import Session, SignIns

logger = logging.getLogger(__name__)

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
    """Bearer tokens of token mode, re-read from `tokens_file` whenever it changes.

    Tokens are held by a keyed hash (`key_of`, with a key of this process), which is also what a sign-in
    remembers of its token, so that removing a token ends its sign-ins. A tokens file that cannot be read any
    more counts as empty (its tokens stop working) until it is fixed.

    Args:
        config: Where the tokens come from.

    Raises:
        InvalidInputError: the tokens file cannot be read at start.
    """

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._stamp = _stamp(config.tokens_file)
        self._users = self._keyed(config.all_tokens())

    def key_of(self, token: str) -> str:
        """Return the keyed hash `token` is known by."""
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def user_for(self, token: str) -> str | None:
        """Return the user of `token`, or None."""
        return self.user_for_key(self.key_of(token))

    def user_for_key(self, key: str) -> str | None:
        """Return the user of the token whose keyed hash is `key`, or None if no such token is configured now."""
        self._refresh()
        return self._users.get(key)

    @property
    def users(self) -> list[str]:
        """Return the configured user names."""
        self._refresh()
        return sorted(set(self._users.values()))

    def _refresh(self) -> None:
        if self.config.tokens_file is None:
            return
        with self._lock:
            stamp = _stamp(self.config.tokens_file)
            if stamp == self._stamp:
                return
            try:
                tokens = self.config.all_tokens()
            except InvalidInputError as exc:
                logger.error("%s; its tokens are refused until it is fixed", exc)  # noqa: TRY400 - one line is enough
                tokens = dict(self.config.tokens)
            self._users, self._stamp = self._keyed(tokens), stamp

    def _keyed(self, tokens: dict[str, str]) -> dict[str, str]:
        return {self.key_of(token): user for token, user in tokens.items()}


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    """Return what tells a changed file apart: modification time (ns), size and inode (an atomic replace)."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


# ---------------------------------------------------------------------------------------------------- resolve


class Authenticator:
    """Establishes who is asking, for one app: IAP assertions, bearer tokens and signed-in sessions.

    In token mode, wrong tokens are counted per client address (`limiter`); an address over the limit is refused
    before its token is even looked at.

    Args:
        config: The UI's settings.
    """

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.iap = IAPVerifier(config.iap) if config.auth_mode == "iap" and config.iap is not None else None
        self.tokens = TokenAuthenticator(config) if config.auth_mode == "token" else None
        self.sign_ins = SignIns(config.session_max_age_seconds)
        self.limiter = AttemptLimiter(config.wrong_token_limit, config.wrong_token_window_seconds)

    def identify(self, headers: Any, session: Session, client: str) -> Identity | None:
        """Return the caller's identity, or None if it presents no credential.

        Args:
            headers: The request's headers.
            session: The request's session (a sign-in id it carries is checked, and dropped if void).
            client: The key of the caller's address (`ratelimit.client_key`).

        Raises:
            TooManyAttemptsError: a token came from an address with too many wrong ones.
            AuthError: a credential was presented and is invalid.
        """
        if self.iap is not None:
            assertion = headers.get(IAP_HEADER)
            return self.iap.verify(assertion) if assertion else None
        authorization = headers.get("authorization")
        if authorization:
            self.limiter.check(client)
            scheme, _, token = authorization.partition(" ")
            bearer = scheme.lower() == "bearer" and bool(token.strip())
            user = self.tokens.user_for(token.strip()) if bearer and self.tokens is not None else None
            if user is None:
                self.limiter.failed(client)  # a malformed header is a wrong guess too
                msg = "unknown bearer token" if bearer else "expected 'Authorization: Bearer <token>'"
                raise AuthError(msg)
            return Identity(user, "bearer")
        return self._session_identity(session)

    def sign_in(self, token: str, session: Session, client: str) -> str | None:
        """Start a sign-in with `token` (ending the session's previous one); return the user, or None if unknown.

        Raises:
            TooManyAttemptsError: the address has tried too many wrong tokens.
        """
        self.limiter.check(client)
        if self.tokens is None or not token:
            return None
        key = self.tokens.key_of(token)
        user = self.tokens.user_for_key(key)
        if user is None:
            self.limiter.failed(client)
            return None
        self.sign_out(session)
        session.restart(self.sign_ins.start(user, key))
        return user

    def sign_out(self, session: Session) -> None:
        """End the session's sign-in on the server (so copies of its cookie end too)."""
        if session.sid:
            self.sign_ins.end(session.sid)
        session.restart(None)

    def _session_identity(self, session: Session) -> Identity | None:
        if not session.sid or self.tokens is None:
            return None
        found = self.sign_ins.get(session.sid)
        if found is not None and self.tokens.user_for_key(found.token_key) == found.user:
            return Identity(found.user, "session")
        # Never started here, expired, or its token was removed or given to someone else: it is over for good.
        self.sign_ins.end(session.sid)
        session.sid, session.changed = None, True
        return None
