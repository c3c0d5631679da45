"""Notifications are a registry event listener of their own: no web package, any settings with the right fields."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from registry_core import ModelRegistry, RegistryConfig
from registry_core.notifications.events import Event
from registry_core.notifications.notifier import Notifier
from registry_core.notifications.settings import EmailSettings, WebhookSettings
from registry_core.notifications.sinks import Sink


@dataclass(frozen=True)
class Settings:
    """Not the web UI's WebConfig: just the fields the notifier reads."""

    base_url: str = "https://registry.example.com/"
    approvers: tuple[str, ...] = ()
    email: EmailSettings | None = None
    webhooks: tuple[WebhookSettings, ...] = ()
    webhook_allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()


@dataclass
class RecordingSink(Sink):
    name: str = "recording"
    events: list[Event] = field(default_factory=list)
    delivered: threading.Event = field(default_factory=threading.Event)

    def wants(self, event: Event) -> bool:
        return True

    def deliver(self, event: Event, wait: Callable[[float], bool]) -> None:
        self.events.append(event)
        self.delivered.set()


def test_importing_notifications_imports_nothing_of_the_web_package() -> None:
    code = (
        "import json, sys, registry_core.notifications.notifier, registry_core.notifications.settings; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('registry_core.web', 'fastapi')))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert json.loads(result.stdout) == []


def test_a_registration_reaches_a_sink_through_a_registry_subscription(tmp_path: Path) -> None:
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    sink = RecordingSink()
    notifier = Notifier(Settings(), sinks=[sink])
    registry.subscribe(notifier.on_entry)
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    notifier.start()
    try:
        registry.register_model("churn", folder, registered_by="alice")
        assert sink.delivered.wait(10)
    finally:
        assert notifier.stop(5)

    [event] = sink.events
    assert (event.kind, event.model, event.entry.version, event.entry.actor) == ("registered", "churn", "v1", "alice")
    assert event.url == "https://registry.example.com/models/churn/versions/v1"
