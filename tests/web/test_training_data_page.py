"""A version's training-data profile in the API (`.../data-profile`) and on the version page, escaped."""

from __future__ import annotations

import html as markup
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import BEARER, HOSTILE, MODEL

from registry_core import ModelRegistry
from registry_core.integration import register_trained_model
from registry_core.monitoring.profile import profile_rows
from registry_core.storage import open_storage

BOB = BEARER["bob"]
CATEGORY = "<img src=x onerror=alert(1)>"
# 20 rows: face_width_mm 131..149 and one missing; seven shapes (a hostile one among the top five); a hostile name.
SHAPES = ["oval"] * 6 + ["round"] * 4 + ["square"] * 3 + [CATEGORY] * 2 + ["heart"] * 2 + ["pear"] * 2 + ["kite"]
ROWS = [
    {"face_width_mm": None if i == 0 else 130.0 + i, "face_shape": SHAPES[i], HOSTILE: i % 3} for i in range(20)
]


@pytest.fixture
def profiled(registry: ModelRegistry, tmp_path: Path) -> str:
    """Register eyewear v4 with the profile of ROWS; return its label."""
    folder = tmp_path / "export-4"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"graph 4")
    profile = profile_rows(ROWS, name="train")
    return register_trained_model(folder, MODEL, registry=registry, data_profile=profile, registered_by="alice").version


def test_the_api_returns_a_row_per_feature_and_the_summary(client: TestClient, profiled: str) -> None:
    response = client.get(f"/api/v1/models/{MODEL}/versions/{profiled}/data-profile", headers=BOB)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == (MODEL, profiled)
    assert body["summary"] == {
        "num_examples": 20, "num_features": 3,
        "features": {"face_width_mm": "FLOAT", "face_shape": "STRING", HOSTILE: "INT"},
    }  # fmt: skip
    width, shape, hostile = body["features"]
    assert {k: width[k] for k in ("feature", "type", "count", "missing", "min", "median", "max", "presence")} == {
        "feature": "face_width_mm", "type": "FLOAT", "count": 19, "missing": 1, "min": 131.0, "median": 140.0,
        "max": 149.0, "presence": 0.95,
    }  # fmt: skip
    assert width["domain"] == {"values": None, "min": 131.0, "max": 149.0}
    assert sum(b["count"] for b in width["histogram"]) == 19
    assert (shape["unique"], shape["top_values"][3]) == (7, {"value": CATEGORY, "count": 2, "share": 0.1})
    assert [t["value"] for t in shape["top_values"]] == ["oval", "round", "square", CATEGORY, "heart"]
    assert len(shape["domain"]["values"]) == 7
    assert (hostile["feature"], hostile["domain"]) == (HOSTILE, {"values": None, "min": 0, "max": 2})


def test_the_api_answers_404_json_without_a_profile_and_401_without_identity(
    client: TestClient, profiled: str
) -> None:
    response = client.get(f"/api/v1/models/{MODEL}/versions/v1/data-profile", headers=BOB)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFoundError"
    assert "eyewear v1 has no data profile" in response.json()["error"]["message"]
    assert client.get(f"/api/v1/models/{MODEL}/versions/v9/data-profile", headers=BOB).status_code == 404
    assert client.get(f"/api/v1/models/{MODEL}/versions/{profiled}/data-profile").status_code == 401


def test_the_route_is_in_the_openapi_document(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/models/{name}/versions/{version}/data-profile"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProfileView"
    }
    assert "404" in operation["responses"]
    assert {"count", "top_values", "domain", "presence"} <= set(schema["components"]["schemas"]["FeatureProfile"]
                                                                ["properties"])  # fmt: skip


def test_the_version_page_shows_the_training_data_escaped(client: TestClient, profiled: str) -> None:
    response = client.get(f"/models/{MODEL}/versions/{profiled}", headers=BOB)
    assert response.status_code == 200
    section = re.search(r'<section class="card" id="training-data">.*?</section>', response.text, re.S)
    assert section
    html = section.group(0)
    assert "20 examples, 3 features" in html
    rows = re.findall(r'<tr data-feature="([^"]*)"><th>(.*?)</th><td class="muted">(\w+)</td>', html)
    assert [(markup.unescape(a), markup.unescape(b), kind) for a, b, kind in rows] == [
        ("face_width_mm", "face_width_mm", "FLOAT"), ("face_shape", "face_shape", "STRING"), (HOSTILE, HOSTILE, "INT")
    ]  # fmt: skip
    width = html.split('<tr data-feature="face_width_mm">')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="num">(.*?)</td>', width)
    assert cells == ["19", "1", "131", "140", "5.477", "140", "149"]
    assert "in ≥ 95.0%" in width
    assert "131 – 149" in width
    shape = html.split('<tr data-feature="face_shape">')[1].split("</tr>")[0]
    assert "7 distinct" in shape
    assert f"{markup.escape(CATEGORY)} <span class=\"muted\">10.0%</span>" in shape
    assert "7 categories" in shape
    # a histogram for each number, the top shares for the string: tooltips escaped too
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="mini-bars"') == 3
    assert f"<title>{markup.escape(CATEGORY)}: 10.0% (2)</title>" in html
    assert "<img src=x" not in response.text
    assert HOSTILE not in response.text


def test_a_version_without_a_profile_says_so(client: TestClient) -> None:
    html = client.get(f"/models/{MODEL}/versions/v1", headers=BOB).text
    assert 'id="no-profile"' in html
    assert 'id="profile"' not in html


def test_a_changed_profile_is_named_and_the_rest_of_the_page_stays(
    client: TestClient, registry: ModelRegistry, profiled: str
) -> None:
    uri = registry.get_model_metadata(MODEL, profiled).artifact_uri
    open_storage(uri).write("data_profile/schema.pbtxt", b"feature { name: 'x' }")
    response = client.get(f"/models/{MODEL}/versions/{profiled}", headers=BOB)
    assert response.status_code == 200
    problem = re.search(r'<p class="flash flash-error" id="profile-problem">(.*?)</p>', response.text)
    assert problem
    assert "modified data_profile/schema.pbtxt" in problem.group(1)
    assert 'id="manifest"' in response.text
    api = client.get(f"/api/v1/models/{MODEL}/versions/{profiled}/data-profile", headers=BOB)
    assert (api.status_code, api.json()["error"]["type"]) == (500, "ArtifactIntegrityError")
