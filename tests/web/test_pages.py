"""Server-rendered pages and form actions: sign in, CSRF, flash messages, and what each page shows."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import BEARER, MODEL, RecordingTarget, csrf_of, sign_in

from registry_core import ModelRegistry, ModelStage

BOB = BEARER["bob"]


def test_a_browser_without_identity_is_sent_to_the_login_form(client: TestClient) -> None:
    response = client.get(f"/models/{MODEL}?stage=staging", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/models/eyewear%3Fstage%3Dstaging"


def test_signing_in_with_a_token_sets_a_session(client: TestClient) -> None:
    login = client.get("/login")
    page = client.post("/login", data={"token": "bob-token-00002", "csrf_token": csrf_of(login.text)})
    assert "signed in as bob" in page.text
    assert '<span class="user" title="signed in via session">bob</span>' in page.text
    cookie = client.cookies.get("mr_session")
    assert cookie is not None
    assert "bob" not in cookie.split(".")[1]  # the signature part


def test_a_wrong_token_is_refused_on_the_form(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"token": "wrong-token-000", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 401
    assert "unknown token" in response.text


def test_a_forged_session_cookie_is_ignored(client: TestClient) -> None:
    sign_in(client, "bob-token-00002")
    value = client.cookies["mr_session"]
    body, _, signature = value.rpartition(".")
    client.cookies.set("mr_session", body[:-2] + "xx." + signature)
    assert client.get("/models", follow_redirects=False).status_code == 303


def test_login_does_not_redirect_off_site(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login", data={"token": "bob-token-00002", "csrf_token": csrf_of(page.text), "next": "//evil.example.com/"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.headers["location"] == "/models"


def test_a_form_post_without_csrf_token_is_403(client: TestClient, registry: ModelRegistry) -> None:
    sign_in(client, "bob-token-00002")
    response = client.post(f"/models/{MODEL}/versions/v3/promote", data={"stage": "validation"})
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert registry.get_model_metadata(MODEL, "v3").stage is ModelStage.DEVELOPMENT


def test_a_form_post_with_a_wrong_csrf_token_is_403(client: TestClient, registry: ModelRegistry) -> None:
    sign_in(client, "bob-token-00002")
    response = client.post(f"/models/{MODEL}/versions/v3/promote",
                           data={"stage": "validation", "csrf_token": "guessed"})  # fmt: skip
    assert response.status_code == 403
    assert registry.get_model_metadata(MODEL, "v3").stage is ModelStage.DEVELOPMENT


def test_a_form_post_with_bearer_auth_still_needs_the_csrf_token(client: TestClient) -> None:
    response = client.post(f"/models/{MODEL}/versions/v3/promote", data={"stage": "validation"}, headers=BOB)
    assert response.status_code == 403


def test_a_form_post_without_identity_is_not_carried_out(client: TestClient, registry: ModelRegistry) -> None:
    csrf = csrf_of(client.get("/login").text)
    response = client.post(f"/models/{MODEL}/versions/v3/promote", data={"stage": "validation", "csrf_token": csrf},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 401
    assert registry.get_model_metadata(MODEL, "v3").stage is ModelStage.DEVELOPMENT


def test_approving_through_the_form_promotes_and_flashes(client: TestClient, registry: ModelRegistry) -> None:
    registry.request_promotion(MODEL, "v2", "production", requested_by="alice", comment="ready")
    csrf = sign_in(client, "bob-token-00002", "/approvals")
    assert "ready" in client.get("/approvals").text
    response = client.post(
        f"/models/{MODEL}/versions/v2/approve",
        data={"stage": "production", "comment": "ok", "next": "/approvals", "csrf_token": csrf},
    )  # fmt: skip
    assert response.status_code == 200
    assert "bob approved eyewear v2; it is now in production" in response.text
    assert "No promotion is waiting" in response.text
    assert registry.get_model_metadata(MODEL, "v2").stage is ModelStage.PRODUCTION


def test_self_approval_through_the_form_shows_the_rule(client: TestClient, registry: ModelRegistry) -> None:
    registry.request_promotion(MODEL, "v2", "production", requested_by="carol")
    csrf = sign_in(client, "alice-token-0001", f"/models/{MODEL}/versions/v2")
    page = client.post(f"/models/{MODEL}/versions/v2/approve", data={"stage": "production", "csrf_token": csrf})
    assert "four-eyes" in page.text
    assert 'class="flash flash-error"' in page.text
    assert registry.get_model_metadata(MODEL, "v2").stage is ModelStage.STAGING


def test_request_reject_promote_and_rollback_forms(client: TestClient, registry: ModelRegistry) -> None:
    csrf = sign_in(client, "carol-token-003", f"/models/{MODEL}/versions/v2")
    version = f"/models/{MODEL}/versions/v2"
    page = client.post(f"{version}/request-promotion", data={"stage": "production", "comment": "x", "csrf_token": csrf})
    assert "waiting for an approver" in page.text
    page = client.post(f"{version}/reject", data={"stage": "production", "comment": "not yet", "csrf_token": csrf})
    assert "carol rejected eyewear v2" in page.text
    page = client.post(f"{version}/promote", data={"stage": "validation", "expected_stage": "staging",
                                                   "csrf_token": csrf})  # fmt: skip
    assert "eyewear v2 is now in validation" in page.text
    page = client.post(f"/models/{MODEL}/rollback", data={"csrf_token": csrf})
    assert "no earlier production version" in page.text


def test_the_model_page_shows_versions_badges_metrics_and_filters(client: TestClient) -> None:
    sign_in(client, "bob-token-00002")
    page = client.get(f"/models/{MODEL}").text
    for text in ("stage-production", "stage-staging", "stage-development", "0.86", "tuned", "alice"):
        assert text in page
    filtered = client.get(f"/models/{MODEL}?stage=staging").text
    assert 'data-version="v2"' in filtered
    assert 'data-version="v1"' not in filtered


def test_the_version_page_shows_manifest_lineage_approvals_and_history(client: TestClient,
                                                                       registry: ModelRegistry) -> None:  # fmt: skip
    sign_in(client, "bob-token-00002")
    metadata = registry.get_model_metadata(MODEL, "v1")
    page = client.get(f"/models/{MODEL}/versions/v1").text
    assert all(entry.sha256 in page for entry in metadata.artifact_manifest)
    assert metadata.artifact_digest in page
    assert "train-and-register-1" in page
    assert "first release" in page
    assert 'id="promote-form"' in page


def test_the_version_page_links_a_vertex_pipeline_run_to_the_cloud_console(
    client: TestClient, registry: ModelRegistry, tmp_path: Path
) -> None:
    folder = tmp_path / "from-vertex"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"trained on Vertex AI")
    run = "projects/123456/locations/europe-west4/pipelineJobs/eyewear-train-and-register-20261129"
    version = registry.register_model(MODEL, folder, lineage={"pipeline_run": run}, registered_by="alice").version
    sign_in(client, "bob-token-00002")
    page = client.get(f"/models/{MODEL}/versions/{version}").text
    url = (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/pipelines/runs/"
        "eyewear-train-and-register-20261129?project=123456"
    )
    assert f'<a href="{url}" rel="noopener noreferrer">open in the Cloud console</a>' in page
    assert "open in the Cloud console" not in client.get(f"/models/{MODEL}/versions/v1").text  # a local run: no page


def test_the_compare_page_draws_a_chart(client: TestClient) -> None:
    sign_in(client, "bob-token-00002")
    page = client.get(f"/models/{MODEL}/compare?versions=v1&versions=v2").text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="compare-chart"' in page
    assert page.count('class="bar') == 8  # 4 metrics x 2 versions
    too_many = client.get(f"/models/{MODEL}/compare?" + "&".join(f"versions=v{i}" for i in range(1, 7))).text
    assert "at most 5" in too_many


def test_history_endpoints_and_api_pages_render(client: TestClient, registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name="shop", target=RecordingTarget(), actor="alice")
    sign_in(client, "bob-token-00002")
    assert "deployed" in client.get("/history?action=deployed").text
    endpoints = client.get("/endpoints").text
    assert "shop" in endpoints
    assert "eyewear v1 100%" in endpoints
    assert "recording/shop" in client.get("/endpoints/shop").text
    assert "/api/v1/models/{name}/compare" in client.get("/api").text


def test_unknown_pages_and_models_render_errors_not_500s(client: TestClient) -> None:
    sign_in(client, "bob-token-00002")
    assert client.get("/models/nope").status_code == 404
    assert client.get("/models/Bad Name").status_code == 400
    assert client.get("/no/such/page").status_code == 404
    assert client.get(f"/models/{MODEL}?stage=bogus").status_code == 400


def test_anonymous_reading_shows_pages_without_actions(make_client: Callable[..., TestClient]) -> None:
    client = make_client(allow_anonymous_read=True)
    page = client.get(f"/models/{MODEL}/versions/v2")
    assert page.status_code == 200
    assert 'id="promote-form"' not in page.text
    assert "Sign in</a> to request" in page.text


def test_pages_send_a_content_security_policy(client: TestClient) -> None:
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example.com",  # browsers drop tabs and newlines inside URLs: this reads as //evil.example.com
        "/%0a/evil.example.com",
        "/%0d%0a/evil.example.com",
        "%09//evil.example.com",
        "/%09%5Cevil.example.com",
        "/%5Cevil.example.com",  # and read a backslash as a slash
        "//evil.example.com",
        "https://evil.example.com/",
        "%20//evil.example.com",
        "/models%00/x",
    ],
)
def test_the_next_page_after_sign_in_is_always_on_this_site(client: TestClient, target: str) -> None:
    form = client.get(f"/login?next={target}").text
    assert 'name="next" value="/models"' in form
    page = client.get("/login")
    response = client.post("/login", data={"token": "bob-token-00002", "csrf_token": csrf_of(page.text),
                                           "next": urllib.parse.unquote(target)}, follow_redirects=False)  # fmt: skip
    assert response.headers["location"] == "/models"
    signed_in = client.get(f"/login?next={target}").text
    assert '<a href="/models">Continue</a>' in signed_in


def test_a_next_page_on_this_site_is_kept(client: TestClient) -> None:
    target = "/models/eyewear?stage=staging"
    form = client.get(f"/login?next={urllib.parse.quote(target)}").text
    assert 'name="next" value="/models/eyewear?stage=staging"' in form
    sign_in(client, "bob-token-00002", target)
