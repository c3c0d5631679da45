"""IAP mode: assertions signed with a test key are verified (key, audience, issuer, expiry) before anything changes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from web_support import AUDIENCE, MODEL, IAPKeys, csrf_of

from registry_core import ModelRegistry, ModelStage

IAP = "x-goog-iap-jwt-assertion"
PROMOTE = f"/api/v1/models/{MODEL}/versions/v3/promote"


@pytest.fixture
def keys(tmp_path: Path) -> IAPKeys:
    return IAPKeys.create(tmp_path)


@pytest.fixture
def iap_client(make_client: Callable[..., TestClient], keys: IAPKeys) -> TestClient:
    return make_client(auth_mode="iap", iap={"audience": AUDIENCE, "keys_file": str(keys.jwks_file)})


def test_a_valid_assertion_identifies_the_caller_by_email(iap_client: TestClient, keys: IAPKeys,
                                                          registry: ModelRegistry) -> None:  # fmt: skip
    response = iap_client.post(PROMOTE, json={"stage": "validation"}, headers={IAP: keys.sign("dana@example.com")})
    assert response.status_code == 200, response.text
    assert registry.get_model_metadata(MODEL, "v3").stage_history[-1].changed_by == "dana@example.com"
    whoami = iap_client.get("/api/v1/whoami", headers={IAP: keys.sign("dana@example.com")}).json()
    assert whoami == {"name": "dana@example.com", "via": "iap", "may_approve": True}


def test_an_assertion_signed_with_another_key_is_refused(iap_client: TestClient, keys: IAPKeys,
                                                         registry: ModelRegistry) -> None:  # fmt: skip
    forged = keys.sign("mallory@example.com", key=ec.generate_private_key(ec.SECP256R1()))
    response = iap_client.post(PROMOTE, json={"stage": "validation"}, headers={IAP: forged})
    assert response.status_code == 401
    assert "signature" in response.json()["error"]["message"]
    assert registry.get_model_metadata(MODEL, "v3").stage is ModelStage.DEVELOPMENT


def test_an_assertion_for_another_audience_is_refused(iap_client: TestClient, keys: IAPKeys) -> None:
    token = keys.sign("dana@example.com", audience="/projects/999/global/backendServices/1")
    response = iap_client.post(PROMOTE, json={"stage": "validation"}, headers={IAP: token})
    assert response.status_code == 401
    assert "audience" in response.json()["error"]["message"]


def test_an_expired_assertion_is_refused(iap_client: TestClient, keys: IAPKeys) -> None:
    token = keys.sign("dana@example.com", expires_in=-120)
    response = iap_client.post(PROMOTE, json={"stage": "validation"}, headers={IAP: token})
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_an_assertion_from_another_issuer_is_refused(iap_client: TestClient, keys: IAPKeys) -> None:
    token = keys.sign("dana@example.com", issuer="https://evil.example.com")
    assert iap_client.post(PROMOTE, json={"stage": "validation"}, headers={IAP: token}).status_code == 401


def test_an_unknown_key_id_is_refused(iap_client: TestClient, keys: IAPKeys) -> None:
    token = keys.sign("dana@example.com", kid="someone-elses-key")
    assert iap_client.post(PROMOTE, json={"stage": "validation"}, headers={IAP: token}).status_code == 401


def test_an_unsigned_or_hmac_assertion_is_refused(iap_client: TestClient, keys: IAPKeys) -> None:
    claims = {"iss": "https://cloud.google.com/iap", "aud": AUDIENCE, "email": "mallory@example.com",
              "iat": int(time.time()), "exp": int(time.time()) + 600}  # fmt: skip
    unsigned = jwt.encode(claims, None, algorithm="none")
    hmac_signed = jwt.encode(claims, "guessable-secret-of-32-bytes-or-more", algorithm="HS256")
    for token in (unsigned, hmac_signed, "not-a-jwt"):
        assert iap_client.post(PROMOTE, json={"stage": "validation"}, headers={IAP: token}).status_code == 401


def test_a_change_without_the_header_is_401_and_bearer_tokens_do_not_count(iap_client: TestClient) -> None:
    assert iap_client.post(PROMOTE, json={"stage": "validation"}).status_code == 401
    response = iap_client.post(PROMOTE, json={"stage": "validation"},
                               headers={"Authorization": "Bearer alice-token-0001"})  # fmt: skip
    assert response.status_code == 401


def test_pem_and_key_id_map_files_are_accepted(make_client: Callable[..., TestClient], keys: IAPKeys,
                                               tmp_path: Path) -> None:  # fmt: skip
    pem = tmp_path / "iap.pem"
    pem.write_bytes(keys.public_pem())
    by_kid = tmp_path / "public_key.json"  # the shape of Google's https://www.gstatic.com/iap/verify/public_key
    by_kid.write_text(json.dumps({keys.kid: keys.public_pem().decode()}))
    for path in (pem, by_kid):
        client = make_client(auth_mode="iap", iap={"audience": AUDIENCE, "keys_file": str(path)})
        response = client.get("/api/v1/whoami", headers={IAP: keys.sign("erin@example.com")})
        assert response.json()["name"] == "erin@example.com"


def test_pages_show_the_iap_identity(iap_client: TestClient, keys: IAPKeys) -> None:
    page = iap_client.get(f"/models/{MODEL}", headers={IAP: keys.sign("dana@example.com")})
    assert page.status_code == 200
    assert "dana@example.com" in page.text
    assert iap_client.get(f"/models/{MODEL}").status_code == 401  # no login form to send a browser to


def test_an_iap_identity_lasts_one_request_and_the_login_form_signs_no_one_in(
    make_client: Callable[..., TestClient], keys: IAPKeys
) -> None:
    client = make_client(auth_mode="iap", iap={"audience": AUDIENCE, "keys_file": str(keys.jwks_file)},
                         tokens={"alice-token-0001": "alice"})  # fmt: skip
    page = client.get(f"/models/{MODEL}/versions/v3", headers={IAP: keys.sign("dana@example.com")})
    assert page.status_code == 200
    assert client.get(f"/models/{MODEL}").status_code == 401  # the cookie it got names no one
    csrf = csrf_of(page.text)
    page = client.post("/login", data={"token": "alice-token-0001", "csrf_token": csrf})
    assert page.status_code == 401
    assert client.get("/api/v1/whoami").status_code == 401
    assert client.get(f"/models/{MODEL}").status_code == 401
