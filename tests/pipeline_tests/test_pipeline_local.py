"""The whole train-and-register pipeline through `pipelines.local.run_local`: real kfp.local, a subprocess per task.

Three runs share one local registry (module-scoped, in order): the first ends in STAGING; a human then puts it in
PRODUCTION, so the second run (approved) is compared with it as champion and replaces it; the third asks for an
impossible accuracy and must stop at VALIDATION. Each fixture keeps a snapshot of the registry taken right after
its run, so each test sees the state its run left whatever else has run since. One more run uses a registry on
the GCS emulator. Data is small and training is one epoch: a run takes about ten seconds.
"""

# no `from __future__ import annotations`: kept like the pipeline modules, whose annotations KFP reads
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.local import run_local  # noqa: E402
from pipelines.train_and_register import PIPELINE_NAME  # noqa: E402
from registry_core import ModelRegistry  # noqa: E402
from registry_core.metadata import ModelMetadata, ModelStage  # noqa: E402

NAME = "eyewear"
SMALL: dict[str, Any] = {
    "model_name": NAME,
    "num_train": 500,
    "num_validation": 100,
    "num_test": 100,
    "model_config": {"epochs": 1},
    "thresholds": {"accuracy": 0.05},  # any trained model clears it
    "max_regression": 0.5,  # one epoch on 500 examples: runs with different data may differ a lot
    "registered_by": "alice",
}
IMPOSSIBLE = {"accuracy": 0.99}
ENDPOINT = "eyewear-shop"

# kfp.local says that display names and resource limits mean nothing to it: true, and not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore:Task .* have no effect in the current local runner:UserWarning")


@dataclass(frozen=True)
class Run:
    """What one pipeline run returned and left behind."""

    version: str
    folder: Path  # the run's folder under the pipeline root, named after the run
    metadata: ModelMetadata  # the version's metadata right after the run
    stages: dict[str, ModelStage]  # every version's stage right after the run

    @property
    def tasks(self) -> set[str]:
        return {p.name for p in self.folder.iterdir() if p.is_dir()}


def run_pipeline(registry_root: str, pipeline_root: Path, **arguments: Any) -> Run:
    version = run_local(registry_root=registry_root, pipeline_root=pipeline_root, **(SMALL | arguments))
    (folder,) = pipeline_root.iterdir()  # a fresh pipeline root per run: exactly one run folder
    registry = ModelRegistry.from_uri(registry_root)
    stages = {m.version: m.stage for m in registry.list_versions(NAME)}
    return Run(version, folder, registry.get_model_metadata(NAME, version), stages)


@pytest.fixture(scope="module")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("local") / "registry")


@pytest.fixture(scope="module")
def first_run(registry_root: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_pipeline(registry_root, tmp_path_factory.mktemp("runs-1"), data_seed=1)


@pytest.fixture(scope="module")
def second_run(first_run: Run, registry_root: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    # a person releases the first version, so the second run has a PRODUCTION champion to beat
    ModelRegistry.from_uri(registry_root).promote_model(
        NAME, first_run.version, ModelStage.PRODUCTION, approved_by="bob", reason="first release", actor="carol"
    )
    return run_pipeline(
        registry_root, tmp_path_factory.mktemp("runs-2"), data_seed=2, promote_to_production=True, approved_by="bob",
        deploy=True, endpoint_name=ENDPOINT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def failing_run(second_run: Run, registry_root: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_pipeline(
        registry_root, tmp_path_factory.mktemp("runs-3"), data_seed=3, thresholds=IMPOSSIBLE,
        promote_to_production=True, approved_by="bob",
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------- first run


def test_a_run_registers_a_version_and_promotes_it_to_staging(first_run: Run) -> None:
    assert first_run.version == "v1"
    assert first_run.stages == {"v1": ModelStage.STAGING}
    assert first_run.metadata.framework == "tensorflow"
    assert first_run.metadata.registered_by == "alice"


def test_a_run_records_its_own_name_as_the_pipeline_run(first_run: Run) -> None:
    assert first_run.folder.name.startswith(PIPELINE_NAME)
    assert first_run.metadata.lineage.pipeline_run == first_run.folder.name


def test_a_run_records_the_shards_of_its_own_dataset_as_training_data(first_run: Run) -> None:
    uris = first_run.metadata.lineage.training_data_uris
    assert len(uris) == 2
    dataset = first_run.folder / "generate-data" / "dataset"
    for uri in uris:
        assert Path(uri).parent == dataset
        assert Path(uri).name.startswith("train-")
        assert Path(uri).is_file()


def test_a_run_records_the_validation_outcome_on_the_version(first_run: Run) -> None:
    annotations = first_run.metadata.annotations
    assert annotations["validation"] == "passed"
    assert annotations["validation_reason"].startswith("passed: accuracy")
    assert annotations["validation_reason"].endswith("no champion in production")
    assert annotations["validation_champion"] == ""
    metrics = first_run.metadata.metrics.as_dict()
    assert {"accuracy", "holdout_accuracy"} <= set(metrics)


def test_a_run_records_its_params_as_ints_after_the_task_boundary(first_run: Run) -> None:
    params = first_run.metadata.params
    assert params["epochs"] == 1
    assert type(params["epochs"]) is int
    assert params["hidden_units"] == "32,16"


def test_a_run_leaves_the_validation_report_in_its_folder(first_run: Run) -> None:
    report = json.loads((first_run.folder / "validate-model" / "report").read_text())
    assert report["passed"] is True
    assert report["reason"] == first_run.metadata.annotations["validation_reason"]


def test_a_run_without_an_approver_does_not_try_production(first_run: Run) -> None:
    promotions = {task for task in first_run.tasks if task.startswith("promote-model")}
    assert promotions == {"promote-model"}  # staging only


# ------------------------------------------------------------------------------------------------ second run


def test_an_approved_run_is_compared_with_the_production_champion(first_run: Run, second_run: Run) -> None:
    annotations = second_run.metadata.annotations
    assert annotations["validation"] == "passed"
    assert annotations["validation_champion"] == first_run.version
    assert f"vs champion {first_run.version}" in annotations["validation_reason"]


def test_an_approved_run_promotes_its_version_to_production_archiving_only_the_old_champion(
    first_run: Run, second_run: Run
) -> None:
    assert second_run.version == "v2"
    assert second_run.stages == {first_run.version: ModelStage.ARCHIVED, second_run.version: ModelStage.PRODUCTION}
    approvals = second_run.metadata.approvals
    assert [(a.approver, a.stage) for a in approvals] == [("bob", ModelStage.PRODUCTION)]


def test_an_approved_run_records_the_archive_of_the_old_champion_in_the_history(
    first_run: Run, second_run: Run, registry_root: str
) -> None:
    history = ModelRegistry.from_uri(registry_root).history(NAME)
    archived = [e for e in history if e.to_stage is ModelStage.ARCHIVED]
    assert [(e.version, e.reason) for e in archived] == [(first_run.version, f"superseded by {second_run.version}")]


def test_an_approved_run_with_deploy_serves_its_version_on_the_endpoint(second_run: Run, registry_root: str) -> None:
    assert "deploy-model" in second_run.tasks
    (deployment,) = second_run.metadata.deployments
    assert (deployment.endpoint, deployment.traffic_percent) == (ENDPOINT, 100)
    record = ModelRegistry.from_uri(registry_root).endpoints.get_endpoint(ENDPOINT)
    assert [(d.model_name, d.version) for d in record.deployments] == [(NAME, second_run.version)]
    assert record.traffic == {deployment.deployed_model_id: 100}


# ------------------------------------------------------------------------------------------------- third run


def test_a_run_below_the_thresholds_leaves_its_version_in_validation_marked_failed(failing_run: Run) -> None:
    assert failing_run.version == "v3"
    assert failing_run.stages[failing_run.version] is ModelStage.VALIDATION
    annotations = failing_run.metadata.annotations
    assert annotations["validation"] == "failed"
    assert "accuracy" in annotations["validation_reason"]
    assert "< 0.9900" in annotations["validation_reason"]


def test_a_run_below_the_thresholds_promotes_nothing_and_keeps_the_champion(second_run: Run, failing_run: Run) -> None:
    assert not {task for task in failing_run.tasks if task.startswith("promote-model")}
    assert failing_run.stages == second_run.stages | {failing_run.version: ModelStage.VALIDATION}
    assert failing_run.metadata.approvals == ()


# ------------------------------------------------------------------------------------------- data validation


def test_a_run_stores_the_profile_of_its_training_data_with_the_version(first_run: Run, registry_root: str) -> None:
    extra = first_run.metadata.lineage.extra
    assert extra["data_profile"] == "data_profile"
    assert (extra["data_profile_examples"], extra["data_profile_features"]) == ("500", "11")
    assert extra["data_validation"] == "no_baseline"  # nothing in production yet
    paths = {entry.path for entry in first_run.metadata.artifact_manifest}
    assert {"data_profile/statistics.pb", "data_profile/schema.pbtxt"} <= paths
    profile = ModelRegistry.from_uri(registry_root).get_data_profile(NAME, first_run.version)
    assert profile.num_examples == 500


def test_a_run_validates_its_data_against_the_production_profile_and_links_the_report(second_run: Run) -> None:
    extra = second_run.metadata.lineage.extra
    assert extra["data_validation"] == "passed"
    assert Path(extra["data_validation_report"]).read_text().startswith("<!DOCTYPE html>")


def test_a_run_fed_broken_data_stops_before_training_naming_the_report(
    failing_run: Run, registry_root: str, tmp_path: Path
) -> None:
    drift = {"face_shape_weights": {"oval": 1, "hexagon": 1}, "measurement_shift_mm": 4}
    with pytest.raises(RuntimeError) as raised:
        run_pipeline(registry_root, tmp_path / "runs", data_seed=4, data_drift=drift)
    (folder,) = (tmp_path / "runs").iterdir()
    tasks = {p.name for p in folder.iterdir() if p.is_dir()}
    assert "validate-data" in tasks
    assert "train-model" not in tasks
    summary = json.loads(next((folder / "validate-data").rglob("summary")).read_text())
    assert summary["status"] == "failed"
    assert summary["features"]["face_width_mm"]["drifted"]
    assert [a["values"] for a in summary["anomalies"] if a["kind"] == "unknown_category"] == [["hexagon"]]
    assert "check-data-validation" in str(raised.value)
    registry = ModelRegistry.from_uri(registry_root)
    assert {m.version for m in registry.list_versions(NAME)} == set(failing_run.stages)  # nothing registered


# --------------------------------------------------------------------------------------------------------- GCS


def test_a_run_registers_and_stages_a_version_in_a_registry_on_gcs(gcs_bucket: str, tmp_path: Path) -> None:
    # the tasks are subprocesses: they reach the emulator through STORAGE_EMULATOR_HOST, set by the fixture
    root = f"gs://{gcs_bucket}/registry"
    run = run_pipeline(root, tmp_path / "runs", data_seed=1)
    assert run.version == "v1"
    assert run.stages == {"v1": ModelStage.STAGING}
    assert run.metadata.artifact_uri.startswith(f"{root}/")
    assert run.metadata.lineage.pipeline_run == run.folder.name
    assert run.metadata.annotations["validation"] == "passed"
    assert ModelRegistry.from_uri(root).check(deep=True).ok
