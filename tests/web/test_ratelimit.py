"""The limit on wrong tokens: per client address and time window, 429 with Retry-After, for bearer and login form."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from web_support import BEARER, csrf_of

from registry_core.web.ratelimit import AttemptLimiter, TooManyAttemptsError, client_key

WRONG = {"Authorization": "Bearer wrong-token-0000"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_at_the_limit_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    limiter = AttemptLimiter(3, 60, clock=clock)
    for step in (0, 10, 20):
        clock.now = 1000 + step
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
    with pytest.raises(TooManyAttemptsError) as refused:
        limiter.check("10.0.0.1")
    assert refused.value.retry_after == 40  # the failure at 0 s leaves the window at 60 s
    limiter.check("10.0.0.2")  # others are not affected
    clock.now = 1059.5
    with pytest.raises(TooManyAttemptsError):
        limiter.check("10.0.0.1")
    clock.now = 1060
    limiter.check("10.0.0.1")
    limiter.failed("10.0.0.1")
    with pytest.raises(TooManyAttemptsError):
        limiter.check("10.0.0.1")


def test_addresses_are_forgotten_oldest_first_beyond_capacity() -> None:
    limiter = AttemptLimiter(1, 60, capacity=2, clock=Clock())
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        limiter.failed(address)
    limiter.check("10.0.0.1")
    with pytest.raises(TooManyAttemptsError):
        limiter.check("10.0.0.3")


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one IPv6 host holds a whole /64
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "unknown"),
    ],
)
def test_failures_are_counted_per_address_and_per_ipv6_64(host: str | None, key: str) -> None:
    assert client_key(host) == key


def test_wrong_bearer_tokens_lead_to_429_with_retry_after_even_for_a_right_token(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(wrong_token_limit=3, wrong_token_window_seconds=120)
    for _ in range(3):
        assert client.get("/api/v1/models", headers=WRONG).status_code == 401
    refused = client.get("/api/v1/models", headers=BEARER["bob"])
    assert refused.status_code == 429
    assert 110 <= int(refused.headers["retry-after"]) <= 120
    assert refused.json()["error"]["type"] == "TooManyAttempts"
    elsewhere = TestClient(client.app, base_url="http://127.0.0.1", client=("198.51.100.9", 40000))
    assert elsewhere.get("/api/v1/models", headers=BEARER["bob"]).status_code == 200


def test_wrong_tokens_on_the_login_form_count_and_signed_in_sessions_go_on(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(wrong_token_limit=2)
    csrf = csrf_of(client.get("/login").text)
    assert client.post("/login", data={"token": "bob-token-00002", "csrf_token": csrf}).status_code == 200
    csrf = csrf_of(client.get("/models").text)
    for _ in range(2):
        client.post("/login", data={"token": "guessed-token-01", "csrf_token": csrf})
        csrf = csrf_of(client.get("/models").text)
    refused = client.post("/login", data={"token": "carol-token-003", "csrf_token": csrf})
    assert refused.status_code == 429
    assert "too many wrong tokens" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert client.get("/api/v1/whoami", headers=BEARER["carol"]).status_code == 429  # one count for both ways
    assert client.get("/api/v1/whoami").json()["name"] == "bob"  # the session it had is not a guess
