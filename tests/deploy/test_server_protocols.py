"""The server process speaks KServe's Open Inference Protocol v2 (to Triton's own HTTP client) and SageMaker's contract.

`model-registry serve` runs as a subprocess; the v2 side is driven by ``tritonclient.http``, a third-party client
that checks the protocol's shapes for itself, and the raw answers are checked where the client hides them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import tritonclient.http as triton
from deploy_support import (
    INSTANCE,
    MODEL,
    Exports,
    ServerProcess,
    call,
    make_registry,
    predict_url,
    wait_until_following,
)
from tritonclient.utils import InferenceServerException

from eyewear_model import FRAME_STYLES
from registry_core import ModelRegistry

ENDPOINT = "shop"
OTHER = {"face_width_mm": 150.0, "face_shape": "oval", "wears_daily": 0}
NUMPY = {"FP32": np.float32, "INT64": np.int64, "BYTES": np.object_}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, exports: Exports) -> Iterator[tuple[ModelRegistry, ServerProcess]]:
    """v1 of the eyewear model on 90% of ENDPOINT and v2 on 10%, served by one process for the module."""
    root = tmp_path_factory.mktemp("protocols")
    registry = make_registry(str(root / "registry"), exports)
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    registry.deploy_model(MODEL, "v2", endpoint_name=ENDPOINT, traffic_percent=10)
    server = ServerProcess(registry.storage.uri, ENDPOINT, root / "server.log")
    wait_until_following(server.url, registry, ENDPOINT)
    yield registry, server
    assert server.stop() == 0, server.log_text()


@pytest.fixture
def client(served: tuple[ModelRegistry, ServerProcess]) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url=urlsplit(served[1].url).netloc)
    yield client
    client.close()


def v2_inputs(metadata: dict[str, Any], instances: list[dict[str, Any]]) -> list[triton.InferInput]:
    """One tensor per input the server's metadata names, its rows taken from `instances`, sent as JSON."""
    tensors = []
    for spec in metadata["inputs"]:
        values = np.array([instance[spec["name"]] for instance in instances], dtype=NUMPY[spec["datatype"]])
        tensor = triton.InferInput(spec["name"], list(values.shape), spec["datatype"])
        tensor.set_data_from_numpy(values, binary_data=False)
        tensors.append(tensor)
    return tensors


def test_a_v2_client_reads_metadata_and_infers_on_each_version(
    served: tuple[ModelRegistry, ServerProcess], client: triton.InferenceServerClient
) -> None:
    registry, server = served
    instances = [INSTANCE, INSTANCE | OTHER]

    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "registry-core"
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, "v2")
    metadata = client.get_model_metadata(MODEL)
    assert metadata["name"] == MODEL
    assert metadata["versions"] == ["v1", "v2"]
    assert metadata["platform"] == "tensorflow_savedmodel"
    inputs = {spec["name"]: (spec["datatype"], spec["shape"]) for spec in metadata["inputs"]}
    assert inputs["face_width_mm"] == ("FP32", [-1])
    assert inputs["face_shape"] == ("BYTES", [-1])
    assert inputs["wears_daily"] == ("INT64", [-1])
    assert set(inputs) == set(INSTANCE)
    outputs = {spec["name"]: (spec["datatype"], spec["shape"]) for spec in metadata["outputs"]}
    assert outputs["probabilities"] == ("FP32", [-1, len(FRAME_STYLES)])
    assert outputs["frame_style"] == ("BYTES", [-1])
    assert client.get_model_metadata(MODEL, "v2")["versions"] == ["v2"]

    deployments = {d.version: d.id for d in registry.get_endpoint(ENDPOINT).active()}
    for version in ("v1", "v2"):
        result = client.infer(
            MODEL,
            v2_inputs(metadata, instances),
            model_version=version,
            request_id=f"check-{version}",
            outputs=[triton.InferRequestedOutput(name, binary_data=False) for name in ("probabilities", "frame_style")],
        )
        response = result.get_response()
        assert (response["model_name"], response["model_version"], response["id"]) == (
            MODEL,
            version,
            f"check-{version}",
        )
        probabilities = result.as_numpy("probabilities")
        assert probabilities.shape == (2, len(FRAME_STYLES))
        styles = [s.decode() if isinstance(s, bytes) else s for s in result.as_numpy("frame_style")]
        # the same deployment answers the Vertex-style route with the same numbers
        vertex = call("POST", predict_url(server.url, ENDPOINT, deployments[version]), {"instances": instances}).body
        assert styles == [p["frame_style"] for p in vertex["predictions"]]
        expected = np.array([p["probabilities"] for p in vertex["predictions"]], dtype=np.float32)
        np.testing.assert_allclose(probabilities, expected, rtol=1e-6)

    # without a version, the model's deployments share the requests by the endpoint's split (90/10)
    seen = [client.infer(MODEL, v2_inputs(metadata, [INSTANCE])).get_response()["model_version"] for _ in range(100)]
    assert set(seen) == {"v1", "v2"}
    assert 60 <= seen.count("v1") <= 99


def fp64(name: str, value: float) -> triton.InferInput:
    tensor = triton.InferInput(name, [1], "FP64")
    tensor.set_data_from_numpy(np.array([value]), binary_data=False)
    return tensor


@pytest.mark.parametrize(
    ("call_client", "status", "message"),
    [
        (lambda c: c.get_model_metadata("nobody"), "404", "'nobody' is not served here; this server serves ['ey"),
        (lambda c: c.get_model_metadata(MODEL, "v9"), "404", "version 'v9' of model 'eyewear' is not served here"),
        (lambda c: c.infer(MODEL, [], model_version="v9"), "404", "version 'v9' of model 'eyewear' is not served"),
        (lambda c: c.infer("nobody", []), "404", "model 'nobody' is not served here"),
        (lambda c: c.infer(MODEL, []), "400", "'inputs' must be a non-empty list"),
        (lambda c: c.infer(MODEL, [fp64("face_width_mm", 141.5)]), "400",
         "input 'face_width_mm' has datatype 'FP64'; the model takes FP32"),
    ],
)  # fmt: skip
def test_v2_errors_reach_the_client_in_the_v2_format(
    client: triton.InferenceServerClient,
    call_client: Callable[[triton.InferenceServerClient], object],
    status: str,
    message: str,
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        call_client(client)
    assert caught.value.status() == status
    assert message in caught.value.message()  # the client reads v2's {"error": "..."}; another shape garbles it
    assert not client.is_model_ready(MODEL, "v9")


def test_v2_raw_answers(served: tuple[ModelRegistry, ServerProcess]) -> None:
    _, server = served
    base = f"{server.url}/v2/models/{MODEL}"
    tensors = [
        {
            "name": name,
            "shape": [1],
            "datatype": {float: "FP32", int: "INT64", str: "BYTES"}[type(value)],
            "data": [value],
        }
        for name, value in INSTANCE.items()
    ]

    answer = call("POST", f"{base}/versions/v1/infer", {"inputs": tensors, "outputs": [{"name": "frame_style"}]})
    assert answer.status == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    [output] = answer.body["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("frame_style", "BYTES", [1])
    assert output["data"][0] in FRAME_STYLES

    for reply, status in [
        (call("POST", f"{base}/infer", b"{not json"), 400),
        (call("POST", f"{base}/infer", {"instances": [INSTANCE]}), 400),
        (call("GET", f"{base}/infer"), 405),
        (call("GET", f"{server.url}/v2/nowhere"), 404),
        (call("POST", f"{base}/infer", b" " * (10 * 1024 * 1024 + 1)), 413),
    ]:
        assert reply.status == status, reply.text
        assert set(reply.body) == {"error"}
        assert isinstance(reply.body["error"], str)
    binary = triton.InferenceServerClient(url=urlsplit(server.url).netloc)
    try:
        tensor = triton.InferInput("face_width_mm", [1], "FP32")
        tensor.set_data_from_numpy(np.array([141.5], dtype=np.float32), binary_data=True)
        with pytest.raises(InferenceServerException, match="binary tensor data"):
            binary.infer(MODEL, [tensor])
    finally:
        binary.close()


def test_sagemaker_ping_and_invocations(served: tuple[ModelRegistry, ServerProcess]) -> None:
    _, server = served
    ping = call("GET", f"{server.url}/ping")
    assert ping.status == 200
    assert ping.body["status"] == "ok"

    reply = call("POST", f"{server.url}/invocations", {"instances": [INSTANCE, INSTANCE | OTHER]})
    assert reply.status == 200, reply.text
    assert list(reply.body) == ["predictions", "predictionIds"]
    assert len(reply.body["predictions"]) == len(reply.body["predictionIds"]) == 2
    assert reply.body["predictions"][0]["frame_style"] in FRAME_STYLES

    bad = call("POST", f"{server.url}/invocations", {"instances": [{"face_width_mm": 1.0}]})
    assert bad.status == 400
    assert bad.body["error"]["type"] == "InvalidInputError"
    assert "missing" in bad.body["error"]["message"]
    assert call("GET", f"{server.url}/invocations").status == 405


def test_readiness_follows_the_record(
    registry: ModelRegistry, start_server: Callable[[ModelRegistry, str], ServerProcess]
) -> None:
    deployment, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    server = start_server(registry, ENDPOINT)
    assert call("GET", f"{server.url}/v2/health/ready").status == 200
    assert call("GET", f"{server.url}/v2/models/{MODEL}/ready").body == {"name": MODEL, "ready": True}

    registry.undeploy_model(ENDPOINT, deployment.id, reason="closing the shop")
    wait_until_following(server.url, registry, ENDPOINT)
    assert call("GET", f"{server.url}/ping").status == 503
    assert call("GET", f"{server.url}/v2/health/ready").status == 503
    assert call("GET", f"{server.url}/v2/health/live").status == 200
    gone = call("GET", f"{server.url}/v2/models/{MODEL}/ready")
    assert gone.status == 404
    assert "not served here" in gone.body["error"]
    invocations = call("POST", f"{server.url}/invocations", {"instances": [INSTANCE]})
    assert invocations.status == 503
    assert invocations.body["error"]["type"] == "NotServingError"
    assert json.loads(call("GET", f"{server.url}/v2").text)["extensions"] == []
