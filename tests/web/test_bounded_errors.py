"""Error bodies of the API stay short whatever the request put into them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from web_support import BEARER, MODEL

BIG = "x" * 120_000
BOB = BEARER["bob"]


def test_a_validation_error_naming_a_huge_field_is_short(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/models/{MODEL}/versions/v3/promote", json={"stage": "validation", BIG: 1}, headers=BOB
    )

    assert response.status_code == 422
    body = response.json()
    assert "Extra inputs are not permitted" in body["error"]["message"]
    assert body["detail"][0]["loc"][-1].startswith("xxx")
    assert len(response.content) < 2_000


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"/api/v1/models/{MODEL}/rollback", {"to_version": BIG}),
        (f"/api/v1/models/{MODEL}/versions/v3/promote", {"stage": BIG}),
        (f"/api/v1/models/{MODEL}/versions/v3/promote", {"stage": "validation", "reason": BIG}),
        (f"/api/v1/models/{MODEL}/versions/v3/approvals", {"stage": "production", "comment": BIG}),
    ],
)
def test_a_huge_value_gets_a_short_error(client: TestClient, path: str, body: dict[str, str]) -> None:
    response = client.post(path, json=body, headers=BOB)

    assert 400 <= response.status_code < 500
    assert len(response.content) < 2_000
