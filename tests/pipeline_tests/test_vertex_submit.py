"""Submitting a compiled pipeline to Vertex AI, and the Vertex stand-in's model and endpoint API.

The real google-cloud-aiplatform SDK talks REST to `vertex_standin.VertexStandIn` on 127.0.0.1; the pipeline-root
bucket lives in the GCS emulator (the ``gcs_emulator`` fixture sets STORAGE_EMULATOR_HOST).
"""

# no `from __future__ import annotations`: KFP reads the real annotation objects
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from google.api_core import exceptions as api_exceptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from kfp import compiler, dsl  # noqa: E402
from support.vertex_standin import VertexStandIn, isolated_aiplatform_config  # noqa: E402

from pipelines.vertex import InvalidPipelineSubmissionError, PipelineSubmissionError, submit_pipeline  # noqa: E402
from registry_core.errors import DeploymentError, InvalidInputError, RegistryError  # noqa: E402

PROJECT = "test-project"
REGION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{REGION}"
SERVICE_ACCOUNT = "pipelines@test-project.iam.gserviceaccount.com"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def greet(name: str, times: int) -> str:
    """Say hello `times` times."""
    return " ".join([f"hello {name}"] * times)


@dsl.pipeline(name="tiny-pipeline", description="One lightweight component.")
def tiny_pipeline(name: str = "world", times: int = 1) -> None:
    greet(name=name, times=times)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compiled") / "tiny_pipeline.yaml"
    compiler.Compiler().compile(pipeline_func=tiny_pipeline, package_path=str(path))
    return path


@pytest.fixture
def standin() -> Iterator[VertexStandIn]:
    with isolated_aiplatform_config(), VertexStandIn() as server:
        yield server


def _submit(standin: VertexStandIn, template: Path, pipeline_root: str, **kwargs: Any) -> str:
    return submit_pipeline(
        template,
        project=PROJECT,
        region=REGION,
        pipeline_root=pipeline_root,
        api_endpoint=standin.url,
        credentials=AnonymousCredentials(),
        **kwargs,
    )


# ---------------------------------------------------------------------------------------------- submit_pipeline


def test_submit_sends_spec_root_parameters_account_and_labels(
    standin: VertexStandIn, template: Path, gcs_bucket: str
) -> None:
    root = f"gs://{gcs_bucket}/pipeline-root"
    name = _submit(
        standin,
        template,
        root,
        parameter_values={"name": "registry", "times": 3},
        service_account=SERVICE_ACCOUNT,
        labels={"team": "eyewear", "model": "recommender"},
        enable_caching=False,
    )

    assert name.startswith(f"{PARENT}/pipelineJobs/tiny-pipeline-")
    creates = standin.calls("POST", "/pipelineJobs")
    assert len(creates) == 1
    assert creates[0].path == f"/v1/{PARENT}/pipelineJobs"
    assert name.endswith("/" + creates[0].query["pipelineJobId"])
    job = standin.pipeline_jobs[name]
    compiled = yaml.safe_load(template.read_text())
    assert job["pipelineSpec"]["pipelineInfo"] == compiled["pipelineInfo"]
    assert job["pipelineSpec"]["root"]["inputDefinitions"] == compiled["root"]["inputDefinitions"]
    assert job["pipelineSpec"]["deploymentSpec"] == compiled["deploymentSpec"]
    assert job["pipelineSpec"]["root"]["dag"]["tasks"]["greet"]["cachingOptions"] == {"enableCache": False}
    assert job["runtimeConfig"]["gcsOutputDirectory"] == root
    assert job["runtimeConfig"]["parameterValues"] == {"name": "registry", "times": 3}
    assert job["serviceAccount"] == SERVICE_ACCOUNT
    assert job["labels"] == {"team": "eyewear", "model": "recommender"}
    assert job["displayName"] == "tiny-pipeline"
    assert job["state"] == "PIPELINE_STATE_RUNNING"  # nobody waited


def test_submit_and_wait_follows_the_job_to_its_end(standin: VertexStandIn, template: Path, gcs_bucket: str) -> None:
    name = _submit(standin, template, f"gs://{gcs_bucket}/root", display_name="nightly run", wait=True)

    assert standin.pipeline_jobs[name]["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert standin.pipeline_jobs[name]["displayName"] == "nightly run"
    assert standin.calls("GET", f"/v1/{name}")
    from google.cloud import aiplatform

    listed = aiplatform.PipelineJob.list(
        filter='display_name="nightly run"', project=PROJECT, location=REGION, credentials=AnonymousCredentials()
    )
    assert [job.resource_name for job in listed] == [name]

    standin.pipeline_final_state = "PIPELINE_STATE_FAILED"
    with pytest.raises(PipelineSubmissionError, match="failed") as failed:
        _submit(standin, template, f"gs://{gcs_bucket}/root", wait=True)
    assert "\n" not in str(failed.value)


def test_missing_bucket_is_a_typed_error_and_no_bucket_is_created(
    standin: VertexStandIn, template: Path, gcs_emulator: Any
) -> None:
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(PipelineSubmissionError, match=f"gs://{missing} does not exist") as error:
        _submit(standin, template, f"gs://{missing}/root")

    assert isinstance(error.value, DeploymentError)
    assert "\n" not in str(error.value)
    assert standin.calls("POST") == []
    assert gcs_emulator.client().lookup_bucket(missing) is None  # the SDK would have created it


@pytest.mark.parametrize("root", ["/tmp/pipeline-root", "s3://bucket/root", "gs://", "gs://Bad_Bucket/x", ""])
def test_pipeline_root_must_be_gs(standin: VertexStandIn, template: Path, root: str) -> None:
    with pytest.raises(InvalidPipelineSubmissionError, match="gs://") as error:
        _submit(standin, template, root)

    assert isinstance(error.value, PipelineSubmissionError)
    assert isinstance(error.value, InvalidInputError)
    assert error.value.exit_code == InvalidInputError.exit_code
    assert standin.requests == []


def test_bad_arguments_and_api_refusals_are_typed_one_line_errors(
    standin: VertexStandIn, template: Path, gcs_bucket: str, tmp_path: Path
) -> None:
    root = f"gs://{gcs_bucket}/root"
    with pytest.raises(InvalidPipelineSubmissionError, match="does not exist"):
        _submit(standin, tmp_path / "nope.yaml", root)
    with pytest.raises(InvalidPipelineSubmissionError, match="epochs"):
        _submit(standin, template, root, parameter_values={"epochs": 3})  # the SDK checks parameter names

    # The SDK lets this through; the service refuses it with a 400.
    with pytest.raises(PipelineSubmissionError, match="Vertex AI refused .* 400 Invalid serviceAccount") as refused:
        _submit(standin, template, root, service_account="not-an-email")
    assert isinstance(refused.value, RegistryError)
    assert isinstance(refused.value.__cause__, api_exceptions.BadRequest)
    assert "\n" not in str(refused.value)


# ---------------------------------------------------------------------------------------------- the stand-in


@pytest.fixture
def vertex(standin: VertexStandIn) -> VertexStandIn:
    from google.cloud import aiplatform

    aiplatform.init(
        project=PROJECT,
        location=REGION,
        api_endpoint=standin.url,
        api_transport="rest",
        credentials=AnonymousCredentials(),
    )
    return standin


def test_standin_models_and_endpoints_through_the_sdk(vertex: VertexStandIn, gcs_bucket: str) -> None:
    from google.cloud import aiplatform

    artifacts = f"gs://{gcs_bucket}/registry/eyewear"
    v1 = aiplatform.Model.upload(
        display_name="eyewear",
        artifact_uri=f"{artifacts}/v1",
        serving_container_image_uri=IMAGE,
        labels={"registry-version": "v1"},
    )
    v2 = aiplatform.Model.upload(
        display_name="eyewear",
        artifact_uri=f"{artifacts}/v2",
        serving_container_image_uri=IMAGE,
        parent_model=v1.resource_name,
        version_aliases=["staging"],
        is_default_version=False,
        labels={"registry-version": "v2"},
    )
    assert (v1.version_id, v2.version_id) == ("1", "2")
    assert v2.resource_name == v1.resource_name
    assert v2.versioned_resource_name == f"{v1.resource_name}@2"
    assert v1.version_aliases == ["default"]
    assert v2.version_aliases == ["staging"]
    assert v2.labels == {"registry-version": "v2"}
    assert v2.uri == f"{artifacts}/v2"

    registry = aiplatform.models.ModelRegistry(v1.resource_name)
    assert [v.version_id for v in registry.list_versions()] == ["1", "2"]
    assert [m.version_id for m in aiplatform.Model.list(filter='display_name="eyewear"')] == ["1"]  # the default
    registry.add_version_aliases(["staging"], version="1")  # moves the alias from v2 to v1
    assert aiplatform.Model(v1.resource_name, version="staging").version_id == "1"
    assert aiplatform.Model(v1.resource_name, version="2").version_aliases == []
    with pytest.raises(api_exceptions.BadRequest, match="Duplicate version alias"):
        registry.add_version_aliases(["prod", "prod"], version="2")

    endpoint = aiplatform.Endpoint.create(display_name="eyewear-recs")
    other = aiplatform.Endpoint.create(display_name="other")
    found = aiplatform.Endpoint.list(filter='display_name="eyewear-recs"')
    assert [e.resource_name for e in found] == [endpoint.resource_name]
    assert other.resource_name != endpoint.resource_name

    endpoint.deploy(v1, traffic_percentage=100)
    endpoint.deploy(v2, traffic_percentage=20)
    ids = {d.model_version_id: d.id for d in endpoint.list_models()}
    assert endpoint.traffic_split == {ids["1"]: 80, ids["2"]: 20}
    deploy_bodies = [c.body for c in vertex.calls("POST", ":deployModel")]
    assert [b["deployedModel"]["model"] for b in deploy_bodies] == [f"{v1.resource_name}@1", f"{v1.resource_name}@2"]
    assert deploy_bodies[1]["trafficSplit"] == {ids["1"]: 80, "0": 20}

    prediction = endpoint.predict(instances=[{"frame": "round"}])
    assert prediction.deployed_model_id == ids["1"]  # the first of 100 requests goes to the first 80 %
    assert prediction.model_version_id == "1"
    assert prediction.predictions[0]["instance"] == {"frame": "round"}

    endpoint.undeploy(ids["1"])  # the SDK moves v1's traffic to v2 in the same request
    assert endpoint.traffic_split == {ids["2"]: 100}
    assert vertex.calls("POST", ":undeployModel")[-1].body == {
        "deployedModelId": ids["1"],
        "trafficSplit": {ids["2"]: 100},
    }
    assert vertex.model_version(f"{v1.resource_name}@2")["deployedModels"] == [
        {"endpoint": endpoint.resource_name, "deployedModelId": ids["2"]}
    ]
    assert endpoint.predict(instances=[1]).deployed_model_id == ids["2"]


def test_standin_rejects_bad_requests_with_google_errors(vertex: VertexStandIn, gcs_bucket: str) -> None:
    from google.cloud import aiplatform

    model = aiplatform.Model.upload(
        display_name="m", artifact_uri=f"gs://{gcs_bucket}/m", serving_container_image_uri=IMAGE
    )
    endpoint = aiplatform.Endpoint.create(display_name="e")
    endpoint.deploy(model, traffic_percentage=100)
    deployed_id = endpoint.list_models()[0].id
    base = f"{vertex.url}/v1/{endpoint.resource_name}"
    deploy = {
        "deployedModel": {
            "model": model.versioned_resource_name,
            "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-2"}, "minReplicaCount": 1},
        }
    }

    def post(url: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(url, json=body, timeout=5)

    bad_sum = post(f"{base}:deployModel", {**deploy, "trafficSplit": {"0": 50, deployed_id: 40}})
    assert bad_sum.status_code == 400
    assert bad_sum.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "100" in bad_sum.json()["error"]["message"]
    unknown_id = post(f"{base}:deployModel", {**deploy, "trafficSplit": {"0": 50, "12345": 50}})
    assert unknown_id.status_code == 400
    still_serving = post(f"{base}:undeployModel", {"deployedModelId": deployed_id, "trafficSplit": {deployed_id: 100}})
    assert still_serving.status_code == 400

    encoded = requests.get(f"{vertex.url}/v1/{model.resource_name}%40default", timeout=5)
    assert encoded.status_code == 200
    assert encoded.json()["supportedDeploymentResourcesTypes"] == ["DEDICATED_RESOURCES"]
    missing = requests.get(f"{vertex.url}/v1/{PARENT}/models/999999", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": 404,
        "message": missing.json()["error"]["message"],
        "status": "NOT_FOUND",
    }
    operation = next(iter(vertex.operations))
    assert requests.get(f"{vertex.url}/v1/{operation}", timeout=5).json()["done"] is True
    bad_parent = requests.get(f"{vertex.url}/v1/projects/x/locations/us-central1/endpoints", timeout=5)
    assert bad_parent.status_code == 400

    with pytest.raises(api_exceptions.NotFound):
        aiplatform.Model(f"{PARENT}/models/424242")
    with pytest.raises(api_exceptions.NotFound):
        aiplatform.Model(model.resource_name, version="no-such-alias")
    assert endpoint.traffic_split == {deployed_id: 100}  # nothing above changed the endpoint
