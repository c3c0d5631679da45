"""Vertex AI as it really behaves: operations that take a while, clients that die mid-deploy, regions.

The real google-cloud-aiplatform SDK talks to `vertex_standin.VertexStandIn`, whose operations stay in progress for a
number of polls (or until the test releases them) and whose model uploads check the artifact bucket's location in the
GCS emulator, as Vertex AI does. Deploys killed with SIGKILL run as users type them (``model-registry deploy ...``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import retry_base, retry_unary
from support.gcs_emulator import GCSEmulator
from support.vertex_standin import VertexStandIn, isolated_aiplatform_config
from vertex_support import MODEL, PROJECT, REGION, on_vertex, register_versions

from registry_core import ModelRegistry, RegistryConfig
from registry_core.deploy.vertex import VertexTarget
from registry_core.deploy.vertex_image import ProjectImage, resolve_repository
from registry_core.deploy.vertex_regions import artifact_bucket_accepted, host_region, location_of
from registry_core.errors import (
    DeploymentError,
    EndpointNotFoundError,
    InvalidInputError,
    RegionMismatchError,
)
from registry_core.metadata import HistoryAction

CLI = str(Path(sys.executable).parent / "model-registry")
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"


@pytest.fixture
def standin(gcs_emulator: GCSEmulator) -> Iterator[VertexStandIn]:
    with isolated_aiplatform_config(), VertexStandIn(bucket_location=gcs_emulator.bucket_locations()) as server:
        server.push_image(ProjectImage(PROJECT, REGION, resolve_repository()).uri)  # as cloudbuild.yaml does
        yield server






def _only_endpoint(standin: VertexStandIn) -> dict[str, Any]:
    assert len(standin.endpoints) == 1, list(standin.endpoints)
    return next(iter(standin.endpoints.values()))


def _posts(standin: VertexStandIn, verb: str) -> list[Any]:
    return [r for r in standin.calls("POST") if r.path.endswith(verb)]


def _sdk(standin: VertexStandIn) -> Any:
    """The SDK, configured for the stand-in, to change Vertex AI behind the registry's back."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    aiplatform.init(
        project=PROJECT, location=REGION, api_endpoint=standin.url, api_transport="rest",
        credentials=AnonymousCredentials(),
    )  # fmt: skip
    return aiplatform


# ---------------------------------------------------------------------------------------------- long operations


class _FastClock:
    """api-core's polling clock at five minutes a poll: an hour of polling passes in an instant."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += 300.0

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_operations_longer_than_api_cores_900_seconds_are_waited_for_and_recorded(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _FastClock()
    monkeypatch.setattr(retry_unary, "time", clock)
    monkeypatch.setattr(retry_base, "time", clock)
    standin.operation_polls = 5  # upload, endpoint creation and deployment: 25 minutes each by that clock
    (v1,) = register_versions(registry, tmp_path, 1)

    deployment, record, metadata = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))

    assert clock.offset >= 3 * 5 * 300  # every operation was waited for, well past 900 s
    assert standin.pending_operations() == {}
    (served,) = _only_endpoint(standin)["deployedModels"]
    assert served["id"] == deployment.id
    assert record.traffic == {deployment.id: 100}
    assert [d.deployed_model_id for d in metadata.deployments] == [deployment.id]
    gets = [r for r in standin.calls("GET") if "/operations/" in r.path]
    assert len(gets) == 3 * 6  # five answers "not done", then done, for each of the three operations


def test_an_undeploy_that_takes_long_is_waited_for(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    clock = _FastClock()
    monkeypatch.setattr(retry_unary, "time", clock)
    monkeypatch.setattr(retry_base, "time", clock)
    standin.operation_polls = 5

    d2, record, _ = registry.deploy_model(MODEL, v2, endpoint_name="shop", **on_vertex(standin))  # v1 undeployed

    assert [d["id"] for d in _only_endpoint(standin)["deployedModels"]] == [d2.id]
    assert [d.id for d in record.active()] == [d2.id]
    assert clock.offset >= 3 * 5 * 300  # the upload, the deployment and the undeployment


def test_a_deploy_that_fails_half_way_is_one_line_and_recorded_nowhere(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (v1,) = register_versions(registry, tmp_path, 1)
    standin.fail_next("DeployModelResponse", "Model server exited unexpectedly. Model server logs can be found at x.")

    with pytest.raises(DeploymentError, match="400 Model server exited unexpectedly") as failed:
        registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))

    assert "\n" not in str(failed.value)
    assert isinstance(failed.value.__cause__, api_exceptions.FailedPrecondition)
    assert _only_endpoint(standin)["deployedModels"] == []
    assert registry.list_endpoints() == []
    assert registry.get_model_metadata(MODEL, v1).deployments == ()

    deployment, record, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))  # again
    assert record.traffic == {deployment.id: 100}
    assert len(_posts(standin, "models:upload")) == 1  # the version uploaded the first time is reused


# ---------------------------------------------------------------------------------------------- reconcile


def test_reconcile_records_what_changed_on_vertex_behind_the_registrys_back(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    d1, _, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    d2, record, _ = registry.deploy_model(MODEL, v2, endpoint_name="shop", traffic_percent=10, **on_vertex(standin))
    aiplatform = _sdk(standin)
    endpoint = aiplatform.Endpoint(record.target_ref)

    endpoint.undeploy(d1.id)  # in the console, say: v2 takes all the traffic
    result = registry.reconcile_endpoint("shop", actor="carol")

    assert [(e.action, e.version) for e in result.changes] == [("undeployed", v1)]
    assert "no longer deployed on vertex" in result.changes[0].reason
    assert result.endpoint.traffic == {d2.id: 100}
    assert [d.id for d in result.endpoint.active()] == [d2.id]
    assert registry.get_endpoint("shop") == result.endpoint
    (mirrored,) = registry.get_model_metadata(MODEL, v1).deployments
    assert mirrored.undeployed_at is not None
    assert registry.get_model_metadata(MODEL, v2).deployments[0].traffic_percent == 100
    undeployed = [e for e in registry.history(MODEL) if e.action is HistoryAction.UNDEPLOYED]
    assert [(e.version, e.actor) for e in undeployed] == [(v1, "carol")]

    # another client deploys v1's Vertex model version again at 30 % and dies before recording it
    operation = endpoint.api_client.deploy_model(
        endpoint=endpoint.resource_name,
        deployed_model=aiplatform.gapic.DeployedModel(
            model=d1.target_ref,
            dedicated_resources=aiplatform.gapic.DedicatedResources(
                machine_spec=aiplatform.gapic.MachineSpec(machine_type="n1-standard-2"), min_replica_count=1
            ),
        ),
        traffic_split={d2.id: 70, "0": 30},
    )
    found_id = str(operation.result().deployed_model.id)
    result = registry.reconcile_endpoint("shop", actor="carol")

    assert [(e.action, e.version) for e in result.changes] == [("deployed", v1)]
    assert result.endpoint.traffic == {d2.id: 70, found_id: 30}
    found = result.endpoint.deployment(found_id)
    assert (found.model_name, found.version, found.target_ref) == (MODEL, v1, d1.target_ref)
    assert found.artifact_digest == registry.get_model_metadata(MODEL, v1).artifact_digest
    assert {d.deployed_model_id: d.traffic_percent for d in registry.get_model_metadata(MODEL, v1).deployments} == {
        d1.id: 0, found_id: 30,
    }  # fmt: skip
    assert registry.history(MODEL)[-1].action is HistoryAction.DEPLOYED

    aiplatform.Endpoint(record.target_ref).update(traffic_split={d2.id: 50, found_id: 50})  # read afresh: etag
    result = registry.reconcile_endpoint("shop")
    assert [e.action for e in result.changes] == ["traffic"]
    assert result.endpoint.traffic == {d2.id: 50, found_id: 50}

    assert registry.reconcile_endpoint("shop").changes == ()  # agrees now: nothing written
    assert registry.get_endpoint("shop") == result.endpoint


def test_reconcile_refuses_models_that_are_no_registry_versions(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path, gcs_bucket: str
) -> None:
    (v1,) = register_versions(registry, tmp_path, 1)
    _, record, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    aiplatform = _sdk(standin)
    stranger = aiplatform.Model.upload(
        display_name="hand-made", artifact_uri=f"gs://{gcs_bucket}/elsewhere", serving_container_image_uri=IMAGE
    )
    aiplatform.Endpoint(record.target_ref).deploy(stranger, traffic_percentage=50, machine_type="n1-standard-2")

    with pytest.raises(DeploymentError, match="no registry versions .*hand-made") as refused:
        registry.reconcile_endpoint("shop")
    assert "\n" not in str(refused.value)
    assert registry.get_endpoint("shop") == record
    with pytest.raises(DeploymentError, match="no registry versions"):  # and deploying there says so too
        registry.deploy_model(MODEL, v1, endpoint_name="shop", traffic_percent=20, **on_vertex(standin))


def test_an_endpoint_deleted_on_vertex_is_reconciled_and_the_next_deploy_creates_another(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (v1,) = register_versions(registry, tmp_path, 1)
    _, record, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    deleted = record.target_ref
    del standin.endpoints[deleted]  # in the console

    result = registry.reconcile_endpoint("shop")

    assert [(e.action, e.version) for e in result.changes] == [("undeployed", v1)]
    assert (result.endpoint.target_ref, result.endpoint.traffic, result.endpoint.active()) == ("", {}, [])
    d2, record, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    assert record.target_ref == _only_endpoint(standin)["name"] != deleted
    assert record.traffic == {d2.id: 100}


def test_reconcile_of_an_endpoint_without_record_needs_itson_vertex(
    registry: ModelRegistry, standin: VertexStandIn
) -> None:
    with pytest.raises(EndpointNotFoundError, match="--target vertex --project P --region R"):
        registry.reconcile_endpoint("shop")
    with pytest.raises(EndpointNotFoundError, match="vertex has no endpoint of that name"):
        registry.reconcile_endpoint("shop", target="vertex", project=PROJECT, location=REGION, api_endpoint=standin.url)
    assert registry.list_endpoints() == []


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own console script
        [CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | {"COLUMNS": "200"}
    )


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [CLI, *args], capture_output=True, text=True, env=os.environ | {"COLUMNS": "200"}, timeout=120, check=False
    )


def _kill_while_deploying(standin: VertexStandIn, process: subprocess.Popen[str]) -> str:
    """Wait until the client polls its deployment (held in progress), SIGKILL it, return the operation's name."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        polled = [
            name
            for name, answers in standin.pending_operations().items()
            if answers >= 1 and standin.operations[name]["metadata"]["@type"].endswith(".DeployModelOperationMetadata")
        ]
        if polled:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
            return polled[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"the deploy never polled its operation: {process.communicate()}")


def test_a_deploy_killed_mid_operation_is_recorded_by_reconcile_and_a_retry_deploys_no_second_copy(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    root = registry.storage.uri
    vertex = ["--target", "vertex", "--project", PROJECT, "--region", REGION, "--api-endpoint", standin.url]
    standin.held.add("DeployModelResponse")  # deployments stay in progress, as for the 10-30 minutes they take

    process = _start(["--registry", root, "deploy", MODEL, "--version", v1, "--endpoint-name", "shop", *vertex])
    operation = _kill_while_deploying(standin, process)

    assert process.returncode == -signal.SIGKILL
    assert registry.list_endpoints() == []  # the client died before recording anything
    assert _only_endpoint(standin)["deployedModels"] == []  # and Vertex AI is still deploying
    standin.held.clear()
    standin.operation_polls = standin.pending_operations()[operation] + 2  # two more polls before it is done

    reconciled = _run(["--registry", root, "endpoints", "reconcile", "shop", *vertex[2:]])

    assert reconciled.returncode == 0, reconciled.stderr
    (served,) = _only_endpoint(standin)["deployedModels"]
    assert reconciled.stdout.splitlines() == [
        f"deployed {MODEL} {v1}: reconcile: deployed on vertex but not recorded (its deploy stopped before "
        "recording it)",
        f"endpoint shop (vertex) serves: {MODEL} {v1}=100%",
    ]
    record = registry.get_endpoint("shop")
    assert [(d.id, d.version) for d in record.active()] == [(served["id"], v1)]
    assert record.traffic == {served["id"]: 100}
    assert record.target_ref == _only_endpoint(standin)["name"]
    assert record.target_settings == {"project": PROJECT, "location": REGION, "api_endpoint": standin.url}
    assert [d.traffic_percent for d in registry.get_model_metadata(MODEL, v1).deployments] == [100]

    # v2 at 100 %: killed mid-deploy too; the same command again waits for it, records it and deploys nothing
    standin.operation_polls = 0
    standin.held.add("DeployModelResponse")
    deploy_v2 = ["--registry", root, "deploy", MODEL, "--version", v2, "--endpoint-name", "shop", *vertex]
    operation = _kill_while_deploying(standin, _start(deploy_v2))
    standin.held.clear()
    standin.operation_polls = standin.pending_operations()[operation] + 1

    retried = _run(deploy_v2)

    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip().endswith(f"deployed {MODEL} {v2} to shop (vertex): {MODEL} {v2}=100%")
    assert len(_posts(standin, ":deployModel")) == 2  # one per version: the retry deployed no second copy
    assert len(_posts(standin, "models:upload")) == 2
    (served,) = _only_endpoint(standin)["deployedModels"]  # and v1 was undeployed, as a deploy at 100 % does
    record = registry.get_endpoint("shop")
    assert [(d.id, d.version) for d in record.active()] == [(served["id"], v2)]
    assert record.traffic == {served["id"]: 100} == _only_endpoint(standin)["trafficSplit"]
    assert [e.action for e in record.history] == ["deployed", "deployed", "undeployed"]


# ---------------------------------------------------------------------------------------------- regions


def test_region_rules() -> None:
    assert artifact_bucket_accepted("US-CENTRAL1", "us-central1")
    assert not artifact_bucket_accepted("US", "us-central1")  # multi-regions are refused too
    assert not artifact_bucket_accepted("NAM4", "us-central1")
    assert not artifact_bucket_accepted("EUROPE-WEST4", "us-central1")
    assert location_of("projects/p/locations/europe-west4/endpoints/1") == "europe-west4"
    assert location_of("not/a/resource") is None
    assert host_region("europe-west4-aiplatform.googleapis.com") == "europe-west4"
    assert host_region("https://us-central1-aiplatform.googleapis.com/") == "us-central1"
    assert host_region("http://127.0.0.1:8080") is None


def test_a_model_upload_from_a_bucket_in_another_region_is_refused_before_any_change(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (v1,) = register_versions(registry, tmp_path, 1)  # the emulator's buckets are in US-CENTRAL1

    with pytest.raises(RegionMismatchError, match="bucket gs://.* is in US-CENTRAL1") as refused:
        registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin, location="europe-west4"))

    assert "\n" not in str(refused.value)
    assert "deploy to us-central1" in str(refused.value)
    assert standin.calls("POST") == []
    assert registry.list_endpoints() == []


def test_a_multi_region_bucket_is_refused_as_vertex_refuses_it(
    standin: VertexStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with GCSEmulator(location="US") as us:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", us.url)
        bucket = us.create_bucket()
        registry = ModelRegistry(RegistryConfig(root=f"gs://{bucket}/registry"))
        (v1,) = register_versions(registry, tmp_path, 1)

        with pytest.raises(RegionMismatchError, match=r"is in US \(not a single region\)"):
            registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
        assert standin.calls("POST") == []

        # what the check spares: Vertex AI (and so the stand-in) refuses the upload itself (FAILED_PRECONDITION,
        # which api-core raises as BadRequest over REST: it goes by the HTTP status)
        standin.bucket_location = us.bucket_locations()
        with pytest.raises(api_exceptions.BadRequest, match="is in location `us`. It must be in the same regional"):
            _sdk(standin).Model.upload(
                display_name=MODEL, artifact_uri=registry.get_model_metadata(MODEL, v1).artifact_uri,
                serving_container_image_uri=IMAGE,
            )  # fmt: skip


def test_an_endpoint_takes_models_of_its_own_region_only(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    _, record, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    posts = len(standin.calls("POST"))

    with pytest.raises(RegionMismatchError, match="endpoint 'shop' is a Vertex AI endpoint in us-central1"):
        registry.deploy_model(MODEL, v2, endpoint_name="shop", **on_vertex(standin, location="europe-west4"))
    assert len(standin.calls("POST")) == posts
    assert registry.get_endpoint("shop") == record

    # Vertex AI (and so the stand-in) refuses a model of another region on an endpoint
    elsewhere = "projects/test-project/locations/europe-west4/models/77@1"
    answer = requests.post(
        f"{standin.url}/v1/{record.target_ref}:deployModel",
        json={"deployedModel": {"model": elsewhere, "dedicatedResources": {
            "machineSpec": {"machineType": "n1-standard-2"}, "minReplicaCount": 1}}},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 400
    assert "is not in projects/test-project/locations/us-central1" in answer.json()["error"]["message"]


def test_an_api_endpoint_of_another_region_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="serves europe-west4, not the location us-central1"):
        VertexTarget(project=PROJECT, location=REGION, api_endpoint="europe-west4-aiplatform.googleapis.com")
    assert VertexTarget(project=PROJECT, location="europe-west4", api_endpoint="europe-west4-aiplatform.googleapis.com")


# ---------------------------------------------------------------------------------------------- the stand-in itself


def test_standin_operations_take_their_time_and_change_nothing_until_done(standin: VertexStandIn) -> None:
    parent = f"{standin.url}/v1/projects/{PROJECT}/locations/{REGION}"
    standin.operation_seconds = 0.3

    started = requests.post(f"{parent}/endpoints", json={"displayName": "slow"}, timeout=10).json()
    assert "done" not in started  # in progress, as the service answers it
    assert started["metadata"]["@type"].endswith("aiplatform.v1.CreateEndpointOperationMetadata")
    assert requests.get(f"{parent}/endpoints", timeout=10).json() == {"endpoints": []}
    time.sleep(0.35)
    done = requests.get(f"{standin.url}/ui/{started['name']}", timeout=10).json()
    assert done["done"] is True
    assert done["response"]["displayName"] == "slow"

    standin.operation_seconds = 0.0
    standin.held.add("Endpoint")
    held = requests.post(f"{parent}/endpoints", json={"displayName": "held"}, timeout=10).json()
    assert "done" not in requests.get(f"{standin.url}/v1/{held['name']}", timeout=10).json()
    listed = requests.get(f"{standin.url}/v1/{done['response']['name']}/operations", timeout=10).json()
    assert [op["name"] for op in listed["operations"]] == [started["name"]]
    standin.finish_operations()
    assert requests.get(f"{standin.url}/v1/{held['name']}", timeout=10).json()["done"] is True
    assert len(requests.get(f"{parent}/endpoints", timeout=10).json()["endpoints"]) == 2
