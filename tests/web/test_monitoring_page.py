"""The monitoring page of an endpoint, its run reports and the monitoring API, from summaries stored in a registry."""

from __future__ import annotations

import html as markup
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from web_support import BEARER, ENDPOINT, HOSTILE, MODEL, RecordingTarget, monitoring_summary, write_monitoring_runs

from registry_core import ModelRegistry
from registry_core.monitoring import run_reports

BOB = BEARER["bob"]


@pytest.fixture
def shop(registry: ModelRegistry) -> ModelRegistry:
    """The registry with endpoint `shop` serving eyewear v1."""
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT, target=RecordingTarget(), actor="alice")
    return registry


def _series(html: str, chart_id: str) -> dict[str, int]:
    """Return the series of a chart on a page: name -> number of points."""
    found = re.search(rf'<svg[^>]* id="{chart_id}".*?</svg>', html, re.S)
    assert found, f"no chart {chart_id}"
    groups = re.findall(r'<g class="series" data-series="([^"]*)"[^>]*>(.*?)</g>', found.group(0), re.S)
    return {markup.unescape(name): body.count('<circle class="point"') for name, body in groups}


def test_the_page_shows_the_latest_verdict_the_features_and_the_charts(client: TestClient, shop: ModelRegistry) -> None:
    keys = write_monitoring_runs(shop)
    response = client.get(f"/endpoints/{ENDPOINT}/monitoring", headers=BOB)
    assert response.status_code == 200
    html = response.text
    verdict = re.search(r'<section class="card" id="verdict">.*?</section>', html, re.S)
    assert verdict
    assert "drift detected" in verdict.group(0)
    assert "degraded" in verdict.group(0)
    assert "train-and-register-20261128" in verdict.group(0)
    assert 'href="/models/eyewear/versions/v3"' in verdict.group(0)
    assert "803" in verdict.group(0)
    assert "v2 40" in verdict.group(0)
    assert "2026-11-27 19:00 UTC – 2026-11-28 19:00 UTC" in verdict.group(0)
    rows = re.findall(r"<tr class=\"(drifted)?\"><th>(.*?)</th>.*?</tr>", html, re.S)
    assert [(markup.unescape(name), bool(flag)) for flag, name in rows] == [
        ("face_width_mm", True), ("face_shape", False), (HOSTILE, False)
    ]  # fmt: skip
    # one line per feature with a point per run, the thresholds marked; quality: one chart per metric, with a gap
    assert _series(html, "drift-chart") == {"face_width_mm": 4, "face_shape": 4, HOSTILE: 4}
    drift_chart = re.search(r'<svg[^>]* id="drift-chart".*?</svg>', html, re.S)
    assert drift_chart
    assert re.findall(r'<g class="reference" data-value="([^"]+)"', drift_chart.group(0)) == ["0.1", "0.2"]
    # the monitor's metrics, in the order it computes them
    charts = re.findall(r'<svg[^>]* id="quality-([^"]+)"', html)
    assert charts == ["accuracy", "precision_macro", "recall_macro", "f1_macro", "loss"]
    assert _series(html, "quality-f1_macro") == {"f1_macro": 3}
    accuracy = re.search(r'<svg[^>]* id="quality-accuracy".*?</svg>', html, re.S)
    assert accuracy
    assert 'data-value="0.83"' in accuracy.group(0)  # the validated value
    assert accuracy.group(0).count("M") == 2  # the run without feedback breaks the line
    # every run links to its report, newest first
    links = re.findall(r'<a class="report" href="([^"]+)">open</a>', html)
    assert links == [f"/endpoints/{ENDPOINT}/monitoring/reports/{k.page.rsplit('/', 1)[1]}" for k in reversed(keys)]
    assert HOSTILE not in html
    assert "<img src=x" not in html


def test_the_latest_runs_anomalies_show_their_descriptions(client: TestClient, shop: ModelRegistry) -> None:
    write_monitoring_runs(shop)
    html = client.get(f"/endpoints/{ENDPOINT}/monitoring", headers=BOB).text
    anomalies = re.search(r'<ul class="anomalies" id="anomalies">(.*?)</ul>', html, re.S)
    assert anomalies
    [item] = re.findall(r"<li>(.*?)</li>", anomalies.group(1), re.S)
    assert markup.unescape(re.sub(r"<[^>]+>", "", item)) == (
        f"face_shape unknown category face_shape has values outside its domain in 2.0% of rows: {HOSTILE}"
    )
    assert HOSTILE not in html


def test_a_report_link_opens_the_stored_page_under_a_strict_policy(client: TestClient, shop: ModelRegistry) -> None:
    write_monitoring_runs(shop)
    html = client.get(f"/endpoints/{ENDPOINT}/monitoring", headers=BOB).text
    first = re.findall(r'<a class="report" href="([^"]+)">open</a>', html)[-1]
    report = client.get(first, headers=BOB)
    assert report.status_code == 200
    assert "<h1>Run of day 0</h1>" in report.text
    policy = report.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "sandbox" in policy
    assert "script-src" not in policy
    assert report.headers["x-frame-options"] == "DENY"
    assert report.headers["x-content-type-options"] == "nosniff"
    assert client.get(first, follow_redirects=False).status_code == 303  # reading needs a sign-in, as elsewhere


@pytest.mark.parametrize(
    "name", ["20261125T190000000000Z-0badcafe.html", "..%2F..%2Fmetadata.json", "x.html", ".hidden.html"]
)
def test_an_unknown_or_malformed_report_is_a_404_page(client: TestClient, shop: ModelRegistry, name: str) -> None:
    write_monitoring_runs(shop, range(1))
    response = client.get(f"/endpoints/{ENDPOINT}/monitoring/reports/{name}", headers=BOB)
    assert response.status_code == 404
    assert "Not found" in response.text


def test_the_api_returns_the_summaries_oldest_first(client: TestClient, shop: ModelRegistry) -> None:
    write_monitoring_runs(shop)
    runs = client.get(f"/api/v1/endpoints/{ENDPOINT}/monitoring", headers=BOB).json()
    assert [r["checked_at"][:10] for r in runs] == ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"]
    assert [r["drift_detected"] for r in runs] == [False, False, True, True]
    assert runs[-1]["features"]["face_width_mm"]["score"] == 0.41
    assert runs[-1]["retrain"]["version"] == "v3"
    assert runs[2]["quality"] is None
    newest = client.get(f"/api/v1/endpoints/{ENDPOINT}/monitoring?limit=2", headers=BOB).json()
    assert [r["checked_at"][:10] for r in newest] == ["2026-11-27", "2026-11-28"]
    assert client.get(f"/api/v1/endpoints/{ENDPOINT}/monitoring?limit=0", headers=BOB).status_code == 422
    unauthenticated = client.get(f"/api/v1/endpoints/{ENDPOINT}/monitoring")
    assert unauthenticated.status_code == 401
    assert client.get("/api/v1/endpoints/nowhere/monitoring", headers=BOB).status_code == 404


def test_a_damaged_summary_is_left_out_of_the_page_and_the_api(
    client: TestClient, shop: ModelRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    keys = write_monitoring_runs(shop)
    shop.storage.write(keys[1].summary, b'{"model": "eyewear", "checked_at": "yesterday"')  # cut short
    wrong = monitoring_summary(shop, keys[2], 2, features={"face_width_mm": {"score": "high"}})
    run_reports.write_report(shop.storage, keys[2], wrong, "<html></html>")
    runs = client.get(f"/api/v1/endpoints/{ENDPOINT}/monitoring", headers=BOB).json()
    assert [r["checked_at"][:10] for r in runs] == ["2026-11-25", "2026-11-28"]
    skipped = [r.getMessage() for r in caplog.records if "does not fit" in r.getMessage()]
    assert skipped[0] == (
        f"skipping a monitoring report of {ENDPOINT} that does not fit: "
        "features.face_width_mm.score: Input should be a valid number, unable to parse string as a number"
    )
    page = client.get(f"/endpoints/{ENDPOINT}/monitoring", headers=BOB)
    assert page.status_code == 200
    assert _series(page.text, "drift-chart")["face_width_mm"] == 2


def test_an_endpoint_without_runs_says_how_to_monitor_it(client: TestClient, shop: ModelRegistry) -> None:
    html = client.get(f"/endpoints/{ENDPOINT}/monitoring", headers=BOB).text
    assert 'id="no-runs"' in html
    assert f"model-registry monitor {ENDPOINT}" in html
    assert client.get(f"/api/v1/endpoints/{ENDPOINT}/monitoring", headers=BOB).json() == []


def test_an_unknown_endpoint_is_a_404_page(client: TestClient, shop: ModelRegistry) -> None:
    response = client.get("/endpoints/nowhere/monitoring", headers=BOB)
    assert response.status_code == 404
    assert "nowhere" in response.text


def test_the_endpoint_pages_link_to_monitoring(client: TestClient, shop: ModelRegistry) -> None:
    link = f'href="/endpoints/{ENDPOINT}/monitoring"'
    assert link in client.get(f"/endpoints/{ENDPOINT}", headers=BOB).text
    assert link in client.get("/endpoints", headers=BOB).text


def test_a_single_run_with_scores_that_are_not_numbers_still_renders(client: TestClient, shop: ModelRegistry) -> None:
    keys = run_reports.new_report_keys(ENDPOINT, datetime(2026, 11, 25, 19, 0, tzinfo=UTC))
    summary = monitoring_summary(shop, keys, 0)
    summary["features"]["face_width_mm"]["score"] = float("nan")
    summary["quality"]["metrics"]["accuracy"] = float("inf")
    run_reports.write_report(shop.storage, keys, summary, "<html></html>")
    page = client.get(f"/endpoints/{ENDPOINT}/monitoring", headers=BOB)
    assert page.status_code == 200
    assert _series(page.text, "drift-chart") == {"face_shape": 1, HOSTILE: 1, "face_width_mm": 0}
    assert _series(page.text, "quality-accuracy") == {"accuracy": 0}
    assert set(re.findall(r'<circle class="point" cx="([^"]+)"', page.text)) == {"398.0"}  # the middle of the plot
    runs = client.get(f"/api/v1/endpoints/{ENDPOINT}/monitoring", headers=BOB)
    assert runs.status_code == 200
    assert runs.json()[0]["features"]["face_width_mm"]["score"] is None


def test_a_retraining_that_failed_or_was_skipped_says_so(client: TestClient, shop: ModelRegistry) -> None:
    for day, retrain in enumerate([
        {"status": "failed", "runner": "local", "error": "unknown retraining runner 'nowhere'"},
        {"status": "skipped", "runner": "local", "reason": "retraining already started at 2026-11-25 19:00 UTC"},
    ]):  # fmt: skip
        keys = run_reports.new_report_keys(ENDPOINT, datetime(2026, 11, 25 + day, 19, 0, tzinfo=UTC))
        summary = monitoring_summary(shop, keys, 3, retrain_triggered=False, retrain=retrain)
        run_reports.write_report(shop.storage, keys, summary, "<html></html>")
        page = client.get(f"/endpoints/{ENDPOINT}/monitoring", headers=BOB).text
        verdict = re.search(r'<dd id="retrain-verdict">(.*?)</dd>', page, re.S)
        assert verdict
        assert retrain["status"] in verdict.group(1)
        assert "triggered" not in verdict.group(1)
        assert markup.unescape(verdict.group(1)).endswith(f"{retrain.get('error') or retrain['reason']}</span>")
