"""Monitoring policies: windows, files, and what a bad one says; the notification kind of a monitoring run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry_core.errors import InvalidInputError
from registry_core.metadata import HistoryAction, HistoryEntry
from registry_core.monitoring.policy import MonitorPolicy, parse_window
from registry_core.notifications.events import event_kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30m", timedelta(minutes=30)),
     (" 1.5h ", timedelta(minutes=90)), ("90s", timedelta(seconds=90)), ("1w", timedelta(weeks=1))],
)  # fmt: skip
def test_windows_are_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "-1h", "0d", "400d", "1y", "24 hours", "1e3s"])
def test_other_windows_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_window(text)
    assert "\n" not in str(caught.value)


def test_a_policy_mapping_sets_what_it_names_and_keeps_the_defaults() -> None:
    policy = MonitorPolicy.from_mapping(
        {"window": "2h", "min_predictions": 5, "thresholds": {"numeric_drift": 0.4}, "retrain": True,
         "quality_tolerances": {"accuracy": 0.1}, "retraining": {"runner": "vertex"}}
    )  # fmt: skip
    assert policy.window == timedelta(hours=2)
    assert policy.min_predictions == 5
    assert policy.thresholds.drift.numeric == 0.4
    assert policy.thresholds.drift.categorical == MonitorPolicy().thresholds.drift.categorical
    assert policy.quality_tolerances == {"accuracy": 0.1}
    assert policy.retrain
    assert policy.retraining == {"runner": "vertex"}
    assert MonitorPolicy.from_mapping(None) == MonitorPolicy()


@pytest.mark.parametrize(
    ("values", "message"),
    [({"windw": "1h"}, "unknown monitoring policy key 'windw'"),
     ({"min_predictions": 0}, "min_predictions must be a whole number of at least 1"),
     ({"max_feedback": 0}, "max_feedback must be a whole number of at least 1"),
     ({"retrain_cooldown": "soon"}, "a window is a number and a unit"),
     ({"retraining": {"runer": "local"}}, "unknown retraining setting 'runer'"),
     ({"retraining": {"parameters": ["x"]}}, "retraining setting parameters must be a mapping"),
     ({"retraining": {"region": 3}}, "retraining setting region must be a string"),
     ({"retraining": {"parameters": {"when": datetime(2026, 1, 1)}}}, "plain JSON values"),
     ({"min_labeled": True}, "min_labeled must be a whole number"),
     ({"sample_size": 0}, "sample_size must be a whole number of at least 1"),
     ({"retrain": "yes"}, "retrain must be true or false"),
     ({"quality_tolerances": {"accuracy": -0.1}}, "quality_tolerances must map metric names to non-negative"),
     ({"retraining": ["local"]}, "retraining must be a mapping of: runner"),
     ({"thresholds": {"numeric_drift": "high"}}, "numeric_drift must be a non-negative number")],
)  # fmt: skip
def test_a_bad_policy_says_what_is_wrong(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        MonitorPolicy.from_mapping(values)


def test_a_monitoring_run_notifies_as_an_alert_only_when_it_found_something() -> None:
    def entry(alert: str) -> HistoryEntry:
        return HistoryEntry(id="1", at=datetime.now(UTC), actor="cron", action=HistoryAction.MONITORED, version="v1",
                            details={"alert": alert})  # fmt: skip

    assert event_kind(entry("true")) == "monitoring_alert"
    assert event_kind(entry("false")) == "monitored"


def test_routine_monitoring_runs_reach_only_those_who_ask_for_them() -> None:
    from registry_core.notifications.events import Event
    from registry_core.notifications.settings import EmailSettings, WebhookSettings
    from registry_core.notifications.sinks import EmailSink, WebhookSink

    def event(kind: str) -> Event:
        return Event(kind=kind, model="m", entry=HistoryEntry(id="1", at=datetime.now(UTC), actor="cron",
                     action=HistoryAction.MONITORED, version="v1"), url="")  # fmt: skip

    everything = WebhookSink(WebhookSettings(url="https://hooks.example.com/x", secret="s"))
    assert everything.wants(event("monitoring_alert"))
    assert not everything.wants(event("monitored"))
    assert WebhookSink(WebhookSettings(url="https://hooks.example.com/x", secret="s", events=["monitored"])).wants(
        event("monitored")
    )
    recipients = {"all": ["ops@example.com"], "monitored": ["ml@example.com"]}
    mail = EmailSink(EmailSettings(host="smtp.example.com", from_addr="r@example.com", recipients=recipients), [])
    assert mail.recipients("monitored") == ["ml@example.com"]
    assert mail.recipients("monitoring_alert") == ["ops@example.com"]
