"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright against uvicorn on 127.0.0.1.

Screenshots go to test-artifacts/web/ at the repository root.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_support import ENDPOINT, MODEL, RecordingTarget, free_port, web_config, write_monitoring_runs

from registry_core import ModelRegistry, ModelStage
from registry_core.web.app import create_app

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"

from playwright import sync_api as playwright_sync  # noqa: E402 - after CHROMIUM, like the other settings


@pytest.fixture
def server(registry: ModelRegistry) -> Iterator[str]:
    """Run the app with uvicorn in a thread on a free port; return its base URL."""
    import uvicorn

    port = free_port()
    app = create_app(web_config(base_url=f"http://127.0.0.1:{port}"), registry)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server) else outside.append(r.url))
    yield page
    context.close()
    assert outside == [], f"the pages fetched from elsewhere: {outside}"


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, token: str) -> None:
    page.goto("/login")
    page.fill("input[name=token]", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(".flash-ok")


def test_browse_to_a_model_and_compare_two_versions(page: Any, registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name="shop", target=RecordingTarget(), actor="alice")
    page.goto(f"/models/{MODEL}")
    assert page.url.endswith(f"/login?next=/models/{MODEL}")
    sign_in(page, "bob-token-00002")
    page.click(f"#models a:text('{MODEL}')")
    page.wait_for_selector("#versions")
    assert page.locator("#versions tbody tr").count() == 3
    shoot(page, "model")

    page.check("input[name=versions][value=v1]")
    page.check("input[name=versions][value=v2]")
    page.click("#compare-button")
    chart = page.wait_for_selector("svg#compare-chart")
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    bars = page.locator("svg#compare-chart rect.bar")
    assert bars.count() == 8
    widths = [float(bars.nth(i).get_attribute("width") or 0) for i in range(bars.count())]
    assert all(w > 0 for w in widths)
    assert page.locator("svg#compare-chart rect.bar").first.bounding_box()["width"] > 10
    assert page.locator("#comparison td.best").count() >= 4
    shoot(page, "compare")

    page.click("nav a:text('Endpoints')")
    page.wait_for_selector("#endpoints")
    assert "eyewear v1" in page.inner_text("#endpoints")
    shoot(page, "endpoints")


def test_an_endpoints_monitoring_charts_and_a_runs_report(page: Any, registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT, target=RecordingTarget(), actor="alice")
    write_monitoring_runs(registry)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, "bob-token-00002")
    page.goto("/endpoints")
    page.click(f"#endpoints a[href='/endpoints/{ENDPOINT}/monitoring']")
    chart = page.wait_for_selector("svg#drift-chart")
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert page.locator("svg#drift-chart g.series").count() == 3
    assert page.locator("svg#drift-chart circle.point").count() == 12
    assert page.locator("svg#quality-accuracy circle.point").first.bounding_box()["width"] > 2
    assert "drift detected" in page.inner_text("#verdict")
    shoot(page, "monitoring")

    page.click("#runs a.report >> nth=0")
    page.wait_for_selector("h1:text('Run of day 3')")
    assert page.title() == "Run of day 3"  # the stored page's script did not run
    assert page.eval_on_selector("h1", "e => getComputedStyle(e).color") == "rgb(185, 28, 28)"  # its style did
    assert len([m for m in refused if "style" in m]) == 0, refused


def test_approve_a_pending_promotion_as_a_second_user(page: Any, registry: ModelRegistry) -> None:
    sign_in(page, "alice-token-0001")
    page.goto(f"/models/{MODEL}/versions/v2")
    page.select_option("#request-form select[name=stage]", "production")
    page.fill("#request-form input[name=comment]", "v2 beats v1 on holdout")
    page.click("#request-form button[type=submit]")
    assert "waiting for an approver" in page.inner_text(".flash-ok")
    page.click("header form button:text('Sign out')")
    page.wait_for_url("**/login")

    sign_in(page, "bob-token-00002")
    page.goto("/approvals")
    row = page.locator("#pending tr[data-version=v2]")
    assert "v2 beats v1 on holdout" in row.inner_text()
    shoot(page, "approvals")
    row.locator("input[name=comment]").fill("approved after review")
    row.locator("button:text('Approve')").click()
    assert "it is now in production" in page.inner_text(".flash-ok")

    page.goto(f"/models/{MODEL}/versions/v2")
    assert page.inner_text("#stage").strip() == "production"
    assert "approved after review" in page.inner_text("#approvals")
    shoot(page, "version")
    assert registry.get_model_metadata(MODEL, "v2").stage is ModelStage.PRODUCTION
    assert registry.get_model_metadata(MODEL, "v1").stage is ModelStage.ARCHIVED

    page.goto("/history")
    assert "approved after review" in page.inner_text("#timeline")
    shoot(page, "history")


def test_the_link_onward_from_sign_in_stays_on_this_site(page: Any, server: str) -> None:
    sign_in(page, "bob-token-00002")
    for target in ("/%09/evil.example.com", "/%0A/evil.example.com", "/%5Cevil.example.com"):
        page.goto(f"/login?next={target}")
        href = page.eval_on_selector("main a:text('Continue')", "a => a.href")  # as the browser resolves it
        assert href == f"{server}/models", target
