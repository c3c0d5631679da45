"""The deploy task on Vertex AI through kfp.local: a subprocess task, the real SDK, the Vertex stand-in, GCS emulator.

What this pins down happens only across kfp's task boundary: dict parameters travel as protobuf Structs, whose
numbers are doubles (``{"min_replica_count": 2}`` arrives as ``2.0``), and the project and location a Vertex run
puts into the deploy task (``{{$.pipeline_google_cloud_project_id}}``/``_location``, given here as Vertex would
resolve them) reach the Vertex target.
"""

# no `from __future__ import annotations`: the test pipeline below is read by KFP
from collections.abc import Iterator
from pathlib import Path

import pytest
from kfp import dsl, local
from kfp.dsl import Model
from support.gcs_emulator import GCSEmulator
from support.vertex_standin import VertexStandIn, isolated_aiplatform_config

from components import deploy_model
from registry_core import ModelRegistry
from registry_core.deploy.vertex_image import ProjectImage, resolve_repository

PROJECT = "test-project"
REGION = "europe-west4"
NAME = "eyewear"

# kfp.local says that display names and resource limits mean nothing to it: true, and not what is tested here
# and that a gs:// artifact has no local path: the deploy task reads the registry, never the artifact's path
pytestmark = [
    pytest.mark.filterwarnings("ignore:Task .* have no effect in the current local runner:UserWarning"),
    pytest.mark.filterwarnings("ignore:It looks like you're using the remote file:UserWarning"),
]


@pytest.fixture
def europe(monkeypatch: pytest.MonkeyPatch) -> Iterator[GCSEmulator]:
    """A GCS emulator whose buckets are in the run's region (Vertex AI reads artifacts only from its own region)."""
    with GCSEmulator(location=REGION.upper()) as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)  # the task subprocesses inherit it
        yield emulator


@pytest.fixture
def standin(europe: GCSEmulator) -> Iterator[VertexStandIn]:
    with isolated_aiplatform_config(), VertexStandIn(bucket_location=europe.bucket_locations()) as server:
        server.push_image(ProjectImage(PROJECT, REGION, resolve_repository()).uri)  # as cloudbuild.yaml does
        yield server


@dsl.pipeline(name="deploy-registered-version")
def deploy_registered_version(
    registry_root: str, artifact_uri: str, version: str, settings: dict, project: str, location: str
) -> str:
    metadata = {"registry": registry_root, "model_name": NAME, "version": version}  # as register_model outputs it
    model = dsl.importer(artifact_uri=artifact_uri, artifact_class=Model, metadata=metadata)
    return deploy_model(
        registry_root=registry_root, model=model.output, endpoint_name="shop", target="vertex",
        target_settings=settings, actor="pipeline-sa", project=project, location=location,
    ).outputs["Output"]  # fmt: skip


def test_integer_settings_and_the_run_s_region_reach_the_vertex_deployment(
    europe: GCSEmulator, standin: VertexStandIn, tmp_path: Path
) -> None:
    registry = ModelRegistry.from_uri(f"gs://{europe.create_bucket()}/registry")
    folder = tmp_path / "saved_model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_text("not really a SavedModel")
    (folder / "variables" / "variables.index").write_text("weights")
    metadata = registry.register_model(NAME, folder, registered_by="alice")

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "runs"))
    settings = {"api_endpoint": standin.url, "min_replica_count": 2, "max_replica_count": 3}
    deployed_id = deploy_registered_version(
        registry_root=registry.storage.uri, artifact_uri=metadata.artifact_uri,
        version=metadata.version, settings=settings, project=PROJECT, location=REGION,
    ).output  # fmt: skip

    (request,) = [r for r in standin.calls("POST") if r.path.endswith(":deployModel")]
    assert request.path.startswith(f"/v1/projects/{PROJECT}/locations/{REGION}/endpoints/")
    resources = request.body["deployedModel"]["dedicatedResources"]
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (2, 3)
    record = registry.get_endpoint("shop")
    assert record.target_settings["location"] == REGION
    assert record.target_settings["min_replica_count"] == 2
    assert type(record.target_settings["min_replica_count"]) is int
    assert [(d.id, d.deployed_by) for d in record.deployments] == [(deployed_id, "pipeline-sa")]
