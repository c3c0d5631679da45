"""The JSON API through the ASGI app on a real local registry: browsing, the approval workflow, the rules, auth."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from web_support import BEARER, MODEL, RecordingTarget

from registry_core import ModelRegistry, ModelStage

ALICE, BOB, CAROL = BEARER["alice"], BEARER["bob"], BEARER["carol"]


def test_models_list_shows_the_latest_version_per_stage(client: TestClient) -> None:
    response = client.get("/api/v1/models", headers=BOB)
    assert response.status_code == 200
    [model] = response.json()
    assert model["name"] == MODEL
    assert model["version_count"] == 3
    assert model["latest_by_stage"] == {"development": "v3", "staging": "v2", "production": "v1"}


def test_models_search_matches_tags_and_descriptions(client: TestClient) -> None:
    assert [m["name"] for m in client.get("/api/v1/models?q=tuned", headers=BOB).json()] == [MODEL]
    assert [m["name"] for m in client.get("/api/v1/models?q=recommender", headers=BOB).json()] == [MODEL]
    assert client.get("/api/v1/models?q=no-such-thing", headers=BOB).json() == []


def test_model_detail_lists_versions_newest_first_with_rollback_candidates(client: TestClient) -> None:
    body = client.get(f"/api/v1/models/{MODEL}", headers=BOB).json()
    assert [v["version"] for v in body["versions"]] == ["v3", "v2", "v1"]
    assert body["versions"][0]["registered_by"] == "alice"
    assert body["rollback_candidates"] == []


def test_versions_filter_by_stage_and_tag(client: TestClient) -> None:
    staging = client.get(f"/api/v1/models/{MODEL}/versions?stage=staging", headers=BOB).json()
    assert [v["version"] for v in staging] == ["v2"]
    tuned = client.get(f"/api/v1/models/{MODEL}/versions?tag=tuned", headers=BOB).json()
    assert [v["version"] for v in tuned] == ["v2", "v3"]


def test_version_has_manifest_digests_lineage_and_approvals(client: TestClient) -> None:
    body = client.get(f"/api/v1/models/{MODEL}/versions/v1", headers=BOB).json()
    assert {f["path"] for f in body["artifact_manifest"]} == {"saved_model.pb", "variables/variables.index"}
    assert all(len(f["sha256"]) == 64 for f in body["artifact_manifest"])
    assert body["lineage"]["pipeline_run"] == "train-and-register-1"
    assert [(a["approver"], a["stage"]) for a in body["approvals"]] == [("bob", "production")]


def test_compare_returns_metrics_side_by_side_with_the_best(client: TestClient) -> None:
    response = client.get(f"/api/v1/models/{MODEL}/compare?versions=v1&versions=v2&versions=v3", headers=BOB)
    assert response.status_code == 200
    body = response.json()
    assert body["versions"] == ["v1", "v2", "v3"]
    assert body["metrics"]["accuracy"] == {"v1": 0.81, "v2": 0.86, "v3": 0.84}
    assert body["best"]["accuracy"] == "v2"
    assert body["best"]["loss"] == "v2"  # lower is better
    assert body["best"]["latency_ms"] == "v3"


def test_compare_refuses_one_version_and_more_than_five(client: TestClient) -> None:
    one = client.get(f"/api/v1/models/{MODEL}/compare?versions=v1", headers=BOB)
    assert one.status_code == 422
    assert "at least 2" in one.json()["error"]["message"]
    six = "&".join(f"versions=v{i}" for i in range(1, 7))
    assert client.get(f"/api/v1/models/{MODEL}/compare?{six}", headers=BOB).status_code == 422
    same = client.get(f"/api/v1/models/{MODEL}/compare?versions=v1&versions=v1", headers=BOB)
    assert same.status_code == 400
    assert "at least two" in same.json()["error"]["message"]


def test_request_then_approve_by_a_second_user_promotes(client: TestClient, registry: ModelRegistry) -> None:
    requested = client.post(
        f"/api/v1/models/{MODEL}/versions/v2/promotion-requests",
        json={"stage": "production", "comment": "beats v1 on holdout"}, headers=ALICE,
    )  # fmt: skip
    assert requested.status_code == 200, requested.text
    assert "waiting for an approver" in requested.json()["message"]
    pending = client.get("/api/v1/approvals/pending", headers=BOB).json()
    assert [(p["version"], p["request"]["stage"], p["request"]["requested_by"]) for p in pending] == [
        ("v2", "production", "alice")
    ]

    approved = client.post(
        f"/api/v1/models/{MODEL}/versions/v2/approvals", json={"stage": "production", "comment": "lgtm"}, headers=BOB
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["version"]["stage"] == "production"
    assert registry.get_model_metadata(MODEL, "v2").stage is ModelStage.PRODUCTION
    assert registry.get_model_metadata(MODEL, "v1").stage is ModelStage.ARCHIVED
    last = registry.get_model_metadata(MODEL, "v2").stage_history[-1]
    assert (last.changed_by, last.approvals) == ("bob", ("bob",))
    assert client.get("/api/v1/approvals/pending", headers=BOB).json() == []


def test_self_approval_is_refused_with_the_four_eyes_message(client: TestClient, registry: ModelRegistry) -> None:
    client.post(f"/api/v1/models/{MODEL}/versions/v2/promotion-requests", json={"stage": "production"}, headers=ALICE)
    response = client.post(f"/api/v1/models/{MODEL}/versions/v2/approvals", json={"stage": "production"},
                           headers=ALICE)  # fmt: skip
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["type"] == "ApprovalError"
    assert "four-eyes" in error["message"]
    assert registry.get_model_metadata(MODEL, "v2").stage is ModelStage.STAGING


def test_reject_records_the_decision_and_comment(client: TestClient, registry: ModelRegistry) -> None:
    client.post(f"/api/v1/models/{MODEL}/versions/v2/promotion-requests", json={"stage": "production"}, headers=ALICE)
    response = client.post(
        f"/api/v1/models/{MODEL}/versions/v2/rejections", json={"stage": "production", "comment": "latency"},
        headers=CAROL,
    )  # fmt: skip
    assert response.status_code == 200
    request = registry.get_model_metadata(MODEL, "v2").promotion_requests[-1]
    assert (request.status, request.decided_by, request.decision_comment) == ("rejected", "carol", "latency")


def test_transition_outside_the_table_is_a_409_naming_the_allowed_stages(client: TestClient) -> None:
    response = client.post(f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "production"}, headers=BOB)
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "InvalidTransitionError"
    assert "allowed: validation, archived" in response.json()["error"]["message"]


def test_promotion_to_a_gated_stage_without_approval_is_refused(client: TestClient) -> None:
    response = client.post(f"/api/v1/models/{MODEL}/versions/v2/promote", json={"stage": "production"}, headers=BOB)
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "ApprovalRequiredError"


def test_promote_from_a_stale_page_is_a_conflict(client: TestClient, registry: ModelRegistry) -> None:
    registry.promote_model(MODEL, "v3", "validation", actor="alice")  # someone moved it meanwhile
    response = client.post(
        f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "archived", "expected_stage": "development"},
        headers=BOB,
    )  # fmt: skip
    assert response.status_code == 409
    assert "reload" in response.json()["error"]["message"]
    assert registry.get_model_metadata(MODEL, "v3").stage is ModelStage.VALIDATION


def test_promote_records_the_identity_as_actor(client: TestClient, registry: ModelRegistry) -> None:
    response = client.post(
        f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "validation", "reason": "ready",
                                                             "expected_stage": "development"}, headers=CAROL,
    )  # fmt: skip
    assert response.status_code == 200
    change = registry.get_model_metadata(MODEL, "v3").stage_history[-1]
    assert (change.changed_by, change.reason) == ("carol", "ready")


def test_rollback_restores_the_previous_production_version(client: TestClient, registry: ModelRegistry) -> None:
    registry.promote_model(MODEL, "v2", "production", approved_by="bob", actor="alice")
    response = client.post(f"/api/v1/models/{MODEL}/rollback", json={"reason": "regression"}, headers=CAROL)
    assert response.status_code == 200, response.text
    assert response.json()["version"]["version"] == "v1"
    assert registry.get_model_metadata(MODEL, "v2").stage is ModelStage.ARCHIVED
    assert registry.history(MODEL)[-1].actor == "carol"


def test_rollback_without_an_earlier_version_is_a_409(client: TestClient) -> None:
    response = client.post(f"/api/v1/models/{MODEL}/rollback", json={}, headers=CAROL)
    assert response.status_code == 409
    assert "no earlier production version" in response.json()["error"]["message"]


def test_unknown_model_and_version_are_404_and_malformed_names_422(client: TestClient) -> None:
    assert client.get("/api/v1/models/nope", headers=BOB).status_code == 404
    assert client.get(f"/api/v1/models/{MODEL}/versions/v9", headers=BOB).status_code == 404
    assert client.get(f"/api/v1/models/{MODEL}/versions/v1.2.3", headers=BOB).status_code == 404  # not semantic
    bad = client.get("/api/v1/models/Bad%20Name!", headers=BOB)
    assert bad.status_code == 422
    assert bad.json()["error"]["message"].startswith("path.name: String should match pattern")


def test_history_and_endpoints_are_listed(client: TestClient, registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name="shop", target=RecordingTarget(), actor="alice")
    history = client.get("/api/v1/history?limit=3", headers=BOB).json()
    assert history[0]["entry"]["action"] == "deployed"
    endpoints = client.get("/api/v1/endpoints", headers=BOB).json()
    assert [(e["name"], list(e["traffic"].values())) for e in endpoints] == [("shop", [100])]
    assert client.get("/api/v1/endpoints/nowhere", headers=BOB).status_code == 404


def test_a_change_without_identity_is_401(client: TestClient) -> None:
    response = client.post(f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "validation"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["type"] == "NotAuthenticated"


def test_an_unknown_token_is_401(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "validation"},
        headers={"Authorization": "Bearer not-a-known-token"},
    )  # fmt: skip
    assert response.status_code == 401


def test_reads_need_identity_unless_anonymous_reading_is_on(make_client: Callable[..., TestClient]) -> None:
    closed = make_client()
    assert closed.get("/api/v1/models").status_code == 401
    open_ = make_client(allow_anonymous_read=True)
    assert open_.get("/api/v1/models").status_code == 200
    assert open_.post(f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "validation"}).status_code == 401


def test_only_configured_approvers_may_approve(make_client: Callable[..., TestClient]) -> None:
    client = make_client(approvers=["carol"])
    client.post(f"/api/v1/models/{MODEL}/versions/v2/promotion-requests", json={"stage": "production"}, headers=ALICE)
    refused = client.post(f"/api/v1/models/{MODEL}/versions/v2/approvals", json={"stage": "production"}, headers=BOB)
    assert refused.status_code == 403
    assert "not one of the configured approvers" in refused.json()["error"]["message"]
    done = client.post(f"/api/v1/models/{MODEL}/versions/v2/approvals", json={"stage": "production"}, headers=CAROL)
    assert done.json()["version"]["stage"] == "production"


def test_a_session_cookie_alone_needs_the_csrf_header_on_the_api(client: TestClient) -> None:
    login = client.get("/login")
    csrf = _hidden(login.text, "csrf_token")
    client.post("/login", data={"token": "bob-token-00002", "csrf_token": csrf, "next": "/models"})
    csrf = _hidden(client.get("/models").text, "csrf_token")
    assert client.get("/api/v1/whoami").json()["via"] == "session"  # reads need no CSRF header
    url = f"/api/v1/models/{MODEL}/versions/v3/promote"
    assert client.post(url, json={"stage": "validation"}).status_code == 403
    assert client.post(url, json={"stage": "validation"}, headers={"X-CSRF-Token": csrf}).status_code == 200


def test_json_bodies_must_be_json(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/models/{MODEL}/versions/v3/promote", content=b'{"stage": "validation"}',
        headers={**BOB, "Content-Type": "text/plain"},
    )  # fmt: skip
    assert response.status_code == 422


def test_whoami_and_health(client: TestClient) -> None:
    assert client.get("/api/v1/whoami", headers=CAROL).json() == {"name": "carol", "via": "bearer", "may_approve": True}
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_openapi_schema_lists_the_api(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/models/{name}/versions/{version}/approvals" in schema["paths"]
    assert not any(path.startswith("/models") for path in schema["paths"])  # pages are not part of the API
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])


def _hidden(html: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
