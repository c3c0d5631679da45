"""Notifications end to end: e-mail to a local aiosmtpd server, signed webhooks to a local receiver, retries."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_support import BEARER, MODEL, RecordingTarget, SMTPSink, WebhookReceiver, free_port

from registry_core import InvalidInputError, ModelRegistry, RegistryConfig
from registry_core.notifications.notifier import Notifier

SECRET = "webhook-signing-secret"
LOCAL = ["127.0.0.0/8", "::1/128"]  # the test receivers listen on 127.0.0.1, which webhooks may reach only if allowed
ALICE, BOB = BEARER["alice"], BEARER["bob"]


@pytest.fixture
def smtp() -> Iterator[SMTPSink]:
    sink = SMTPSink()
    yield sink
    sink.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.stop()


def hook(url: str, **settings: Any) -> dict[str, Any]:
    return {"url": url, "secret": SECRET, "backoff_seconds": 0.05} | settings


def request_and_approve(client: TestClient) -> None:
    requested = client.post(f"/api/v1/models/{MODEL}/versions/v2/promotion-requests",
                            json={"stage": "production", "comment": "beats v1"}, headers=ALICE)  # fmt: skip
    assert requested.status_code == 200, requested.text
    approved = client.post(f"/api/v1/models/{MODEL}/versions/v2/approvals",
                           json={"stage": "production", "comment": "lgtm"}, headers=BOB)  # fmt: skip
    assert approved.status_code == 200, approved.text


def test_a_promotion_request_emails_the_approvers_and_decisions_go_to_their_lists(
    make_client: Callable[..., TestClient], smtp: SMTPSink
) -> None:
    client = make_client(
        approvers=["lead@example.com", "bob"], base_url="https://registry.example.com",
        email={"host": "127.0.0.1", "port": smtp.port, "from_addr": "registry@example.com",
               "recipients": {"promotion_requested": ["ml-leads@example.com"], "promoted": ["ops@example.com"],
                              "approved": ["audit@example.com"]}},
    )  # fmt: skip
    request_and_approve(client)
    received = smtp.wait_for(3)
    messages = {m["X-Registry-Event"]: m for m in received}
    assert set(messages) == {"promotion_requested", "approved", "promoted"}

    asked = messages["promotion_requested"]
    assert asked["Subject"] == "[model-registry] eyewear v2: promotion to production requested by alice"
    assert asked["From"] == "registry@example.com"
    sender, envelope = smtp.envelopes[received.index(asked)]
    assert sender == "registry@example.com"
    assert sorted(envelope) == ["lead@example.com", "ml-leads@example.com"]  # "bob" is no address
    body = asked.get_payload()
    assert "beats v1" in body
    assert "Approve or reject it: https://registry.example.com/models/eyewear/versions/v2" in body

    assert messages["approved"]["To"] == "audit@example.com"
    assert messages["promoted"]["Subject"] == "[model-registry] eyewear v2 promoted to production by bob"
    assert "approved by" in messages["promoted"].get_payload().lower()


def test_smtp_login_uses_the_password_from_the_environment(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    logins: list[tuple[bytes, bytes]] = []
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope.content)
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"smtp-pass")

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "smtp-pass")
        client = make_client(email={"host": "127.0.0.1", "port": controller.port, "from_addr": "r@example.com",
                                    "username": "registry", "password_env": "TEST_SMTP_PASSWORD",
                                    "recipients": {"all": ["audit@example.com"]}})  # fmt: skip
        client.post(f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "validation"}, headers=BOB)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        controller.stop()
    assert logins == [(b"registry", b"smtp-pass")]
    assert b"eyewear v3 promoted to validation by bob" in received[0]


def test_webhooks_are_signed_json_and_retried_after_a_500(make_client: Callable[..., TestClient]) -> None:
    receiver = WebhookReceiver(fail_first=1)
    try:
        client = make_client(webhooks=[hook(receiver.url)], webhook_allowed_networks=LOCAL)
        request_and_approve(client)
        deliveries = receiver.wait_for(lambda d: len(d) >= 4)
    finally:
        receiver.stop()
    assert receiver.attempts == 5  # the first attempt got a 500 and was retried
    # the approval promotes v2, which archives v1, the production version it supersedes
    assert [d.json()["event"] for d in deliveries] == ["promotion_requested", "approved", "promoted", "stage_changed"]
    for delivery in deliveries:
        assert delivery.signed_with(SECRET)
        assert not delivery.signed_with("another-secret")
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.headers["x-registry-event"] == delivery.json()["event"]
        assert delivery.headers["x-registry-delivery"] == delivery.json()["id"]
    promoted = deliveries[2].json()
    assert {k: promoted[k] for k in ("model", "version", "actor", "from_stage", "to_stage")} == {
        "model": "eyewear", "version": "v2", "actor": "bob", "from_stage": "staging", "to_stage": "production",
    }  # fmt: skip
    assert promoted["details"] == {"approved_by": "bob"}
    assert promoted["url"].endswith("/models/eyewear/versions/v2")


def test_webhooks_get_only_the_kinds_they_subscribe_to_including_deploys_and_rollbacks(
    make_client: Callable[..., TestClient], registry: ModelRegistry, receiver: WebhookReceiver
) -> None:
    client = make_client(webhooks=[hook(receiver.url, events=["deployed", "rolled_back", "rejected"])],
                         webhook_allowed_networks=LOCAL)  # fmt: skip
    registry.deploy_model(MODEL, "v1", endpoint_name="shop", target=RecordingTarget(), actor="alice")
    registry.promote_model(MODEL, "v2", "production", approved_by="bob", actor="alice")
    client.post(f"/api/v1/models/{MODEL}/rollback", json={"reason": "latency"}, headers=BOB)
    deliveries = receiver.wait_for(lambda d: len(d) >= 2)
    time.sleep(0.2)  # nothing else arrives
    assert [d.json()["event"] for d in receiver.deliveries] == ["deployed", "rolled_back"]
    deployed, rolled_back = (d.json() for d in deliveries)
    assert deployed["details"]["endpoint"] == "shop"
    assert (rolled_back["version"], rolled_back["actor"], rolled_back["reason"]) == ("v1", "bob", "latency")


def test_an_unreachable_webhook_neither_slows_nor_fails_the_action(
    make_client: Callable[..., TestClient], registry: ModelRegistry
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    client = make_client(webhooks=[hook(dead, max_attempts=3, backoff_seconds=0.3)], webhook_allowed_networks=LOCAL)
    started = time.monotonic()
    response = client.post(f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "validation"}, headers=BOB)
    assert response.status_code == 200
    assert time.monotonic() - started < 0.5  # three tries with backoff take about a second, in the background
    assert registry.get_model_metadata(MODEL, "v3").stage.value == "validation"
    deadline = time.monotonic() + 10
    while client.get("/api/v1/health").json()["notifications"]["failed"] < 1:
        assert time.monotonic() < deadline, "the failed delivery was never given up on"
        time.sleep(0.05)


def test_changes_made_by_other_processes_are_notified(
    make_client: Callable[..., TestClient], registry: ModelRegistry, receiver: WebhookReceiver
) -> None:
    make_client(webhooks=[hook(receiver.url)], watch_interval_seconds=0.1, webhook_allowed_networks=LOCAL)
    elsewhere = ModelRegistry(RegistryConfig(root=registry.config.root))  # e.g. the CLI or a pipeline
    elsewhere.promote_model(MODEL, "v3", "validation", actor="pipeline")
    [delivery] = receiver.wait_for(lambda d: len(d) >= 1)
    assert (delivery.json()["event"], delivery.json()["actor"]) == ("promoted", "pipeline")
    time.sleep(0.3)  # later scans see the entry again and do not send it twice
    assert len(receiver.deliveries) == 1


def test_stopping_drains_queued_notifications(registry: ModelRegistry, receiver: WebhookReceiver) -> None:
    from web_support import web_config

    notifier = Notifier(web_config(webhooks=[hook(receiver.url)], webhook_allowed_networks=LOCAL))
    registry.subscribe(notifier.on_entry)
    for version in ("v2", "v3"):
        registry.archive_model(MODEL, version, actor="alice")
    notifier.start()
    assert notifier.stop(timeout=10)
    assert [d.json()["version"] for d in receiver.deliveries] == ["v2", "v3"]
    assert all(d.json()["event"] == "stage_changed" for d in receiver.deliveries)


def test_a_webhook_that_resolves_to_loopback_is_not_sent_nor_retried_unless_allowed(
    make_client: Callable[..., TestClient], receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    by_name = receiver.url.replace("127.0.0.1", "localhost")  # e.g. a name rebound to 127.0.0.1 after it was set up
    client = make_client(webhooks=[hook(by_name, max_attempts=5, backoff_seconds=1)])
    started = time.monotonic()
    assert client.post(f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "validation"},
                       headers=BOB).status_code == 200  # fmt: skip
    while client.get("/api/v1/health").json()["notifications"]["failed"] < 1:
        assert time.monotonic() - started < 5, "the refused delivery was never given up on"
        time.sleep(0.02)
    assert time.monotonic() - started < 1  # refused at once, not retried with backoff
    assert receiver.attempts == 0
    assert "127.0.0.1 (loopback), which webhooks may not reach" in caplog.text


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://169.254.169.254/computeMetadata/v1/", "link-local"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]:8080/hook", "loopback"),
        ("http://0.0.0.0:8080/hook", "unspecified"),
    ],
)
def test_a_webhook_at_an_address_it_may_not_reach_is_refused_at_start(url: str, kind: str) -> None:
    from web_support import web_config

    with pytest.raises(InvalidInputError, match=f"is a {kind} address; list it in webhook_allowed_networks"):
        Notifier(web_config(webhooks=[hook(url)]))
    assert Notifier(web_config(webhooks=[hook(url)], webhook_allowed_networks=["0.0.0.0/0", "::/0"])).sinks
