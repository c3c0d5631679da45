"""Browser sessions: a signed cookie (CSRF token, flash messages, session id) and the server's table of sign-ins.

The cookie never says who is signed in. It carries a random session id that the `SignIns` table of this process
maps to the user and to a keyed hash of the token they signed in with; every request looks the id up again and
checks that hash against the tokens configured now. Signing out removes the id from the table, so a copy of the
cookie stops working too, and so does every session of a token that is removed from the tokens file.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "mr_session"
MAX_SIGN_INS = 10_000  # sign-ins held at once; the oldest ends first beyond that


@dataclass
class Session:
    """The signed cookie's content.

    Attributes:
        csrf: Token every form post must echo.
        sid: Id of the sign-in in the server's table, if any.
        flashes: (kind, text) messages shown on the next page.
        changed: Whether the cookie must be re-sent.
    """

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sid: str | None = None
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

    def restart(self, sid: str | None) -> None:
        """Take a new sign-in id (None: signed out) and a fresh CSRF token, so nothing from before carries over."""
        self.sid, self.csrf, self.changed = sid, secrets.token_urlsafe(24), True

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
        payload = {"c": session.csrf, "s": session.sid, "f": session.flashes, "t": int(time.time())}
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
            sid = data.get("s")
            return Session(
                csrf=str(data["c"]), sid=str(sid) if sid else None,
                flashes=[(str(k), str(t)) for k, t in data.get("f") or []],
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return Session(changed=True)

    def _sign(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, body, hashlib.sha256).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class SignIn:
    """One sign-in through the login form.

    Attributes:
        user: Who signed in.
        token_key: Keyed hash of the token used (`TokenAuthenticator.key_of`), re-checked on every request.
        expires: Time (of the table's clock) after which it is void.
    """

    user: str
    token_key: str
    expires: float


class SignIns:
    """The sign-ins of this process, by session id (thread-safe; a restart ends them all).

    Args:
        max_age: Seconds a sign-in lasts.
        capacity: Sign-ins held at once; beyond it the oldest ends.
        clock: Source of the current time.
    """

    def __init__(self, max_age: float, capacity: int = MAX_SIGN_INS, clock: Callable[[], float] = time.time) -> None:
        self.max_age = max_age
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._table: collections.OrderedDict[str, SignIn] = collections.OrderedDict()  # oldest first

    def start(self, user: str, token_key: str) -> str:
        """Record a sign-in and return its new session id."""
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            # All share one lifetime, so the oldest is first to expire: drop the expired, then any beyond capacity.
            while self._table and (
                len(self._table) >= self.capacity or next(iter(self._table.values())).expires <= now
            ):
                self._table.popitem(last=False)
            self._table[sid] = SignIn(user, token_key, now + self.max_age)
        return sid

    def get(self, sid: str) -> SignIn | None:
        """Return the live sign-in of `sid`, or None (never started, ended or expired)."""
        with self._lock:
            found = self._table.get(sid)
            if found is not None and found.expires <= self._clock():
                del self._table[sid]
                return None
            return found

    def end(self, sid: str) -> None:
        """End a sign-in (nothing happens if it is already gone)."""
        with self._lock:
            self._table.pop(sid, None)

    def __len__(self) -> int:
        """Return how many sign-ins are held."""
        return len(self._table)
