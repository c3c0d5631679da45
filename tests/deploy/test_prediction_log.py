"""Prediction ids, sampled logging and feedback through `model-registry serve` and `serve-container` subprocesses.

Logs are read back with the reader the monitor uses (`PredictionLogReader`); a SIGTERM'd server writes what it still
had queued, so stopping the server is how each test waits for its logs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from deploy_support import INSTANCE, MODEL, Exports, ServerProcess, call, make_registry, predict_url
from test_serve_container import Container, free_port

from registry_core import ModelRegistry
from registry_core.errors import EndpointNotFoundError, InvalidInputError
from registry_core.monitoring.log_reader import PredictionLogReader
from registry_core.storage import open_storage

ENDPOINT = "shop"
OTHER = INSTANCE | {"face_shape": "oval", "budget_usd": 90.0}
StartServer = Callable[..., ServerProcess]


def since() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=5)


def deployed(registry: ModelRegistry) -> str:
    deployment, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    return deployment.id


def test_every_instance_gets_an_id_and_is_logged_with_what_served_it(
    registry: ModelRegistry, start_server: StartServer
) -> None:
    deployed_id = deployed(registry)
    server = start_server(registry, ENDPOINT)

    vertex = call("POST", predict_url(server.url, ENDPOINT), {"instances": [INSTANCE, OTHER]})
    sagemaker = call("POST", f"{server.url}/invocations", {"instances": [INSTANCE]})
    tensors = [{"name": k, "shape": [1], "datatype": "FP32", "data": [v]} for k, v in INSTANCE.items()]
    for tensor, value in zip(tensors, INSTANCE.values(), strict=True):
        tensor["datatype"] = "BYTES" if isinstance(value, str) else "INT64" if isinstance(value, int) else "FP32"
    v2 = call("POST", f"{server.url}/v2/models/{MODEL}/infer", {"inputs": tensors})
    assert [vertex.status, sagemaker.status, v2.status] == [200, 200, 200], (vertex.text, sagemaker.text, v2.text)
    ids = vertex.body["predictionIds"] + sagemaker.body["predictionIds"] + v2.body["parameters"]["predictionIds"]
    assert len(vertex.body["predictionIds"]) == 2
    assert len(ids) == len(set(ids)) == 4

    health = call("GET", f"{server.url}/health").body["predictionLog"]
    assert health["enabled"] is True
    assert health["logged"] == 4
    assert health["sampleRate"] == 1.0
    assert server.stop() == 0, server.log_text()  # SIGTERM: what waits is written before the process ends

    records = {r.prediction_id: r for r in PredictionLogReader(registry.storage, ENDPOINT).predictions(since())}
    assert set(records) == set(ids)
    first = records[ids[0]]
    assert (first.endpoint, first.model, first.version, first.deployed_model_id) == (ENDPOINT, MODEL, "v1", deployed_id)
    assert first.features == INSTANCE
    assert records[ids[1]].features == OTHER
    assert first.prediction == vertex.body["predictions"][0]
    assert first.predicted_class == vertex.body["predictions"][0]["frame_style"]
    assert first.latency_ms > 0
    assert abs(first.time - datetime.now(UTC)) < timedelta(minutes=1)
    assert records[ids[3]].features == INSTANCE  # v2 tensors logged as the instance they make
    hour = first.time.strftime("%Y-%m-%d/%H")
    assert all(k.startswith(f"monitoring/{ENDPOINT}/predictions/{hour}/") for k in registry.storage.list("monitoring/"))


def test_feedback_round_trip_bad_feedback_gets_one_line_400_and_over_the_hourly_cap_429(
    registry: ModelRegistry, start_server: StartServer
) -> None:
    deployed(registry)
    server = start_server(registry, ENDPOINT, ["--feedback-max-per-hour", "4"])
    ids = call("POST", predict_url(server.url, ENDPOINT), {"instances": [INSTANCE, OTHER]}).body["predictionIds"]
    feedback = f"{server.url}/v1/endpoints/{ENDPOINT}:feedback"
    items = [{"prediction_id": ids[0], "label": "aviator"}, {"prediction_id": "never-logged", "label": 3}]
    reply = call("POST", feedback, {"feedback": items})
    assert (reply.status, reply.body) == (200, {"accepted": 2})
    assert call("POST", feedback, {"feedback": [{"prediction_id": ids[0], "label": "round"}]}).body == {"accepted": 1}

    for body, message in (
        ({"feedback": []}, "'feedback' must be a non-empty list"),
        ({"labels": []}, 'the request body must be {"feedback"'),
        ({"feedback": [{"prediction_id": ids[1]}]}, "feedback 0: missing ['label']"),
        ({"feedback": [{"prediction_id": ids[1], "label": True}]}, "feedback 0: 'label' must be a class name or"),
        ({"feedback": [{"prediction_id": 7, "label": "round"}]}, "feedback 0: 'prediction_id' must be a string"),
        ({"feedback": [{"prediction_id": "x", "label": "y"}] * 1001}, "'feedback' has 1001 items; send at most 1000"),
    ):
        reply = call("POST", feedback, body)
        assert reply.status == 400, reply.text
        assert reply.body["error"]["message"].startswith(message), reply.text
        assert "\n" not in reply.text
    assert call("POST", f"{server.url}/v1/endpoints/other:feedback", {"feedback": items}).status == 404
    over = call("POST", feedback, {"feedback": items})  # 3 kept this hour, and 2 more would make 5
    assert over.status == 429, over.text
    assert over.body["error"]["type"] == "OverLimitError"
    assert over.body["error"]["message"].startswith("this server keeps at most 4 feedback items an hour and takes 1")
    assert call("GET", f"{server.url}/health").body["predictionLog"]["feedbackOverHourlyCap"] == 2
    assert "/v1/endpoints/{endpoint}:feedback" in call("GET", f"{server.url}/openapi.json").body["paths"]
    assert server.stop() == 0, server.log_text()

    reader = PredictionLogReader(registry.storage, ENDPOINT)
    assert reader.gaps(since())["feedbackOverHourlyCap"] == 2  # the monitor sees that feedback was refused
    assert {(f.prediction_id, f.label) for f in reader.feedback(since())} == {
        (ids[0], "aviator"), ("never-logged", 3), (ids[0], "round")
    }  # fmt: skip
    joined = {j.prediction.prediction_id: j.label for j in reader.labeled(since())}
    assert joined == {ids[0]: "round", ids[1]: None}  # the latest label wins; unknown ids join nothing


def test_sample_rate_zero_logs_nothing_but_still_returns_ids(
    registry: ModelRegistry, start_server: StartServer
) -> None:
    deployed(registry)
    server = start_server(registry, ENDPOINT, ["--log-sample-rate", "0"])
    replies = [call("POST", predict_url(server.url, ENDPOINT), {"instances": [INSTANCE, OTHER]}) for _ in range(3)]
    assert all(r.status == 200 and len(r.body["predictionIds"]) == 2 for r in replies)
    health = call("GET", f"{server.url}/health").body["predictionLog"]
    assert (health["sampleRate"], health["sampledOut"], health["logged"]) == (0.0, 6, 0)
    assert server.stop() == 0, server.log_text()
    assert registry.storage.list(f"monitoring/{ENDPOINT}/predictions/") == []


def test_failing_storage_never_fails_a_prediction_and_is_counted(
    registry: ModelRegistry, start_server: StartServer
) -> None:
    deployed(registry)
    root = Path(registry.storage.local_root() or "")
    (root / "monitoring").write_text("a file where the log folder should be: every log write fails\n")
    server = start_server(registry, ENDPOINT, ["--log-flush-seconds", "0.2"])
    url = predict_url(server.url, ENDPOINT)
    for _ in range(5):
        reply = call("POST", url, {"instances": [INSTANCE]})
        assert reply.status == 200, reply.text
        assert len(reply.body["predictionIds"]) == 1
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while (health := call("GET", f"{server.url}/health").body["predictionLog"])["failed"] < 5:
        assert datetime.now(UTC) < deadline, health
    assert health["written"] == 0
    assert health["lastError"].startswith("cannot write prediction log")
    assert health["lastError"].endswith(": StorageError (see the server log)")  # no path, bucket or account
    assert str(root) not in health["lastError"]
    assert call("GET", f"{server.url}/health").status == 200  # serving is fine
    feedback = {"feedback": [{"prediction_id": "a", "label": 1}]}
    reply = call("POST", f"{server.url}/v1/endpoints/{ENDPOINT}:feedback", feedback)
    assert reply.status == 503, reply.text
    assert reply.body["error"]["type"] == "StorageError"
    assert server.stop() == 0
    assert f"cannot write prediction logs of endpoint 'shop': cannot write {root}" in server.log_text()


def test_logs_on_a_gcs_registry(gcs_bucket: str, exports: Exports, start_server: StartServer) -> None:
    registry = make_registry(f"gs://{gcs_bucket}/registry", exports)
    deployed(registry)
    server = start_server(registry, ENDPOINT)  # inherits STORAGE_EMULATOR_HOST
    ids = call("POST", predict_url(server.url, ENDPOINT), {"instances": [INSTANCE, OTHER]}).body["predictionIds"]
    feedback = {"feedback": [{"prediction_id": ids[1], "label": "round"}]}
    assert call("POST", f"{server.url}/v1/endpoints/{ENDPOINT}:feedback", feedback).body == {"accepted": 1}
    assert server.stop() == 0, server.log_text()
    labeled = PredictionLogReader(open_storage(registry.storage.uri), ENDPOINT).labeled(since())
    assert [(j.prediction.prediction_id, j.prediction.version, j.label) for j in labeled] == [
        (ids[0], "v1", None), (ids[1], "v1", "round")
    ]  # fmt: skip


def test_serve_container_logs_under_registry_root_and_says_so_without_one(
    registry: ModelRegistry, exports: Exports, tmp_path: Path
) -> None:
    logs = tmp_path / "logs-root"
    env = {"REGISTRY_ROOT": str(logs), "REGISTRY_ENDPOINT": "shop-eu"}
    with_root = Container(["--model-dir", str(exports.v1), "--port", str(free_port())], env, tmp_path / "c1.log")
    try:
        reply = call("POST", f"{with_root.url}/invocations", {"instances": [INSTANCE]})
        assert reply.status == 200, reply.text
        assert len(reply.body["predictionIds"]) == 1
        kserve = call("POST", f"{with_root.url}/v1/models/model:predict", {"instances": [OTHER]})
        feedback = {"feedback": [{"prediction_id": reply.body["predictionIds"][0], "label": "aviator"}]}
        answered = call("POST", f"{with_root.url}/v1/endpoints/shop-eu:feedback", feedback)
        assert answered.body == {"accepted": 1}, answered.text
    finally:
        assert with_root.stop() == 0, with_root.log.read_text()
    reader = PredictionLogReader(open_storage(str(logs)), "shop-eu")
    labeled = reader.labeled(since())
    assert [j.prediction.prediction_id for j in labeled] == reply.body["predictionIds"] + kserve.body["predictionIds"]
    assert [j.label for j in labeled] == ["aviator", None]
    assert labeled[0].prediction.features == INSTANCE
    assert labeled[0].prediction.model == "model"

    without = Container(["--model-dir", str(exports.v1), "--port", str(free_port())], {}, tmp_path / "c2.log")
    try:
        assert call("GET", f"{without.url}/health").body["predictionLog"] == {
            "enabled": False, "reason": "no registry root to write to (set REGISTRY_ROOT)"
        }  # fmt: skip
        assert len(call("POST", f"{without.url}/invocations", {"instances": [INSTANCE]}).body["predictionIds"]) == 1
        reply = call("POST", f"{without.url}/v1/endpoints/container:feedback", feedback)
        assert reply.status == 503, reply.text
        assert "feedback is not kept" in reply.body["error"]["message"]
    finally:
        assert without.stop() == 0


def test_the_library_returns_ids_logs_in_process_predictions_and_sends_feedback(registry: ModelRegistry) -> None:
    deployed(registry)
    prediction = registry.predict(ENDPOINT, [INSTANCE, OTHER])
    assert len(prediction.prediction_ids) == len(set(prediction.prediction_ids)) == 2
    first, second = prediction.prediction_ids
    assert registry.send_feedback(ENDPOINT, {first: "aviator", "elsewhere": 2}) == 2
    assert registry.send_feedback(ENDPOINT, [(second, "round")]) == 1
    assert registry.flush_prediction_logs(10)

    labeled = PredictionLogReader(registry.storage, ENDPOINT).labeled(since())
    assert [(j.prediction.prediction_id, j.prediction.model, j.label) for j in labeled] == [
        (first, MODEL, "aviator"), (second, MODEL, "round")
    ]  # fmt: skip
    with pytest.raises(EndpointNotFoundError):
        registry.send_feedback("nowhere", {first: "aviator"})
    with pytest.raises(InvalidInputError, match="feedback 0: 'label' must be a class name or a finite number"):
        registry.send_feedback(ENDPOINT, {first: None})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError, match=r"\(prediction id, label\) pairs"):
        registry.send_feedback(ENDPOINT, [first])  # type: ignore[list-item]
