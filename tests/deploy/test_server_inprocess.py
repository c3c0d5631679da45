"""PredictionServer in this process: refresh failures, request logging, stopping, signals, the CLI helper."""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

import pytest
from deploy_support import (
    INSTANCE,
    MODEL,
    call,
    predict_url,
)

from registry_core import ModelRegistry
from registry_core.deploy.records import EndpointRecord
from registry_core.deploy.server import PredictionServer, run_server_cli, serve
from registry_core.errors import DeploymentError, EndpointNotFoundError, InvalidInputError
from registry_core.metadata import utc_now

ENDPOINT = "shop"
POLL = 0.05


def test_a_failing_refresh_is_logged_shown_and_survived(
    registry: ModelRegistry, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    key = f"endpoints/{ENDPOINT}.json"
    good = registry.storage.read(key)
    caplog.set_level(logging.DEBUG, logger="registry_core.deploy.server")
    with PredictionServer(registry, ENDPOINT, port=0, poll_interval=POLL) as server:
        url = predict_url(server.url, ENDPOINT)
        registry.storage.write(key, b"{ corrupt")
        deadline = time.monotonic() + 10
        while "refreshError" not in (health := call("GET", f"{server.url}/health")).body:
            assert time.monotonic() < deadline, health.text
            time.sleep(POLL)
        assert "corrupt record" in health.body["refreshError"]
        assert health.status == 200  # still serving what it had
        assert call("POST", url, {"instances": [INSTANCE]}).body["modelVersion"] == "v1"
        time.sleep(5 * POLL)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "cannot refresh" in r.message]
        assert len(warnings) == 1  # logged once, not at every poll

        registry.storage.write(key, good)
        deadline = time.monotonic() + 10
        while "refreshError" in (health := call("GET", f"{server.url}/health")).body:
            assert time.monotonic() < deadline, health.text
            time.sleep(POLL)
        assert server.running

    requests = [
        r for r in caplog.records if r.levelno == logging.DEBUG and "POST /v1/endpoints/shop:predict" in r.message
    ]
    assert requests  # one DEBUG line per request...
    assert "POST /v1" not in capfd.readouterr().err  # ...and nothing on stderr


def test_stop_closes_keep_alive_connections(registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    server = PredictionServer(registry, ENDPOINT, port=0, poll_interval=POLL).start()
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection") != "close"  # kept alive
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        assert not server.running
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):  # noqa: PT012 - either may fail
            connection.request("GET", "/health")
            connection.getresponse()
    finally:
        connection.close()
    server.stop()  # idempotent


def test_answers_on_a_keep_alive_connection_do_not_wait_for_delayed_acks(registry: ModelRegistry) -> None:
    # Without TCP_NODELAY on the server's connections, an answer's second segment waited for the client's delayed
    # ACK: ~40 ms per request on Linux, whatever the model (found by make bench-serve). http.client sends a POST's
    # headers and body as two segments, like many clients.
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    body = json.dumps({"instances": [INSTANCE]}).encode()
    with PredictionServer(registry, ENDPOINT, port=0, poll_interval=POLL) as server:
        parts = urlsplit(server.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            times: dict[str, list[float]] = {"GET /health": [], "POST predict": []}
            for _ in range(15):
                for name, method, path, payload in (
                    ("GET /health", "GET", "/health", None),
                    ("POST predict", "POST", f"/v1/endpoints/{ENDPOINT}:predict", body),
                ):
                    started = time.perf_counter()
                    connection.request(method, path, payload, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                    times[name].append(time.perf_counter() - started)
                    assert response.status == 200
        finally:
            connection.close()
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    assert all(median < 0.02 for median in medians.values()), medians


def test_missing_endpoint_is_refused_before_binding(registry: ModelRegistry) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EndpointNotFoundError, match="'nowhere' does not exist"):
        run_server_cli(registry, "nowhere", "127.0.0.1", port)
    with socket.socket() as again:  # nothing was left bound
        again.bind(("127.0.0.1", port))


def test_busy_port_is_a_deployment_error(registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DeploymentError, match=f"cannot listen on 127.0.0.1:{port}"):
            PredictionServer(registry.storage, ENDPOINT, port=port).start()


def test_serve_blocks_until_sigint_and_restores_the_handlers(registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    answers: list[int] = []

    def ready(url: str) -> None:
        assert url.startswith("http://127.0.0.1:")
        answers.append(call("POST", predict_url(url, ENDPOINT), {"instances": [INSTANCE]}).status)
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()

    serve(registry, ENDPOINT, port=0, poll_interval=POLL, ready=ready)  # returns on SIGINT
    assert answers == [200]
    assert {s: signal.getsignal(s) for s in before} == before


def test_only_local_endpoints_are_served(registry: ModelRegistry) -> None:
    record = EndpointRecord(name="cloud", target="vertex", created_at=utc_now())
    registry.endpoints.records.update("cloud", lambda _: record)
    with pytest.raises(InvalidInputError, match="'cloud' is a vertex endpoint"):
        PredictionServer(registry, "cloud", port=0).start()


def test_a_storage_failure_shows_on_health_only_as_its_kind(
    registry: ModelRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    record = registry.storage.local_path(f"endpoints/{ENDPOINT}.json")
    assert record is not None
    caplog.set_level(logging.WARNING, logger="registry_core.deploy.server")
    with PredictionServer(registry, ENDPOINT, port=0, poll_interval=POLL) as server:
        good = record.read_bytes()
        record.unlink()
        record.mkdir()  # reading it now fails inside the storage layer, whose message names the path
        try:
            deadline = time.monotonic() + 10
            while "refreshError" not in (health := call("GET", f"{server.url}/health")).body:
                assert time.monotonic() < deadline, health.text
                time.sleep(POLL)
        finally:
            record.rmdir()
            record.write_bytes(good)
        shown = health.body["refreshError"]
        assert shown.endswith("StorageError (see the server log)"), shown
        assert str(record.parent) not in shown
        logged = [r.getMessage() for r in caplog.records if "cannot refresh" in r.getMessage()]
        assert logged, [r.getMessage() for r in caplog.records]
        assert "Is a directory" in logged[0]  # the log has the whole message
