"""Browser sessions: tied to the token that started them, ended by sign-out and by revoking that token, CSRF-checked."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import csrf_of, sign_in

from registry_core.web.sessions import SignIns

DAVE_TOKEN = "dave-token-00004"


def signed_in_as(client: TestClient) -> str | None:
    """Return who the API says the client's cookie signs in, or None."""
    response = client.get("/api/v1/whoami")
    return response.json()["name"] if response.status_code == 200 else None


def copy_of(client: TestClient) -> TestClient:
    """Return another client of the same app carrying a copy of `client`'s session cookie."""
    other = TestClient(client.app, base_url="http://127.0.0.1")
    other.cookies.set("mr_session", client.cookies["mr_session"])
    return other


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.txt"
    path.write_text(f"{DAVE_TOKEN} dave\n")
    return path


def test_signing_out_ends_the_session_and_every_copy_of_its_cookie(client: TestClient) -> None:
    csrf = sign_in(client, "bob-token-00002")
    stolen = copy_of(client)
    assert signed_in_as(stolen) == "bob"
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert signed_in_as(client) is None
    assert signed_in_as(stolen) is None  # the copy was ended on the server, not only in the browser
    assert stolen.get("/models", follow_redirects=False).headers["location"].startswith("/login")


def test_removing_a_token_from_the_tokens_file_ends_its_sessions(
    make_client: Callable[..., TestClient], tokens_file: Path
) -> None:
    client = make_client(tokens_file=tokens_file)
    sign_in(client, DAVE_TOKEN)
    assert signed_in_as(client) == "dave"
    tokens_file.write_text("# dave left\n")
    assert signed_in_as(client) is None
    assert client.get("/models", follow_redirects=False).status_code == 303
    tokens_file.write_text(f"{DAVE_TOKEN} dave\n")  # giving the token back does not revive an ended session
    assert signed_in_as(client) is None


def test_a_token_handed_to_someone_else_ends_the_first_users_session(
    make_client: Callable[..., TestClient], tokens_file: Path
) -> None:
    client = make_client(tokens_file=tokens_file)
    sign_in(client, DAVE_TOKEN)
    tokens_file.write_text(f"{DAVE_TOKEN} erin\n")
    assert signed_in_as(client) is None  # neither dave any more nor, silently, erin


def test_revoking_another_token_of_the_same_user_leaves_the_session(
    make_client: Callable[..., TestClient], tokens_file: Path
) -> None:
    tokens_file.write_text(f"{DAVE_TOKEN} dave\ndave-second-token dave\n")
    client = make_client(tokens_file=tokens_file)
    sign_in(client, DAVE_TOKEN)
    tokens_file.write_text(f"{DAVE_TOKEN} dave\n")
    assert signed_in_as(client) == "dave"


def test_the_cookie_carries_no_user_name(client: TestClient) -> None:
    sign_in(client, "bob-token-00002")
    body = client.cookies["mr_session"].rpartition(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert "bob" not in json.dumps(payload)


def test_a_cookie_from_before_sign_in_does_not_become_signed_in(client: TestClient) -> None:
    client.get("/login")
    planted = copy_of(client)  # e.g. set in the victim's browser before they sign in
    sign_in(client, "bob-token-00002")
    assert signed_in_as(client) == "bob"
    assert signed_in_as(planted) is None


def test_signing_in_without_the_forms_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    for data in ({"token": "bob-token-00002"}, {"token": "bob-token-00002", "csrf_token": "guessed"}):
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "sign-in form expired" in response.text
    assert signed_in_as(client) is None


def test_signing_out_without_the_forms_csrf_token_is_refused(client: TestClient) -> None:
    sign_in(client, "bob-token-00002")
    for data in ({}, {"csrf_token": "guessed"}):  # e.g. a cross-site form signing people out
        response = client.post("/logout", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "sign-out form expired" in response.text
    assert signed_in_as(client) == "bob"


def test_signing_in_twice_ends_the_first_session(client: TestClient) -> None:
    sign_in(client, "bob-token-00002")
    first = copy_of(client)
    page = client.get("/login")
    client.post("/login", data={"token": "carol-token-003", "csrf_token": csrf_of(page.text)})
    assert signed_in_as(client) == "carol"
    assert signed_in_as(first) is None


def test_sign_ins_expire_and_the_oldest_ends_first_beyond_capacity() -> None:
    now = [1000.0]
    table = SignIns(max_age=60, capacity=2, clock=lambda: now[0])
    first = table.start("bob", "key-1")
    now[0] += 30
    second = table.start("carol", "key-2")
    third = table.start("dave", "key-3")  # beyond capacity: bob's, the oldest, ends
    assert table.get(first) is None
    assert table.get(second) is not None
    now[0] += 31  # carol's and dave's are 31 s old, bob's would have been 61 s
    assert table.get(second) is not None
    now[0] += 30
    assert table.get(second) is None
    assert table.get(third) is None
    assert len(table) == 0
