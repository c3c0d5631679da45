"""The prediction server as a real process: it follows deploys, traffic changes and rollbacks without a restart."""

from __future__ import annotations

import http.client
import json
import select
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from deploy_support import (
    INSTANCE,
    MODEL,
    REGISTRANT,
    Exports,
    ServerProcess,
    call,
    make_registry,
    predict_url,
    promote_to_production,
    wait_until_following,
)

from eyewear_model import FRAME_STYLES
from registry_core import ModelRegistry
from registry_core.deploy.server import MAX_BODY_BYTES

ENDPOINT = "shop"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, exports: Exports) -> Iterator[tuple[ModelRegistry, ServerProcess]]:
    """A local registry with v1 serving 100% of ENDPOINT, and one server process for the whole module."""
    root = tmp_path_factory.mktemp("served")
    registry = make_registry(str(root / "registry"), exports)
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    server = ServerProcess(registry.storage.uri, ENDPOINT, root / "server.log")
    yield registry, server
    assert server.stop() == 0, server.log_text()  # SIGTERM is a clean stop


def versions_answering(url: str, requests: int) -> Counter[str]:
    """Send `requests` predict requests; count the versions that answered."""
    seen: Counter[str] = Counter()
    for _ in range(requests):
        reply = call("POST", url, {"instances": [INSTANCE]})
        assert reply.status == 200, reply.text
        seen[reply.body["modelVersion"]] += 1
    return seen


def test_follows_deploy_split_promotion_and_rollback_without_restart(
    served: tuple[ModelRegistry, ServerProcess],
) -> None:
    registry, server = served
    pid = server.process.pid
    url = predict_url(server.url, ENDPOINT)

    reply = call("POST", url, {"instances": [INSTANCE, INSTANCE | {"face_shape": "oval"}]})
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.body["modelVersion"] == "v1"
    assert reply.body["model"] == MODEL
    assert reply.body["deployedModelId"] == registry.get_endpoint(ENDPOINT).serving()[0].id
    assert len(reply.body["predictions"]) == 2
    assert {p["frame_style"] for p in reply.body["predictions"]} <= set(FRAME_STYLES)
    assert len(reply.body["predictions"][0]["probabilities"]) == len(FRAME_STYLES)

    # v2 takes 10%: the split is observed over 400 requests
    canary, _, _ = registry.deploy_model(MODEL, "v2", endpoint_name=ENDPOINT, traffic_percent=10)
    health = wait_until_following(server.url, registry, ENDPOINT)
    assert health.status == 200
    assert {(d["version"], d["traffic"], d["loaded"]) for d in health.body["deployedModels"]} == {
        ("v1", 90, True),
        ("v2", 10, True),
    }
    seen = versions_answering(url, 400)
    assert set(seen) == {"v1", "v2"}
    assert 0.03 <= seen["v2"] / 400 <= 0.20, seen
    direct = call("POST", predict_url(server.url, ENDPOINT, canary.id), {"instances": [INSTANCE]})
    assert (direct.status, direct.body["modelVersion"], direct.body["deployedModelId"]) == (200, "v2", canary.id)

    # v2 to 100%: v1 is undeployed, only v2 answers
    registry.deploy_model(MODEL, "v2", endpoint_name=ENDPOINT, traffic_percent=100)
    health = wait_until_following(server.url, registry, ENDPOINT)
    assert [(d["version"], d["traffic"]) for d in health.body["deployedModels"]] == [("v2", 100)]
    assert versions_answering(url, 40) == Counter({"v2": 40})

    # both went through production; rolling back with the endpoint puts v1 back on it
    promote_to_production(registry, "v1")
    promote_to_production(registry, "v2")
    restored = registry.rollback(MODEL, endpoint_name=ENDPOINT, reason="v2 misbehaves")
    assert restored.version == "v1"
    health = wait_until_following(server.url, registry, ENDPOINT)
    assert [(d["version"], d["traffic"]) for d in health.body["deployedModels"]] == [("v1", 100)]
    assert versions_answering(url, 40) == Counter({"v1": 40})

    assert server.process.poll() is None
    assert server.process.pid == pid  # the same process all along


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"this is not json", "not valid JSON"),
        (b'{"instances": [', "not valid JSON"),
        (b"", "body is empty"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "no 'instances'"),
        (b'{"instances": []}', "'instances' is empty"),
        (b'{"instances": {"face_shape": "round"}}', "'instances' must be a list"),
        (b'{"instances": [1]}', "must be an object with the inputs"),
        (b'{"inputs": [{}]}', "unknown fields ['inputs']"),
        (b'{"instances": [{}], "parameters": 3}', "'parameters' must be an object"),
        (b'{"instances": [{"face_width_mm": NaN}]}', "NaN is not valid JSON"),
        (b"\xff\xfe\xfd", "not valid JSON"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_requests_get_400(served: tuple[ModelRegistry, ServerProcess], body: bytes, message: str) -> None:
    _, server = served
    reply = call("POST", predict_url(server.url, ENDPOINT), body)
    assert reply.status == 400, reply.text
    assert reply.body["error"]["code"] == 400
    assert reply.body["error"]["type"] == "InvalidInputError"
    assert message in reply.body["error"]["message"]
    assert "Traceback" not in reply.text


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        ({k: v for k, v in INSTANCE.items() if k != "budget_usd"} | {"budget": 1.0}, "missing ['budget_usd']"),
        (INSTANCE | {"colour": "red"}, "unknown ['colour']"),
        (INSTANCE | {"face_width_mm": "wide"}, "'face_width_mm'"),
        (INSTANCE | {"face_shape": 3.5}, "'face_shape'"),
        (INSTANCE | {"wears_daily": 0.5}, "'wears_daily'"),
        (INSTANCE | {"wears_daily": None}, "'wears_daily'"),
        (INSTANCE | {"face_width_mm": [141.5, 150.0]}, "'face_width_mm' must be a single value per instance"),
        (INSTANCE | {"face_width_mm": {"mm": 141.5}}, "'face_width_mm'"),
    ],
)
def test_instances_that_do_not_fit_the_model_get_400(
    served: tuple[ModelRegistry, ServerProcess], instance: dict[str, object], message: str
) -> None:
    _, server = served
    reply = call("POST", predict_url(server.url, ENDPOINT), {"instances": [instance]})
    assert reply.status == 400, reply.text
    assert reply.body["error"]["type"] == "InvalidInputError"
    assert message in reply.body["error"]["message"]
    assert "Traceback" not in reply.text


def test_wrong_endpoint_route_and_method(served: tuple[ModelRegistry, ServerProcess]) -> None:
    _, server = served
    good = {"instances": [INSTANCE]}
    other = call("POST", predict_url(server.url, "elsewhere"), good)
    assert other.status == 404
    assert "'elsewhere' is not served here" in other.body["error"]["message"]
    assert other.body["error"]["type"] == "EndpointNotFoundError"
    unknown_model = call("POST", predict_url(server.url, ENDPOINT, "no-such-id"), good)
    assert unknown_model.status == 404
    assert unknown_model.body["error"]["type"] == "NotFoundError"
    assert "no deployed model 'no-such-id'" in unknown_model.body["error"]["message"]
    for method, path in [("GET", "/"), ("POST", "/v1/endpoints"), ("GET", "/v1/models/x:predict")]:
        reply = call(method, server.url + path, b"{}" if method == "POST" else None)
        assert reply.status == 404, (method, path, reply.text)
        assert reply.body["error"]["code"] == 404
        assert reply.body["error"]["type"] == "HTTPError"
    wrong_method = call("GET", predict_url(server.url, ENDPOINT))
    assert wrong_method.status == 405
    assert wrong_method.body["error"]["type"] == "HTTPError"
    assert wrong_method.headers["Allow"] == "POST"
    assert call("DELETE", f"{server.url}/health").status == 405
    assert call("POST", f"{server.url}/health", b"{}").status == 405


def test_body_over_the_limit_gets_413_and_the_connection_stays_usable(
    served: tuple[ModelRegistry, ServerProcess],
) -> None:
    _, server = served
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        path = f"/v1/endpoints/{ENDPOINT}:predict"
        connection.request("POST", path, body=b" " * (MAX_BODY_BYTES + 1))
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 413
        assert body["error"]["code"] == 413
        assert body["error"]["type"] == "ContentTooLarge"
        assert str(MAX_BODY_BYTES) in body["error"]["message"]
        # the refused body was drained: the next request on the same connection is answered normally
        connection.request("POST", path, body=json.dumps({"instances": [INSTANCE]}))
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["predictions"]
    finally:
        connection.close()
    # urllib says "Connection: close" and sends the whole body before reading: it gets the 413, not a reset
    closing = call("POST", f"{server.url}{path}", b" " * (MAX_BODY_BYTES + 1))
    assert closing.status == 413
    assert closing.body["error"]["type"] == "ContentTooLarge"


def test_a_client_waiting_for_100_continue_is_refused_before_it_sends(
    served: tuple[ModelRegistry, ServerProcess],
) -> None:
    _, server = served
    head = (
        f"POST /v1/endpoints/{ENDPOINT}:predict HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    )

    status, reply, connection = send_raw(server.url, head.encode())

    assert status == 413, reply
    assert connection == "close"


def test_health_and_openapi(served: tuple[ModelRegistry, ServerProcess]) -> None:
    registry, server = served
    health = call("GET", f"{server.url}/health")
    assert health.status == 200
    assert health.body["status"] == "ok"
    assert health.body["endpoint"] == ENDPOINT
    assert health.body["traffic"] == registry.get_endpoint(ENDPOINT).traffic
    for model in health.body["deployedModels"]:
        assert set(model) == {"id", "model", "version", "traffic", "loaded", "error"}
        assert model["model"] == MODEL
        assert model["loaded"] is True
        assert model["error"] is None

    reply = call("GET", f"{server.url}/openapi.json")
    assert reply.status == 200
    document = json.loads(reply.text)
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/v1/endpoints/{endpoint}:predict",
        "/v1/endpoints/{endpoint}/deployedModels/{deployedModelId}:predict",
        "/v1/endpoints/{endpoint}:feedback",
        "/health",
        "/openapi.json",
        "/ping",
        "/invocations",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        *(f"{model}{route}" for model in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}")
          for route in ("", "/ready", "/infer")),
    }  # fmt: skip
    predict = document["paths"]["/v1/endpoints/{endpoint}:predict"]["post"]
    assert {"200", "400", "404", "413", "500", "503"} <= set(predict["responses"])
    schemas = document["components"]["schemas"]
    assert schemas["Error"]["properties"]["error"]["required"] == ["code", "type", "message"]
    assert schemas["PredictRequest"]["required"] == ["instances"]
    assert set(schemas["PredictResponse"]["required"]) == {
        "predictions", "deployedModelId", "modelVersion", "model", "predictionIds"
    }  # fmt: skip
    instance = schemas["Instance"]  # taken from the loaded model's signature
    assert set(instance["required"]) == set(INSTANCE)
    assert instance["properties"]["face_shape"]["type"] == "string"
    assert instance["properties"]["wears_daily"]["type"] == "integer"
    assert instance["properties"]["budget_usd"]["type"] == "number"
    assert document["servers"] == [{"url": server.url}]
    for ref in _refs(document):  # every $ref resolves
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_tampered_artifact_is_refused_broken_model_is_500_and_nothing_left_is_503(
    registry: ModelRegistry, exports: Exports, start_server: Callable[[ModelRegistry, str], ServerProcess]
) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    tampered, _, _ = registry.deploy_model(MODEL, "v2", endpoint_name=ENDPOINT, traffic_percent=50)
    folder = registry.artifact_path(MODEL, "v2")
    with (folder / "saved_model.pb").open("ab") as file:  # changed after deployment, before the server loads it
        file.write(b"\0")

    server = start_server(registry, ENDPOINT)
    health = call("GET", f"{server.url}/health")
    assert health.status == 200
    assert health.body["status"] == "ok"
    by_version = {d["version"]: d for d in health.body["deployedModels"]}
    assert by_version["v1"]["loaded"] is True
    assert by_version["v1"]["error"] is None
    assert by_version["v2"]["loaded"] is False
    assert "do not match their manifest: modified saved_model.pb" in by_version["v2"]["error"]
    assert by_version["v2"]["traffic"] == 50

    url = predict_url(server.url, ENDPOINT)
    seen = Counter(call("POST", url, {"instances": [INSTANCE]}).body["modelVersion"] for _ in range(40))
    assert seen == Counter({"v1": 40})  # the refused model gets none of its 50%
    refused = call("POST", predict_url(server.url, ENDPOINT, tampered.id), {"instances": [INSTANCE]})
    assert refused.status == 503
    assert refused.body["error"]["type"] == "NotServingError"
    assert "modified saved_model.pb" in refused.body["error"]["message"]

    # a model that loads but fails on valid input: 500 with the model's message, no traceback
    registry.register_model("broken", exports.broken, registered_by=REGISTRANT)
    broken, _, _ = registry.deploy_model("broken", endpoint_name=ENDPOINT, traffic_percent=10)
    wait_until_following(server.url, registry, ENDPOINT)
    failed = call("POST", predict_url(server.url, ENDPOINT, broken.id), {"instances": [INSTANCE]})
    assert failed.status == 500
    assert failed.body["error"]["type"] == "PredictionError"
    assert "the model failed" in failed.body["error"]["message"]
    assert "registry-core-test-file" in failed.body["error"]["message"]
    assert "Traceback" not in failed.text

    # everything undeployed: nothing can serve
    for deployment in registry.get_endpoint(ENDPOINT).active():
        registry.undeploy_model(ENDPOINT, deployment.id, reason="closing the shop")
    health = wait_until_following(server.url, registry, ENDPOINT)
    assert health.status == 503
    assert health.body["status"] == "unavailable"
    assert health.body["deployedModels"] == []
    unavailable = call("POST", url, {"instances": [INSTANCE]})
    assert unavailable.status == 503
    assert unavailable.body["error"]["type"] == "NotServingError"
    assert "nothing to serve" in unavailable.body["error"]["message"]

    # and it comes back when something is deployed again
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    assert wait_until_following(server.url, registry, ENDPOINT).status == 200
    assert call("POST", url, {"instances": [INSTANCE]}).body["modelVersion"] == "v1"


# ------------------------------------------------------------------------------------------------ chunked bodies


def send_raw(url: str, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, object], str | None]:
    """Send `data` as is over a new socket, read one response; return its status, JSON body and Connection header."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read()), response.getheader("Connection")


def chunked_head(path: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()


def test_a_chunked_body_with_extensions_and_trailers_is_read(served: tuple[ModelRegistry, ServerProcess]) -> None:
    _, server = served
    body = json.dumps({"instances": [INSTANCE]}).encode()
    middle = len(body) // 2
    chunks = (
        f"{middle:x};note=first\r\n".encode() + body[:middle] + b"\r\n"
        + f"{len(body) - middle:X}\r\n".encode() + body[middle:] + b"\r\n"
        + b"0\r\nX-Checksum: none\r\n\r\n"
    )  # fmt: skip

    status, reply, _ = send_raw(server.url, chunked_head(f"/v1/endpoints/{ENDPOINT}:predict") + chunks)

    assert status == 200, reply
    assert reply["modelVersion"]


def test_a_chunked_body_beyond_the_limit_is_cut_off_with_a_413(served: tuple[ModelRegistry, ServerProcess]) -> None:
    # the client streams four times the limit; the server answers once the limit is passed, and closes
    _, server = served
    parts = urlsplit(server.url)
    piece = f"{64 * 1024:x}\r\n".encode() + b" " * 64 * 1024 + b"\r\n"
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(chunked_head(f"/v1/endpoints/{ENDPOINT}:predict"))
        while sent < 4 * MAX_BODY_BYTES and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 64 * 1024
        response = http.client.HTTPResponse(sock)
        response.begin()
        reply = json.loads(response.read())

    assert response.status == 413, reply
    assert reply["error"]["type"] == "ContentTooLarge"
    assert str(MAX_BODY_BYTES) in reply["error"]["message"]
    assert response.getheader("Connection") == "close"
    assert sent < 3 * MAX_BODY_BYTES  # answered long before the client was done (socket buffers aside)


def test_a_declared_length_far_over_the_limit_is_refused_at_once_and_closed(
    served: tuple[ModelRegistry, ServerProcess],
) -> None:
    # nothing of the body is sent: the answer comes from the head alone
    _, server = served
    head = f"POST /v1/endpoints/{ENDPOINT}:predict HTTP/1.1\r\nHost: test\r\nContent-Length: {10**12}\r\n\r\n"

    status, reply, connection = send_raw(server.url, head.encode())

    assert status == 413, reply
    assert str(10**12) in str(reply["error"])
    assert connection == "close"


def test_transfer_encoding_with_content_length_is_a_400(served: tuple[ModelRegistry, ServerProcess]) -> None:
    _, server = served
    head = chunked_head(f"/v1/endpoints/{ENDPOINT}:predict").replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n")

    status, reply, connection = send_raw(server.url, head)

    assert status == 400, reply
    assert "both Transfer-Encoding and Content-Length" in str(reply["error"])
    assert connection == "close"
