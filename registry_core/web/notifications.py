"""Notifications of registry events by e-mail (SMTP) and signed webhooks, sent from background threads.

`Notifier.on_entry` is a `ModelRegistry.subscribe` listener: it turns a history entry into an `Event` and queues it
for every sink that wants its kind, so the user's action never waits for (or fails because of) a mail server or a
webhook. Each sink has its own thread and queue; `Notifier.stop` drains them within a time limit. A `Watcher`
re-reads the models now and then to notify about changes made by other processes (the CLI, pipelines).

Webhook requests are ``POST`` with a JSON body and the headers ``X-Registry-Event``, ``X-Registry-Delivery`` (the
history entry id, the same on every retry) and ``X-Registry-Signature: sha256=<hex HMAC-SHA256 of the body>``.
They connect only to addresses `destinations` allows, checked on each connection.
"""

from __future__ import annotations

import abc
import collections
import email.policy
import hashlib
import hmac
import http.client
import json
import logging
import queue
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from registry_core.errors import InvalidInputError
from registry_core.metadata import HistoryAction, HistoryEntry, ModelStage, utc_now
from registry_core.web import destinations
from registry_core.web.config import EmailSettings, WebConfig, WebhookSettings
from registry_core.web.destinations import Network

if TYPE_CHECKING:
    from registry_core.registry import ModelRegistry

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Registry-Signature"
MAX_BACKOFF_SECONDS = 30.0
_LOOK_BACK = timedelta(seconds=60)
# Subjects name model, version, stage and person: keep them on one line (RFC 5322 allows up to 998 characters).
_MAIL_POLICY = email.policy.SMTP.clone(max_line_length=256)
_ORDER = {stage: index for index, stage in enumerate(ModelStage)}


def event_kind(entry: HistoryEntry) -> str | None:
    """Return the notification kind of a history entry, or None for entries nobody is told about (annotations)."""
    if entry.action is HistoryAction.STAGE_CHANGED:
        up = (
            entry.from_stage is not None
            and entry.to_stage is not None
            and entry.to_stage is not ModelStage.ARCHIVED
            and _ORDER[entry.to_stage] > _ORDER[entry.from_stage]
        )
        return "promoted" if up else "stage_changed"
    if entry.action is HistoryAction.ANNOTATED:
        return None
    return entry.action.value


@dataclass(frozen=True)
class Event:
    """One thing to tell people about.

    Attributes:
        kind: One of config.EVENT_KINDS.
        model: Model name.
        entry: The history entry.
        url: Link to the version's page.
    """

    kind: str
    model: str
    entry: HistoryEntry
    url: str

    def payload(self) -> dict[str, Any]:
        """Return the webhook body."""
        e = self.entry
        return {
            "event": self.kind,
            "id": e.id,
            "at": e.at.isoformat(),
            "model": self.model,
            "version": e.version,
            "actor": e.actor,
            "action": e.action.value,
            "from_stage": e.from_stage.value if e.from_stage else None,
            "to_stage": e.to_stage.value if e.to_stage else None,
            "reason": e.reason,
            "details": dict(e.details),
            "url": self.url,
        }

    def subject(self) -> str:
        """Return a one-line summary (the e-mail subject)."""
        e, name = self.entry, f"{self.model} {self.entry.version}"
        to = e.to_stage.value if e.to_stage else ""
        endpoint = e.details.get("endpoint", "")
        lines = {
            "registered": f"{name} registered by {e.actor}",
            "promotion_requested": f"{name}: promotion to {to} requested by {e.actor}",
            "approved": f"{name} approved for {to} by {e.actor}",
            "rejected": f"{name}: promotion to {to} rejected by {e.actor}",
            "promoted": f"{name} promoted to {to} by {e.actor}",
            "stage_changed": f"{name} moved to {to} by {e.actor}",
            "deployed": f"{name} deployed to {endpoint} by {e.actor}",
            "undeployed": f"{name} undeployed from {endpoint} by {e.actor}",
            "rolled_back": f"{self.model}: production rolled back to {e.version} by {e.actor}",
        }
        return f"[model-registry] {lines.get(self.kind, f'{name}: {self.kind} by {e.actor}')}"

    def text(self) -> str:
        """Return the e-mail body."""
        e = self.entry
        rows = [
            ("Model", self.model),
            ("Version", e.version),
            ("Event", self.kind),
            ("By", e.actor),
            ("When", e.at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ]
        if e.from_stage or e.to_stage:
            rows.append(
                ("Stage", f"{e.from_stage.value if e.from_stage else '-'} -> {e.to_stage.value if e.to_stage else '-'}")
            )
        if e.reason:
            rows.append(("Comment", e.reason))
        rows += [(key.replace("_", " ").capitalize(), value) for key, value in sorted(e.details.items()) if value]
        body = "\n".join(f"{label + ':':<16}{value}" for label, value in rows)
        action = "Approve or reject it" if self.kind == "promotion_requested" else "Details"
        return f"{self.subject().removeprefix('[model-registry] ')}\n\n{body}\n\n{action}: {self.url}\n"


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

    def __init__(self, settings: EmailSettings, approvers: list[str]) -> None:
        self.settings = settings
        self.approvers = [a for a in approvers if "@" in a]
        self.name = f"email:{settings.host}:{settings.port}"

    def recipients(self, kind: str) -> list[str]:
        """Return the addresses that get `kind`, without repeats."""
        found = [*self.settings.recipients.get(kind, []), *self.settings.recipients.get("all", [])]
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
        """Return True if the webhook subscribed to `event`'s kind (all kinds when none are listed)."""
        return not self.settings.events or event.kind in self.settings.events

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


_STOP = object()


class _Worker:
    def __init__(self, sink: Sink, abort: threading.Event, stats: collections.Counter[str]) -> None:
        self.sink = sink
        self.queue: queue.Queue[Any] = queue.Queue()
        self.abort = abort
        self.stats = stats
        self.thread = threading.Thread(target=self._run, name=f"notify-{sink.name}", daemon=True)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            if self.abort.is_set():
                self.stats["dropped"] += 1
                logger.warning("%s: dropped %s %s on shutdown", self.sink.name, item.kind, item.entry.id)
                continue
            try:
                self.sink.deliver(item, self.abort.wait)
                self.stats["delivered"] += 1
            except Exception:  # noqa: BLE001 - a failed notification is logged, never raised into the registry
                self.stats["failed"] += 1
                logger.exception("%s: could not deliver %s about %s %s", self.sink.name, item.kind,
                                 item.model, item.entry.version)  # fmt: skip


class Notifier:
    """Queues events for every sink that wants them; one background thread per sink.

    Args:
        config: The UI's settings (sinks, approvers, base URL).
        sinks: Sinks to use instead of those the config names (e.g. more in tests).
    """

    def __init__(self, config: WebConfig, sinks: list[Sink] | None = None) -> None:
        self.base_url = config.base_url.rstrip("/")
        if sinks is None:
            sinks = [WebhookSink(w, config.webhook_allowed_networks) for w in config.webhooks]
            if config.email is not None:
                sinks.insert(0, EmailSink(config.email, config.approvers))
        self.stats: collections.Counter[str] = collections.Counter()
        self._abort = threading.Event()
        self._workers = [_Worker(sink, self._abort, self.stats) for sink in sinks]
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._started = False

    @property
    def sinks(self) -> list[Sink]:
        """The configured sinks."""
        return [w.sink for w in self._workers]

    def start(self) -> None:
        """Start the sink threads."""
        if not self._started:
            self._started = True
            for worker in self._workers:
                worker.thread.start()

    def on_entry(self, model_name: str, entry: HistoryEntry) -> None:
        """Queue notifications about a history entry (a `ModelRegistry.subscribe` listener); never blocks."""
        with self._lock:
            if entry.id in self._seen:  # the watcher and the listener can both see an entry
                return
            self._seen[entry.id] = None
            while len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        kind = event_kind(entry)
        if kind is None:
            return
        url = f"{self.base_url}/models/{quote(model_name)}/versions/{quote(entry.version)}"
        event = Event(kind=kind, model=model_name, entry=entry, url=url)
        for worker in self._workers:
            if worker.sink.wants(event):
                self.stats["queued"] += 1
                worker.queue.put(event)

    def stop(self, timeout: float = 10.0) -> bool:
        """Send what is queued within `timeout` seconds, then stop; return True if everything was handled."""
        for worker in self._workers:
            worker.queue.put(_STOP)
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.daemon = True
        timer.start()
        try:
            for worker in self._workers:
                if worker.thread.is_alive():
                    while worker.thread.is_alive() and not deadline.is_set():
                        worker.thread.join(0.05)
            self._abort.set()  # cut backoff waits short and drop the rest
            for worker in self._workers:
                worker.thread.join(2.0)
        finally:
            timer.cancel()
        drained = not deadline.is_set()
        if not drained:
            logger.warning("notifications: stopped with deliveries still pending after %.1fs", timeout)
        return drained


class Watcher:
    """Finds history entries written by other processes and hands them to the notifier.

    Args:
        registry: The registry to watch.
        notifier: Where new entries go (it drops those it has already seen).
        interval: Seconds between scans.
    """

    def __init__(self, registry: ModelRegistry, notifier: Notifier, interval: float) -> None:
        self.registry = registry
        self.notifier = notifier
        self.interval = interval
        self._floor: datetime = utc_now()  # nothing from before the UI started
        self.since = self._floor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-watcher", daemon=True)

    def start(self) -> None:
        """Start scanning in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop scanning."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def scan(self) -> int:
        """Hand every entry newer than the last scan to the notifier; return how many there were."""
        started, count = utc_now(), 0
        for name in self.registry.list_models():
            for entry in self.registry.history(name):
                if entry.at >= self.since:
                    self.notifier.on_entry(name, entry)
                    count += 1
        # An entry is stamped before its write lands, so one stamped just before this scan may not have been
        # visible yet: look back a little next time (the notifier drops entries it has seen).
        self.since = max(started - _LOOK_BACK, self._floor)
        return count

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.scan()
            except Exception:  # noqa: BLE001 - the registry may be briefly unreachable; try again next time
                logger.warning("notifications: could not scan the registry", exc_info=True)
