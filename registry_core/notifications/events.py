"""Events: the history entries people are told about, and what a notification of one says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry_core.metadata import HistoryAction, HistoryEntry, ModelStage

MONITORING_ALERT = "monitoring_alert"  # a monitoring run that found drift, anomalies or degraded quality
ALERT_DETAIL = "alert"  # the MONITORED entry's detail that says so ("true"/"false")
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
    if entry.action is HistoryAction.MONITORED:
        return MONITORING_ALERT if entry.details.get(ALERT_DETAIL) == "true" else "monitored"
    return entry.action.value


@dataclass(frozen=True)
class Event:
    """One thing to tell people about.

    Attributes:
        kind: One of settings.EVENT_KINDS.
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
