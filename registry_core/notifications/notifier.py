"""Notifier: a registry event listener that queues notifications for its sinks, sent from background threads.

`Notifier.on_entry` is a `ModelRegistry.subscribe` listener: it turns a history entry into an `Event` and queues it
for every sink that wants its kind, so the user's action never waits for (or fails because of) a mail server or a
webhook. Each sink has its own thread and queue; `Notifier.stop` drains them within a time limit. A `Watcher`
re-reads the models now and then to notify about changes made by other processes (the CLI, pipelines).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from registry_core.metadata import HistoryEntry, utc_now
from registry_core.notifications.events import Event, event_kind
from registry_core.notifications.settings import NotificationSettings
from registry_core.notifications.sinks import EmailSink, Sink, WebhookSink

logger = logging.getLogger(__name__)

_LOOK_BACK = timedelta(seconds=60)


class HistorySource(Protocol):
    """What the watcher reads (a ModelRegistry has both)."""

    def list_models(self) -> list[str]:
        """Return the names of every model."""
        ...

    def history(self, model_name: str) -> list[HistoryEntry]:
        """Return the model's history, oldest first."""
        ...


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
        config: The settings of the application it notifies for (the web UI's WebConfig): sinks, approvers, base URL.
        sinks: Sinks to use instead of those the config names (e.g. more in tests).
    """

    def __init__(self, config: NotificationSettings, sinks: list[Sink] | None = None) -> None:
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

    def __init__(self, registry: HistorySource, notifier: Notifier, interval: float) -> None:
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
