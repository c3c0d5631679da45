"""Sinks: the channels events go out on, e-mail (SMTP) and signed webhooks, each retrying as configured.

Webhook requests are ``POST`` with a JSON body and the headers ``X-Registry-Event``, ``X-Registry-Delivery`` (the
history entry id, the same on every retry) and ``X-Registry-Signature: sha256=<hex HMAC-SHA256 of the body>``.
They connect only to addresses `destinations` allows, checked on each connection.
"""

from __future__ import annotations

import abc
import email.policy
import hashlib
import hmac
import http.client
import json
import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage

from registry_core.errors import InvalidInputError
from registry_core.notifications import destinations
from registry_core.notifications.destinations import Network
from registry_core.notifications.events import Event
from registry_core.notifications.settings import OPT_IN_KINDS, EmailSettings, WebhookSettings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Registry-Signature"
MAX_BACKOFF_SECONDS = 30.0
# Subjects name model, version, stage and person: keep them on one line (RFC 5322 allows up to 998 characters).
_MAIL_POLICY = email.policy.SMTP.clone(max_line_length=256)


class Sink(abc.ABC):
    """A channel events go out on (one background thread each)."""

    name: str

    @abc.abstractmethod
    def wants(self, event: Event) -> bool:
        """Return True if this sink sends `event`."""

    @abc.abstractmethod
    def deliver(self, event: Event, wait: Callable[[float], bool]) -> None:
        """Send `event`, retrying as configured; `wait(seconds)` sleeps and returns True if shutdown cut it short.

        Raises:
            Exception: the event could not be delivered (logged by the caller).
        """


class DeliveryError(Exception):
    """A notification could not be delivered."""


class EmailSink(Sink):
    """Sends one e-mail per event to the recipients configured for its kind.

    Args:
        settings: SMTP server, sender, recipients.
        approvers: Identities of approvers; the e-mail addresses among them get "promotion_requested".
    """

    def __init__(self, settings: EmailSettings, approvers: Sequence[str]) -> None:
        self.settings = settings
        self.approvers = [a for a in approvers if "@" in a]
        self.name = f"email:{settings.host}:{settings.port}"

    def recipients(self, kind: str) -> list[str]:
        """Return the addresses that get `kind`, without repeats."""
        everyone = self.settings.recipients.get("all", []) if kind not in OPT_IN_KINDS else []
        found = [*self.settings.recipients.get(kind, []), *everyone]
        if kind == "promotion_requested":
            found += self.approvers
        return list(dict.fromkeys(found))

    def wants(self, event: Event) -> bool:
        """Return True if anyone is to get `event`."""
        return bool(self.recipients(event.kind))

    def message(self, event: Event) -> EmailMessage:
        """Return the e-mail for `event`."""
        message = EmailMessage(policy=_MAIL_POLICY)
        message["Subject"] = event.subject()
        message["From"] = self.settings.from_addr
        message["To"] = ", ".join(self.recipients(event.kind))
        message["X-Registry-Event"] = event.kind
        message["Message-ID"] = f"<{event.entry.id}.{event.kind}@model-registry>"
        message.set_content(event.text())
        return message

    def deliver(self, event: Event, wait: Callable[[float], bool]) -> None:
        """Send the e-mail; retry connection errors and temporary (4xx) SMTP answers with backoff."""
        message = self.message(event)
        s = self.settings
        for attempt in range(1, s.max_attempts + 1):
            try:
                self._send(message)
                return
            except smtplib.SMTPResponseException as exc:
                if not 400 <= exc.smtp_code < 500 or attempt == s.max_attempts:
                    msg = f"SMTP server refused the message: {exc.smtp_code} {exc.smtp_error!r}"
                    raise DeliveryError(msg) from exc
            except (OSError, smtplib.SMTPException) as exc:
                if attempt == s.max_attempts:
                    msg = f"cannot send e-mail via {s.host}:{s.port}: {exc}"
                    raise DeliveryError(msg) from exc
            if wait(min(0.5 * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)):
                msg = "shutting down"
                raise DeliveryError(msg)

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=context)
            if s.username:
                smtp.login(s.username, s.login_password() or "")
            smtp.send_message(message)


class WebhookSink(Sink):
    """POSTs each event as signed JSON to one URL, connecting only to addresses webhooks may reach.

    Args:
        settings: URL, secret, kinds, retry policy.
        allowed: Networks webhooks may reach although they are loopback, link-local or the like.

    Raises:
        InvalidInputError: no secret, or the URL's host is an address webhooks may not reach.
    """

    def __init__(self, settings: WebhookSettings, allowed: Sequence[Network] = ()) -> None:
        self.settings = settings
        self.key = settings.signing_key()
        self.allowed = list(allowed)
        if problem := destinations.literal_refusal(settings.url, self.allowed):
            msg = f"webhook {settings.url}: {problem}; list it in webhook_allowed_networks to allow it"
            raise InvalidInputError(msg)
        self.name = f"webhook:{settings.url}"

    def wants(self, event: Event) -> bool:
        """Return True if the webhook subscribed to `event`'s kind (all but the opt-in kinds when none are listed)."""
        if not self.settings.events:
            return event.kind not in OPT_IN_KINDS
        return event.kind in self.settings.events

    def sign(self, body: bytes) -> str:
        """Return the signature header value for `body`."""
        return "sha256=" + hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def deliver(self, event: Event, wait: Callable[[float], bool]) -> None:
        """POST the event; retry connection errors, 5xx and 429 with exponential backoff."""
        s = self.settings
        body = json.dumps(event.payload(), sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "model-registry-webhook/1",
            "X-Registry-Event": event.kind,
            "X-Registry-Delivery": event.entry.id,
            SIGNATURE_HEADER: self.sign(body),
        }
        delay = s.backoff_seconds
        for attempt in range(1, s.max_attempts + 1):
            try:
                status = destinations.post(s.url, body, headers, timeout=s.timeout_seconds, allowed=self.allowed)
            except destinations.RefusedDestinationError as exc:
                msg = f"webhook {s.url} not sent: {exc}"
                raise DeliveryError(msg) from exc
            except (OSError, http.client.HTTPException) as exc:  # unresolvable, refused, reset, timeout, not HTTP
                retry, problem = True, str(exc) or type(exc).__name__
            else:
                if status < 300:
                    return
                retry, problem = status >= 500 or status == 429, f"HTTP {status}"
            if not retry or attempt == s.max_attempts:
                msg = f"webhook {s.url} failed after {attempt} attempt(s): {problem}"
                raise DeliveryError(msg)
            logger.info("webhook %s: %s; retrying in %.1fs", s.url, problem, delay)
            if wait(delay):
                msg = f"webhook {s.url}: gave up on shutdown after {attempt} attempt(s): {problem}"
                raise DeliveryError(msg)
            delay = min(max(delay * 2, 0.05), MAX_BACKOFF_SECONDS)
