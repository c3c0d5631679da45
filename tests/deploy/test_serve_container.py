"""`model-registry serve-container` as each platform starts it: a subprocess with Vertex AI's, KServe's or SageMaker's
environment (or the registry's flags), probed and asked for predictions the way that platform does.

Every answer is compared with the local endpoint's for the same version (`ModelRegistry.predict`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import tritonclient.http as triton
from deploy_support import (
    INSTANCE,
    MODEL,
    REPO,
    SERVER_START_TIMEOUT,
    Exports,
    call,
    make_registry,
    promote_to_production,
    stop_process,
)

from registry_core import ModelRegistry, layout
from registry_core.deploy import EndpointRecord
from registry_core.errors import ArtifactIntegrityError, InvalidInputError
from registry_core.metadata import utc_now
from registry_core.monitoring.log_reader import PredictionLogReader
from registry_core.storage import open_storage
from registry_core.store import DocumentStore

OTHER = {"face_shape": "oval", "preferred_style": "classic", "budget_usd": 90.0}
INSTANCES = [INSTANCE, INSTANCE | OTHER]
NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "BYTES": np.object_}
_URL = re.compile(r" on (http://\S+): ")


def free_port() -> int:
    """A port free a moment ago on 127.0.0.1 (platforms choose the port; the container must take that one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_container(args: list[str], env: dict[str, str], log: Path, *, wait: bool = True) -> subprocess.Popen[bytes]:
    """Start `python -m registry_core serve-container ARGS` with only `env` of the platform's variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "SM_", "SAGEMAKER_"))}
    clean = {k: v for k, v in clean.items() if k not in {"STORAGE_URI", "PORT", "MODEL_REGISTRY_ROOT"}}
    full = clean | env | {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
        [sys.executable, "-m", "registry_core", "serve-container", *args],
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        cwd=REPO,
        env=full,
    )


class Container:
    """A running serve-container process: its announcement, URL and log."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = run_container([*args, "--host", "127.0.0.1"], env, log)
        stdout = self.process.stdout
        assert stdout is not None
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(SERVER_START_TIMEOUT)
        self.announcement = lines[0].decode().strip() if lines else ""
        match = _URL.search(self.announcement)
        if match is None:
            self.stop()
            raise AssertionError(f"no announcement ({self.announcement!r}): {log.read_text(errors='replace')}")
        self.url = match.group(1)

    def stop(self) -> int:
        """SIGTERM the container and return its exit code."""
        return stop_process(self.process)


@pytest.fixture
def containers(tmp_path: Path) -> Iterator[list[Container]]:
    """Containers started by a test; each is stopped afterwards and must have exited cleanly."""
    started: list[Container] = []
    yield started
    for container in started:
        assert container.stop() == 0, container.log.read_text(errors="replace")


def expected(registry: ModelRegistry, version: str) -> list[dict[str, Any]]:
    """The local endpoint's predictions of INSTANCES by `version`."""
    endpoint = f"reference-{version}"
    registry.deploy_model(MODEL, version, endpoint_name=endpoint)
    return registry.predict(endpoint, INSTANCES).predictions


def same(answer: list[dict[str, Any]], reference: list[dict[str, Any]]) -> None:
    assert [p["frame_style"] for p in answer] == [p["frame_style"] for p in reference]
    np.testing.assert_allclose([p["probabilities"] for p in answer], [p["probabilities"] for p in reference], rtol=1e-6)


def test_a_vertex_container_runs_the_spec_the_vertex_target_uploads(
    registry: ModelRegistry, exports: Exports, gcs_bucket: str, containers: list[Container], tmp_path: Path
) -> None:
    from support.vertex_standin import VertexStandIn, isolated_aiplatform_config

    # deploy v1 of a gs:// registry with the serving image: the stand-in keeps the container spec Vertex would run
    root = f"gs://{gcs_bucket}/registry"
    remote = make_registry(root, exports)
    image = "us-central1-docker.pkg.dev/test-project/ml/model-registry-serving:0.1.0"
    with isolated_aiplatform_config(), VertexStandIn() as standin:
        deployment, record = remote.deploy_model(
            MODEL, "v1", endpoint_name="shop", target="vertex", project="test-project", location="us-central1",
            api_endpoint=standin.url, serving_image=image,
        )[:2]  # fmt: skip
        ((_, versions),) = standin.models.items()
        spec = versions[0]["containerSpec"]
        assert spec["imageUri"] == image
        assert spec["command"][:2] == ["model-registry", "serve-container"]
        env = {e["name"]: e["value"] for e in spec["env"]}
        assert env["REGISTRY_ROOT"] == root  # and no endpoint: the uploaded version may serve on several
        assert "REGISTRY_ENDPOINT" not in env

        # Vertex copies the artifact folder to a bucket of its own and starts the container with AIP_* variables
        copy = f"gs://{gcs_bucket}/vertex-copy/model"
        open_storage(f"gs://{gcs_bucket}").upload_dir(remote.artifact_path(MODEL, "v1"), "vertex-copy/model")
        port = free_port()
        env |= {
            "AIP_HTTP_PORT": str(port),
            "AIP_PREDICT_ROUTE": spec["predictRoute"],
            "AIP_HEALTH_ROUTE": spec["healthRoute"],
            "AIP_STORAGE_URI": copy,
            "AIP_DEPLOYED_MODEL_ID": deployment.id,
            "AIP_ENDPOINT_ID": record.target_ref.rpartition("/")[2],
        }
        assert [p["containerPort"] for p in spec["ports"]] == [8080]  # the port Vertex would pass; a free one here
        container = Container(spec["command"][2:], env, tmp_path / "vertex.log")
        containers.append(container)
        assert container.url == f"http://127.0.0.1:{port}"
        assert f"serving {MODEL} v1 from {copy} as a Vertex AI container" in container.announcement

        assert call("GET", container.url + spec["healthRoute"]).status == 200
        route = container.url + spec["predictRoute"]
        reply = call("POST", route, {"instances": INSTANCES, "parameters": {}})
        assert reply.status == 200, reply.text
        assert reply.body.keys() == {"predictions", "deployedModelId", "predictionIds", "metadata"}
        assert reply.body["metadata"] == {"predictionIds": reply.body["predictionIds"]}  # what Vertex AI passes on
        assert reply.body["deployedModelId"] == deployment.id
        same(reply.body["predictions"], expected(registry, "v1"))

        # through Vertex AI (the stand-in passes the container's answer on as the service does) and the SDK
        standin.predictor = lambda deployed, instances, parameters: call("POST", route, {"instances": instances}).body
        through = remote.predict("shop", INSTANCES)
        assert len(through.prediction_ids) == 2
        assert not set(through.prediction_ids) & set(reply.body["predictionIds"])

    bad = call("POST", route, {"instances": [{"face_width_mm": 1.0}]})
    assert bad.status == 400
    assert bad.body["error"]["type"] == "InvalidInputError"
    document = call("GET", container.url + "/openapi.json").body
    assert {spec["predictRoute"], "/v1/models", "/v1/models/{model}", "/v1/models/{model}:predict"} <= set(
        document["paths"]
    )
    schemas = document["components"]["schemas"]
    text = json.dumps(document["paths"])
    assert all(ref in schemas for ref in re.findall(r'"#/components/schemas/([A-Za-z]+)"', text))

    # the container found its registry endpoint from AIP_ENDPOINT_ID: the predictions are logged under "shop"
    assert container.stop() == 0, container.log.read_text()
    logged = PredictionLogReader(open_storage(root), "shop").predictions(datetime.now(UTC) - timedelta(hours=1))
    assert sorted((r.prediction_id, r.model, r.version) for r in logged) == sorted(
        (i, MODEL, "v1") for i in reply.body["predictionIds"] + through.prediction_ids
    )


def test_a_vertex_container_keeps_its_logs_until_its_endpoint_is_recorded(
    exports: Exports, gcs_bucket: str, tmp_path: Path
) -> None:
    root = f"gs://{gcs_bucket}/registry"
    env = {
        "AIP_HTTP_PORT": str(free_port()), "AIP_STORAGE_URI": str(exports.v1), "AIP_ENDPOINT_ID": "7001",
        "REGISTRY_ROOT": root, "REGISTRY_MODEL_NAME": MODEL, "REGISTRY_MODEL_VERSION": "v1",
    }  # fmt: skip
    container = Container([], env, tmp_path / "vertex.log")
    try:
        ids = call("POST", container.url + "/predict", {"instances": INSTANCES}).body["predictionIds"]
        log = call("GET", container.url + "/health").body["predictionLog"]
        assert (log["endpoint"], log["logged"], log["written"]) == (None, 2, 0)  # no record names it yet
        feedback = {"feedback": [{"prediction_id": ids[0], "label": "round"}]}
        refused = call("POST", container.url + "/v1/endpoints/container:feedback", feedback)
        assert refused.status == 503
        assert "not recorded yet" in refused.body["error"]["message"]

        # the deploy finishes: its record names the Vertex endpoint (and the endpoint's sample rate: all)
        records = DocumentStore(open_storage(root), EndpointRecord, layout.ENDPOINTS)
        late = EndpointRecord(
            name="late", target="vertex", created_at=utc_now(), target_settings={"log_sample_rate": 1.0},
            target_ref="projects/test-project/locations/us-central1/endpoints/7001",
        )  # fmt: skip
        records.update("late", lambda _: late)
    finally:
        assert container.stop() == 0, container.log.read_text()  # found at the latest when it stops
    logged = PredictionLogReader(open_storage(root), "late").predictions(datetime.now(UTC) - timedelta(hours=1))
    assert [r.prediction_id for r in logged] == ids


def test_a_vertex_container_refuses_a_copy_that_is_not_the_version(
    registry: ModelRegistry, exports: Exports, gcs_bucket: str, tmp_path: Path
) -> None:
    open_storage(f"gs://{gcs_bucket}").upload_dir(exports.v2, "vertex-copy/model")  # v2's files, v1's digest
    digest = registry.get_model_metadata(MODEL, "v1").artifact_digest
    env = {"AIP_STORAGE_URI": f"gs://{gcs_bucket}/vertex-copy/model", "REGISTRY_ARTIFACT_DIGEST": digest}
    code, stderr = refused([], env, tmp_path / "refused.log")
    assert f"not the expected {digest}; refusing them" in one_error(stderr)
    assert code == ArtifactIntegrityError.exit_code


def test_a_sagemaker_container_serves_the_model_folder(
    registry: ModelRegistry, exports: Exports, containers: list[Container], tmp_path: Path
) -> None:
    model_dir = tmp_path / "opt-ml-model"
    shutil.copytree(exports.v2, model_dir / "1")  # TF Serving's <model>/<version>/ layout, as model.tar.gz often is
    env = {"SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(free_port())}
    container = Container([], env, tmp_path / "sagemaker.log")
    containers.append(container)
    assert "as a SageMaker container" in container.announcement

    ping = call("GET", container.url + "/ping")
    assert ping.status == 200
    reply = call("POST", container.url + "/invocations", {"instances": INSTANCES})
    assert reply.status == 200, reply.text
    same(reply.body["predictions"], expected(registry, "v2"))


def test_a_kserve_container_answers_v1_and_a_v2_client(
    registry: ModelRegistry, exports: Exports, containers: list[Container], tmp_path: Path
) -> None:
    port = free_port()
    env = {"STORAGE_URI": str(exports.v1)}
    container = Container(["--model_name", MODEL, "--http_port", str(port)], env, tmp_path / "kserve.log")
    containers.append(container)
    assert container.url == f"http://127.0.0.1:{port}"
    assert "as a KServe container" in container.announcement
    reference = expected(registry, "v1")

    assert call("GET", f"{container.url}/v1/models/{MODEL}").body == {"name": MODEL, "ready": True}
    assert call("GET", f"{container.url}/v1/models/other").status == 404
    reply = call("POST", f"{container.url}/v1/models/{MODEL}:predict", {"instances": INSTANCES})
    assert reply.status == 200, reply.text
    same(reply.body["predictions"], reference)

    client = triton.InferenceServerClient(url=urlsplit(container.url).netloc)
    try:
        assert client.is_server_ready()
        assert client.is_model_ready(MODEL)
        metadata = client.get_model_metadata(MODEL)
        tensors = []
        for spec in metadata["inputs"]:
            values = np.array([i[spec["name"]] for i in INSTANCES], dtype=NUMPY[spec["datatype"]])
            tensor = triton.InferInput(spec["name"], list(values.shape), spec["datatype"])
            tensor.set_data_from_numpy(values, binary_data=False)
            tensors.append(tensor)
        outputs = [triton.InferRequestedOutput("probabilities", binary_data=False)]
        result = client.infer(MODEL, tensors, outputs=outputs)
        expected_probabilities = np.array([p["probabilities"] for p in reference], dtype=np.float32)
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected_probabilities, rtol=1e-6)
    finally:
        client.close()


def test_a_registry_version_is_resolved_by_stage_and_verified(
    registry: ModelRegistry, containers: list[Container], tmp_path: Path
) -> None:
    promote_to_production(registry, "v2")
    args = ["--registry", registry.storage.uri, "--model", MODEL, "--stage", "production", "--port", "0"]
    container = Container(args, {}, tmp_path / "registry.log")
    containers.append(container)
    assert f"serving {MODEL} v2 from " in container.announcement
    assert "as a local container" in container.announcement
    reply = call("POST", f"{container.url}/v1/models/{MODEL}:predict", {"instances": INSTANCES})
    assert reply.status == 200, reply.text
    same(reply.body["predictions"], expected(registry, "v2"))
    health = call("GET", container.url + "/health").body
    assert [(d["model"], d["version"], d["loaded"]) for d in health["deployedModels"]] == [(MODEL, "v2", True)]


def refused(args: list[str], env: dict[str, str], log: Path) -> tuple[int, str]:
    """Run serve-container expecting a refusal; return its exit code and its stderr."""
    process = run_container(args, env, log)
    try:
        code = process.wait(SERVER_START_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
        assert process.stdout is not None
        assert process.stdout.read() == b""  # nothing announced
        process.stdout.close()
    return code, log.read_text(errors="replace")


def one_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "nothing to serve: pass --model-dir"),
        ([], {"AIP_HTTP_PORT": "8080", "AIP_PREDICT_ROUTE": "/predict"}, "AIP_STORAGE_URI is not set"),
        ([], {"AIP_HTTP_PORT": "eighty", "AIP_STORAGE_URI": "/x"}, "AIP_HTTP_PORT must be a port number"),
        ([], {"AIP_STORAGE_URI": "/x", "AIP_PREDICT_ROUTE": "predict"}, "the predict route must be a path"),
        (["--platform", "azure"], {}, "unknown platform 'azure'"),
        (["--model-dir", "/x", "--model", MODEL], {}, "give --model-dir or --model, not both"),
        (["--stage", "production"], {"SM_MODEL_DIR": "/x"}, "--version and --stage choose a version of --model"),
        (["--model-dir", "/x", "--digest", "md5:1"], {}, "the artifact digest must be 'sha256:'"),
    ],
)
def test_bad_or_missing_settings_are_one_line_errors(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    code, stderr = refused(args, env, tmp_path / "refused.log")
    assert message in one_error(stderr)
    assert code == InvalidInputError.exit_code


def test_missing_or_tampered_artifacts_are_refused_before_serving(
    registry: ModelRegistry, exports: Exports, tmp_path: Path
) -> None:
    code, stderr = refused(["--model-dir", str(tmp_path / "absent")], {}, tmp_path / "absent.log")
    assert "the model folder" in one_error(stderr)
    assert "does not exist" in stderr
    assert code == 3

    digest = registry.get_model_metadata(MODEL, "v1").artifact_digest
    tampered = tmp_path / "tampered"
    shutil.copytree(exports.v1, tampered)
    (tampered / "extra.txt").write_text("not part of the version")
    code, stderr = refused([], {"SM_MODEL_DIR": str(tampered), "REGISTRY_ARTIFACT_DIGEST": digest}, tmp_path / "t.log")
    assert f"not the expected {digest}" in one_error(stderr)
    assert code == ArtifactIntegrityError.exit_code

    artifacts = registry.artifact_path(MODEL, "v1")  # a local registry: the stored files themselves
    (artifacts / "saved_model.pb").write_bytes(b"tampered")
    args = ["--registry", registry.storage.uri, "--model", MODEL, "--version", "v1"]
    code, stderr = refused(args, {}, tmp_path / "registry.log")
    assert "do not match their manifest" in one_error(stderr)
    assert code == ArtifactIntegrityError.exit_code


def test_the_server_listens_and_answers_503_until_the_model_is_loaded(exports: Exports) -> None:
    from registry_core.deploy.container import CONTAINER_ENDPOINT, FixedRuntime
    from registry_core.deploy.http_app import ContainerRoutes
    from registry_core.deploy.predictor import SavedModelPredictor
    from registry_core.deploy.records import DeployedModel
    from registry_core.deploy.server import PredictionServer
    from registry_core.deploy.service import EndpointService
    from registry_core.metadata import utc_now

    runtime = FixedRuntime()
    routes = ContainerRoutes(model_name=MODEL, predict="/predict", health="/ready", deployed_model_id="7")
    service = EndpointService(None, CONTAINER_ENDPOINT, runtime=runtime)
    with PredictionServer(None, CONTAINER_ENDPOINT, port=0, service=service, container=routes) as server:
        # Vertex AI restarts a container that does not listen soon enough: it listens while the model loads
        assert call("GET", server.url + "/ready").status == 503
        assert call("GET", server.url + "/ping").status == 503
        assert call("GET", f"{server.url}/v1/models/{MODEL}").body == {"name": MODEL, "ready": False}
        loading = call("POST", server.url + "/predict", {"instances": [INSTANCE]})
        assert (loading.status, loading.body["error"]["type"]) == (503, "NotServingError")

        deployment = DeployedModel(
            id="7", model_name=MODEL, version="v1", artifact_digest="sha256:" + "0" * 64,
            artifact_uri=str(exports.v1), deployed_by="test", deployed_at=utc_now(),
        )  # fmt: skip
        runtime.install(deployment, SavedModelPredictor(exports.v1))

        assert call("GET", server.url + "/ready").status == 200
        reply = call("POST", server.url + "/predict", {"instances": [INSTANCE]})
        assert reply.status == 200, reply.text
        assert reply.body["deployedModelId"] == "7"
