"""Each KFP component's Python function on a real local registry, with real kfp artifact objects.

The functions run in this process through `.python_func`, exactly as kfp's executor would call them: artifacts
whose uri is a local folder (for local paths kfp maps uri and path one to one), parameters as plain values.
One small dataset and one trained model are shared by the whole module.
"""

# no `from __future__ import annotations`: kept like the components, whose annotations KFP reads
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from google_cloud_pipeline_components.types.artifact_types import VertexEndpoint, VertexModel  # noqa: E402
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Metrics, Model  # noqa: E402

from components import (  # noqa: E402
    deploy_model,
    generate_data,
    promote_model,
    register_model,
    rollback_model,
    train_model,
    validate_model,
)
from registry_core import ModelRegistry  # noqa: E402
from registry_core.errors import (  # noqa: E402
    ApprovalError,
    ApprovalRequiredError,
    EndpointNotFoundError,
    InvalidInputError,
    InvalidTransitionError,
    LifecycleError,
    RegistryError,
)
from registry_core.metadata import ModelStage  # noqa: E402

NAME = "eyewear"
NUM_TRAIN, NUM_VALIDATION, NUM_TEST = 400, 100, 100
EASY = {"accuracy": 0.05}  # any trained model clears it
IMPOSSIBLE = {"accuracy": 0.99}  # one epoch on 400 examples never does


@dataclass
class Trained:
    model: Model
    metrics: Metrics
    classification_metrics: ClassificationMetrics


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    artifact = Dataset(name="dataset", uri=str(tmp_path_factory.mktemp("data") / "dataset"), metadata={})
    generate_data.python_func(
        dataset=artifact, num_train=NUM_TRAIN, num_validation=NUM_VALIDATION, num_test=NUM_TEST, shards=2, seed=0
    )
    return artifact


@pytest.fixture(scope="module")
def trained(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    out = tmp_path_factory.mktemp("train")
    result = Trained(
        model=Model(name="model", uri=str(out / "model"), metadata={}),
        metrics=Metrics(name="metrics", uri=str(out / "metrics"), metadata={}),
        classification_metrics=ClassificationMetrics(
            name="classification_metrics", uri=str(out / "classification_metrics"), metadata={}
        ),
    )
    train_model.python_func(
        dataset=dataset,
        model=result.model,
        metrics=result.metrics,
        classification_metrics=result.classification_metrics,
        model_config={"epochs": 1},
    )
    return result


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "registry")


def registry_at(root: str) -> ModelRegistry:
    return ModelRegistry.from_uri(root)


def trained_again(trained: Trained, root: str) -> Model:
    """Return a copy of the trained model at a new URI: what another training run would hand to register."""
    folder = Path(root).parent / f"trained-{uuid.uuid4().hex[:8]}" / "model"
    shutil.copytree(trained.model.path, folder)
    return Model(name="model", uri=str(folder), metadata=dict(trained.model.metadata))


def register(
    root: str, trained: Trained, dataset: Dataset, *, run: str = "run-1", by: str = "alice", model: Model | None = None,
    output: Model | None = None, **more: str,
) -> str:
    """Register a model (by default a fresh copy of the trained one, as from a new run) and return its version."""
    return register_model.python_func(
        model=model or trained_again(trained, root), dataset=dataset, registry_root=root, model_name=NAME,
        registered_model=output or Model(name="registered_model", uri="", metadata={}), pipeline_run=run,
        description="from a test", tags=["test"], registered_by=by, **more,
    )  # fmt: skip


def registered(root: str, version: str) -> Model:
    """Return the Model artifact that names `version` of the registry at `root`, as register_model outputs it."""
    return Model(
        name="registered_model", uri="", metadata={"registry": registry_at(root).storage.uri, "model_name": NAME,
                                                   "version": version},
    )  # fmt: skip


def validate(
    root: str, version: str, dataset: Dataset, tmp_path: Path, thresholds: dict, **kwargs: object
) -> tuple[bool, Metrics, Artifact]:
    metrics = Metrics(name="metrics", uri=str(tmp_path / f"validate-{version}" / "metrics"), metadata={})
    report = Artifact(name="report", uri=str(tmp_path / f"validate-{version}" / "report"), metadata={})
    Path(report.path).parent.mkdir(parents=True, exist_ok=True)
    passed = validate_model.python_func(
        dataset=dataset, model=registered(root, version), registry_root=root, metrics=metrics, report=report,
        thresholds=thresholds, **kwargs,
    )  # fmt: skip
    return passed, metrics, report


def promote(root: str, version: str, stage: str, approved_by: str = "", actor: str = "") -> str:
    return promote_model.python_func(
        registry_root=root, model_name=NAME, version=version, stage=stage, approved_by=approved_by, reason="test",
        actor=actor,
    )  # fmt: skip


def deploy(root: str, version: str, endpoint: str, tmp_path: Path, **kwargs: object) -> tuple[str, Artifact, Artifact]:
    vertex_model = VertexModel(name="vertex_model", uri=str(tmp_path / f"deploy-{version}" / "vertex_model"))
    vertex_endpoint = VertexEndpoint(
        name="vertex_endpoint", uri=str(tmp_path / f"deploy-{version}" / "vertex_endpoint")
    )
    deployed_id = deploy_model.python_func(
        registry_root=root, model=registered(root, version), endpoint_name=endpoint, vertex_model=vertex_model,
        vertex_endpoint=vertex_endpoint, **kwargs,
    )  # fmt: skip
    return deployed_id, vertex_model, vertex_endpoint


def to_production(root: str, version: str, approver: str = "bob") -> None:
    for stage in ("validation", "staging"):
        promote(root, version, stage)
    promote(root, version, "production", approved_by=approver)


def stages(root: str) -> dict[str, ModelStage]:
    return {m.version: m.stage for m in registry_at(root).list_versions(NAME)}


# ------------------------------------------------------------------------------------------------ generate_data


def test_generate_data_writes_shards_of_each_split_into_the_dataset_folder(dataset: Dataset) -> None:
    for split in ("train", "validation", "test"):
        files = dataset.metadata[split]
        assert len(files) == 2, split
        for file in files:
            assert Path(file).is_file()
            assert Path(file).stat().st_size > 0
            assert Path(file).parent == Path(dataset.path)
            assert Path(file).name.startswith(f"{split}-")


def test_generate_data_records_the_split_sizes_in_the_metadata(dataset: Dataset) -> None:
    assert dataset.metadata["num_train"] == NUM_TRAIN
    assert dataset.metadata["num_validation"] == NUM_VALIDATION
    assert dataset.metadata["num_test"] == NUM_TEST
    assert json.loads(json.dumps(dataset.metadata)) == dataset.metadata  # JSON-safe, as kfp writes it


def test_generate_data_with_a_source_uri_lists_the_existing_shards_without_writing(
    dataset: Dataset, tmp_path: Path
) -> None:
    found = Dataset(name="dataset", uri=str(tmp_path / "found"), metadata={})
    generate_data.python_func(dataset=found, source_uri=dataset.uri)
    for split in ("train", "validation", "test"):
        assert found.metadata[split] == dataset.metadata[split]
    assert found.metadata["num_train"] == NUM_TRAIN
    assert not Path(found.path).exists()


def test_generate_data_with_a_source_uri_that_holds_no_shards_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    found = Dataset(name="dataset", uri=str(tmp_path / "found"), metadata={})
    with pytest.raises(ValueError, match="no train-"):
        generate_data.python_func(dataset=found, source_uri=str(empty))


# -------------------------------------------------------------------------------------------------- train_model


def test_train_model_exports_a_saved_model_into_the_model_path(trained: Trained) -> None:
    folder = Path(trained.model.path)
    assert (folder / "saved_model.pb").is_file()
    assert (folder / "variables").is_dir()


def test_train_model_logs_metrics_and_puts_them_in_the_model_metadata(trained: Trained) -> None:
    logged = trained.metrics.metadata
    assert {"accuracy", "loss"} <= set(logged)
    assert 0.0 <= logged["accuracy"] <= 1.0
    assert trained.model.metadata["metrics"] == logged


def test_train_model_puts_the_validated_config_in_the_model_metadata(trained: Trained) -> None:
    metadata = trained.model.metadata
    assert metadata["framework"] == "tensorflow"
    assert metadata["config"]["epochs"] == 1
    assert metadata["config"]["batch_size"] == 64  # the defaults are filled in
    assert metadata["config"]["hidden_units"] == [32, 16]


def test_train_model_logs_a_square_confusion_matrix_over_the_validation_split(trained: Trained) -> None:
    matrix = trained.classification_metrics.metadata["confusionMatrix"]
    classes = [spec["displayName"] for spec in matrix["annotationSpecs"]]
    rows = [row["row"] for row in matrix["rows"]]
    assert len(classes) >= 2
    assert len(rows) == len(classes)
    assert all(len(row) == len(classes) for row in rows)
    assert sum(map(sum, rows)) == NUM_VALIDATION


def test_train_model_refuses_an_unknown_config_key(dataset: Dataset, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no_such_option"):
        train_model.python_func(
            dataset=dataset,
            model=Model(name="model", uri=str(tmp_path / "model"), metadata={}),
            metrics=Metrics(name="metrics", uri=str(tmp_path / "metrics"), metadata={}),
            classification_metrics=ClassificationMetrics(name="cm", uri=str(tmp_path / "cm"), metadata={}),
            model_config={"no_such_option": 1},
        )
    assert not (tmp_path / "model").exists()


# ----------------------------------------------------------------------------------------------- register_model


def test_register_model_returns_the_new_version_in_development(root: str, trained: Trained, dataset: Dataset) -> None:
    assert register(root, trained, dataset) == "v1"
    assert register(root, trained, dataset) == "v2"
    metadata = registry_at(root).get_model_metadata(NAME, "v2")
    assert metadata.stage is ModelStage.DEVELOPMENT
    assert metadata.framework == "tensorflow"
    assert metadata.registered_by == "alice"
    assert metadata.description == "from a test"
    assert "test" in metadata.tags


def test_register_model_records_the_pipeline_run_and_the_training_shards_as_lineage(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    version = register(root, trained, dataset, run="eyewear-train-and-register-20260101")
    lineage = registry_at(root).get_model_metadata(NAME, version).lineage
    assert lineage.pipeline_run == "eyewear-train-and-register-20260101"
    assert list(lineage.training_data_uris) == dataset.metadata["train"]
    assert lineage.code_version


def test_register_model_records_why_a_monitor_had_the_version_trained(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    report = "file:///registry/monitoring/shop/reports/20261129T190000Z-ab12.html"
    version = register(root, trained, dataset, trigger_reason="drift in face_width_mm\n(0.41 > 0.2)",
                       trigger_report=report)  # fmt: skip
    extra = registry_at(root).get_model_metadata(NAME, version).lineage.extra
    assert extra["trained_because"] == "drift in face_width_mm (0.41 > 0.2)"
    assert extra["monitoring_report"] == report


def test_register_model_without_a_trigger_records_no_reason(root: str, trained: Trained, dataset: Dataset) -> None:
    extra = registry_at(root).get_model_metadata(NAME, register(root, trained, dataset)).lineage.extra
    assert "trained_because" not in extra
    assert "monitoring_report" not in extra


def test_register_model_derives_training_data_uris_from_the_dataset_uri_not_its_mounted_path(
    root: str, trained: Trained
) -> None:
    # on Vertex the dataset's files are written under its /gcs/ mount; lineage must name the gs:// objects
    remote = Dataset(name="dataset", uri="gs://runs/r1/generate-data/dataset", metadata={})
    remote.metadata["train"] = [f"{remote.path}/train-0000{i}-of-00002.tfrecord" for i in range(2)]
    assert remote.path.startswith("/gcs/")
    version = register(root, trained, remote)
    lineage = registry_at(root).get_model_metadata(NAME, version).lineage
    assert list(lineage.training_data_uris) == [
        "gs://runs/r1/generate-data/dataset/train-00000-of-00002.tfrecord",
        "gs://runs/r1/generate-data/dataset/train-00001-of-00002.tfrecord",
    ]


def test_register_model_records_the_metrics_of_the_model_artifact(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    version = register(root, trained, dataset)
    metrics = registry_at(root).get_model_metadata(NAME, version).metrics.as_dict()
    assert metrics["accuracy"] == pytest.approx(trained.metrics.metadata["accuracy"])


def test_register_model_revalidates_the_config_so_float_integers_are_recorded_as_ints(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    # what kfp hands the next task: every integer in artifact metadata has become a float
    config = trained.model.metadata["config"]
    floated = {k: ([float(x) for x in v] if isinstance(v, list) else float(v)) for k, v in config.items()}
    assert floated["epochs"] == 1.0
    assert isinstance(floated["epochs"], float)
    model = trained_again(trained, root)
    model.metadata["config"] = floated
    version = register(root, trained, dataset, model=model)
    params = registry_at(root).get_model_metadata(NAME, version).params
    assert params["epochs"] == 1
    assert type(params["epochs"]) is int
    assert type(params["batch_size"]) is int
    assert params["hidden_units"] == "32,16"
    assert params["learning_rate"] == pytest.approx(config["learning_rate"])


def test_register_model_refuses_a_bad_model_name(root: str, trained: Trained, dataset: Dataset) -> None:
    with pytest.raises(RegistryError):
        register_model.python_func(
            model=trained.model, dataset=dataset, registry_root=root, model_name="../escape", pipeline_run="r",
            registered_model=Model(name="registered_model", uri="", metadata={}),
        )


# ----------------------------------------------------------------------------------------------- validate_model


def test_validate_model_records_holdout_metrics_and_a_pass_on_the_version(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    passed, metrics, _ = validate(root, version, dataset, tmp_path, EASY)
    assert passed is True
    metadata = registry_at(root).get_model_metadata(NAME, version)
    assert metadata.stage is ModelStage.VALIDATION
    assert metadata.annotations["validation"] == "passed"
    assert metadata.annotations["validation_reason"].startswith("passed: accuracy")
    assert metadata.annotations["validation_champion"] == ""
    recorded = metadata.metrics.as_dict()
    assert recorded["holdout_accuracy"] == pytest.approx(metrics.metadata["holdout_accuracy"])
    assert recorded["accuracy"] == pytest.approx(trained.metrics.metadata["accuracy"])  # training metrics kept


def test_validate_model_writes_the_decision_into_the_report_artifact(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    passed, metrics, report = validate(root, version, dataset, tmp_path, EASY)
    decision = json.loads(Path(report.path).read_text())
    assert decision["passed"] is passed is True
    assert decision["metrics"]["accuracy"] == pytest.approx(metrics.metadata["holdout_accuracy"])
    assert decision["champion_version"] is None
    assert report.metadata == {"passed": True, "reason": decision["reason"], "champion_version": ""}


def test_validate_model_compares_with_the_production_champion(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    champion = register(root, trained, dataset)
    to_production(root, champion)
    challenger = register(root, trained, dataset)
    passed, metrics, report = validate(root, challenger, dataset, tmp_path, EASY, max_regression=0.0)
    assert passed is True  # the same weights: no regression
    annotations = registry_at(root).get_model_metadata(NAME, challenger).annotations
    assert annotations["validation_champion"] == champion
    assert f"vs champion {champion}" in annotations["validation_reason"]
    assert metrics.metadata["champion_accuracy"] == pytest.approx(metrics.metadata["holdout_accuracy"])
    assert report.metadata["champion_version"] == champion
    assert stages(root) == {champion: ModelStage.PRODUCTION, challenger: ModelStage.VALIDATION}


def test_validate_model_fails_a_version_below_the_thresholds_but_keeps_it_registered(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    passed, _, report = validate(root, version, dataset, tmp_path, IMPOSSIBLE)
    assert passed is False
    metadata = registry_at(root).get_model_metadata(NAME, version)
    assert metadata.stage is ModelStage.VALIDATION
    assert metadata.annotations["validation"] == "failed"
    assert metadata.annotations["validation_reason"].startswith("failed: accuracy")
    assert "< 0.9900" in metadata.annotations["validation_reason"]
    assert report.metadata["passed"] is False


def test_a_version_that_failed_validation_cannot_be_promoted_to_staging(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    validate(root, version, dataset, tmp_path, IMPOSSIBLE)
    with pytest.raises(LifecycleError, match="failed validation"):
        promote(root, version, "staging")
    assert stages(root) == {version: ModelStage.VALIDATION}


def test_validate_model_fails_a_threshold_on_a_metric_it_does_not_compute(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    passed, _, _ = validate(root, version, dataset, tmp_path, {"no_such_metric": 0.5})
    assert passed is False
    reason = registry_at(root).get_model_metadata(NAME, version).annotations["validation_reason"]
    assert reason == "failed: no_such_metric is missing"


# ------------------------------------------------------------------------------------------------ promote_model


def test_promote_model_moves_a_version_along_the_transition_table(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    version = register(root, trained, dataset)
    assert promote(root, version, "validation") == "validation"
    assert promote(root, version, "staging") == "staging"
    assert stages(root) == {version: ModelStage.STAGING}


def test_promote_model_refuses_a_transition_that_is_not_in_the_table(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    version = register(root, trained, dataset)
    with pytest.raises(InvalidTransitionError, match="allowed: validation, archived"):
        promote(root, version, "production", approved_by="bob")
    assert stages(root) == {version: ModelStage.DEVELOPMENT}


def test_promote_model_refuses_production_without_an_approval(root: str, trained: Trained, dataset: Dataset) -> None:
    version = register(root, trained, dataset)
    promote(root, version, "validation")
    promote(root, version, "staging")
    with pytest.raises(ApprovalRequiredError):
        promote(root, version, "production")
    assert stages(root) == {version: ModelStage.STAGING}


def test_promote_model_refuses_the_registrant_as_approver(root: str, trained: Trained, dataset: Dataset) -> None:
    version = register(root, trained, dataset, by="alice")
    promote(root, version, "validation")
    promote(root, version, "staging")
    with pytest.raises(ApprovalError, match="four-eyes"):
        promote(root, version, "production", approved_by="alice")
    assert stages(root) == {version: ModelStage.STAGING}


def test_promote_model_to_production_approved_by_another_person_archives_the_previous_holder(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    first = register(root, trained, dataset, by="alice")
    to_production(root, first)
    second = register(root, trained, dataset, by="alice")
    promote(root, second, "validation")
    promote(root, second, "staging")
    assert promote(root, second, "production", approved_by="bob") == "production"
    assert stages(root) == {first: ModelStage.ARCHIVED, second: ModelStage.PRODUCTION}
    approvals = registry_at(root).get_model_metadata(NAME, second).approvals
    assert [(a.approver, a.stage) for a in approvals] == [("bob", ModelStage.PRODUCTION)]


# ----------------------------------------------------------------------------------------------- rollback_model


def test_rollback_model_restores_the_previous_production_version(root: str, trained: Trained, dataset: Dataset) -> None:
    first = register(root, trained, dataset)
    to_production(root, first)
    second = register(root, trained, dataset)
    to_production(root, second)
    restored = rollback_model.python_func(registry_root=root, model_name=NAME, reason="bad release")
    assert restored == first
    assert stages(root) == {first: ModelStage.PRODUCTION, second: ModelStage.ARCHIVED}
    assert registry_at(root).history(NAME)[-1].reason == "bad release"


def test_rollback_model_without_an_earlier_production_version_is_refused(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    version = register(root, trained, dataset)
    to_production(root, version)
    with pytest.raises(LifecycleError, match="no earlier production version"):
        rollback_model.python_func(registry_root=root, model_name=NAME)
    assert stages(root) == {version: ModelStage.PRODUCTION}


def test_rollback_model_with_an_endpoint_puts_the_previous_version_back_on_it(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    first = register(root, trained, dataset)
    to_production(root, first)
    deploy(root, first, "shop", tmp_path)
    second = register(root, trained, dataset)
    to_production(root, second)
    deploy(root, second, "shop", tmp_path)
    restored = rollback_model.python_func(registry_root=root, model_name=NAME, endpoint_name="shop")
    assert restored == first
    record = registry_at(root).endpoints.get_endpoint("shop")
    serving = {d.id: d.version for d in record.deployments}
    assert {serving[i]: percent for i, percent in record.traffic.items() if percent} == {first: 100}


def test_rollback_model_to_an_unknown_endpoint_is_refused_before_anything_changes(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    first = register(root, trained, dataset)
    to_production(root, first)
    second = register(root, trained, dataset)
    to_production(root, second)
    with pytest.raises(EndpointNotFoundError):
        rollback_model.python_func(registry_root=root, model_name=NAME, endpoint_name="nowhere")
    assert stages(root) == {first: ModelStage.ARCHIVED, second: ModelStage.PRODUCTION}


# ------------------------------------------------------------------------------------------------- deploy_model


def test_deploy_model_deploys_the_version_to_the_endpoint_and_returns_the_deployed_id(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    deployed_id, _, _ = deploy(root, version, "shop", tmp_path)
    registry = registry_at(root)
    (deployment,) = registry.get_model_metadata(NAME, version).deployments
    assert (deployment.endpoint, deployment.target, deployment.traffic_percent) == ("shop", "local", 100)
    assert deployment.deployed_model_id == deployed_id
    record = registry.endpoints.get_endpoint("shop")
    assert [(d.id, d.model_name, d.version) for d in record.deployments] == [(deployed_id, NAME, version)]
    assert record.traffic == {deployed_id: 100}


def test_deploy_model_on_the_local_target_leaves_the_vertex_artifacts_empty(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    _, vertex_model, vertex_endpoint = deploy(root, version, "shop", tmp_path)
    assert vertex_model.metadata == {}
    assert vertex_endpoint.metadata == {}


def test_deploy_model_with_a_traffic_share_splits_the_endpoint(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    first = register(root, trained, dataset)
    first_id, _, _ = deploy(root, first, "shop", tmp_path)
    second = register(root, trained, dataset)
    second_id, _, _ = deploy(root, second, "shop", tmp_path, traffic_percent=10)
    assert registry_at(root).endpoints.get_endpoint("shop").traffic == {first_id: 90, second_id: 10}


def test_deploy_model_of_an_unknown_version_fails_with_a_registry_error(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    register(root, trained, dataset)
    with pytest.raises(RegistryError):
        deploy(root, "v9", "shop", tmp_path)
    with pytest.raises(RegistryError):
        registry_at(root).endpoints.get_endpoint("shop")


# ------------------------------------------------------- issue 9: registry root, idempotency, identity, lineage


def test_register_model_outputs_the_registered_version_as_a_model_artifact(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    output = Model(name="registered_model", uri="", metadata={})
    version = register(root, trained, dataset, output=output)
    metadata = registry_at(root).get_model_metadata(NAME, version)
    assert output.uri == metadata.artifact_uri
    assert output.metadata == {
        "registry": registry_at(root).storage.uri, "model_name": NAME, "version": version,
        "artifact_digest": metadata.artifact_digest, "registered_by": "alice",
    }  # fmt: skip


def test_registering_the_same_trained_artifact_again_returns_its_version(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    # what a retried register task, or a run whose training came from the cache, does: the same Model artifact again
    model = trained_again(trained, root)
    first = register(root, trained, dataset, model=model, run="run-1")
    again = register(root, trained, dataset, model=model, run="run-2")
    assert again == first == "v1"
    assert [m.version for m in registry_at(root).list_versions(NAME)] == ["v1"]
    assert [e.action.value for e in registry_at(root).history(NAME)] == ["registered"]
    lineage = registry_at(root).get_model_metadata(NAME, first).lineage
    assert lineage.extra["idempotency_key"] == model.uri
    assert lineage.pipeline_run == "run-1"


def test_a_changed_artifact_at_the_same_uri_is_a_new_version(root: str, trained: Trained, dataset: Dataset) -> None:
    model = trained_again(trained, root)
    assert register(root, trained, dataset, model=model) == "v1"
    (Path(model.path) / "notes.txt").write_text("retrained in place")
    assert register(root, trained, dataset, model=model) == "v2"


def test_a_registry_task_never_falls_back_to_the_default_registry(
    trained: Trained, dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_REGISTRY_ROOT", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    with pytest.raises(InvalidInputError, match="registry_root is required"):
        register("", trained, dataset, model=trained.model)
    with pytest.raises(InvalidInputError, match="registry_root is required"):
        promote_model.python_func(registry_root="", model_name=NAME, version="v1", stage="validation")
    assert not (tmp_path / "data-home").exists()


@pytest.mark.parametrize(
    ("local_root", "hint"),
    [("/home/registry/.local/share/model-registry", ""), ("/gcs/bucket/registry", "use gs://bucket/registry")],
)
def test_in_a_container_a_registry_task_refuses_a_local_root(
    local_root: str, hint: str, trained: Trained, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_CONTAINER", "1")  # as the project's image sets it
    with pytest.raises(InvalidInputError, match="thrown away when the task ends") as caught:
        register(local_root, trained, dataset, model=trained.model)
    assert hint in str(caught.value)
    assert not Path(local_root).exists()


def test_validate_and_deploy_refuse_a_model_artifact_of_another_registry(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    other = str(tmp_path / "other-registry")
    with pytest.raises(InvalidInputError, match="not of"):
        validate_model.python_func(
            dataset=dataset, model=registered(root, version), registry_root=other,
            metrics=Metrics(name="m", uri=str(tmp_path / "m"), metadata={}),
            report=Artifact(name="r", uri=str(tmp_path / "r"), metadata={}),
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="not a registered version"):
        deploy_model.python_func(
            registry_root=root, model=Model(name="m", uri="", metadata={}), endpoint_name="shop",
            vertex_model=VertexModel(name="vm", uri=str(tmp_path / "vm")),
            vertex_endpoint=VertexEndpoint(name="ve", uri=str(tmp_path / "ve")),
        )  # fmt: skip


def test_promote_model_to_the_stage_the_version_is_in_changes_nothing(
    root: str, trained: Trained, dataset: Dataset
) -> None:
    version = register(root, trained, dataset)
    assert promote(root, version, "validation") == "validation"
    entries = len(registry_at(root).history(NAME))
    assert promote(root, version, "validation") == "validation"  # a retry of a promotion that had landed
    assert len(registry_at(root).history(NAME)) == entries


def test_deploy_model_again_with_the_same_share_keeps_the_deployment(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    version = register(root, trained, dataset)
    first_id, _, _ = deploy(root, version, "shop", tmp_path)
    again_id, _, _ = deploy(root, version, "shop", tmp_path)  # a retry of a deploy that had landed
    assert again_id == first_id
    record = registry_at(root).endpoints.get_endpoint("shop")
    assert [d.id for d in record.deployments] == [first_id]
    assert [e.action for e in record.history] == ["deployed"]


def test_every_registry_component_records_the_actor_it_is_given(
    root: str, trained: Trained, dataset: Dataset, tmp_path: Path
) -> None:
    first = register(root, trained, dataset, by="pipeline@p.iam.gserviceaccount.com")
    validate(root, first, dataset, tmp_path, EASY, actor="validator@p.iam.gserviceaccount.com")
    promote(root, first, "staging", actor="stager@p.iam.gserviceaccount.com")
    promote(root, first, "production", approved_by="bob", actor="releaser@p.iam.gserviceaccount.com")
    deploy(root, first, "shop", tmp_path, actor="deployer@p.iam.gserviceaccount.com")
    second = register(root, trained, dataset, by="pipeline@p.iam.gserviceaccount.com")
    to_production(root, second)
    rollback_model.python_func(registry_root=root, model_name=NAME, actor="oncall@p.iam.gserviceaccount.com")

    actors = [(e.action.value, e.version, e.actor) for e in registry_at(root).history(NAME)]
    assert ("registered", first, "pipeline@p.iam.gserviceaccount.com") in actors
    assert ("annotated", first, "validator@p.iam.gserviceaccount.com") in actors
    assert ("stage_changed", first, "stager@p.iam.gserviceaccount.com") in actors
    assert ("approved", first, "bob") in actors
    assert actors[-1][2] == "oncall@p.iam.gserviceaccount.com"
    history = registry_at(root).history(NAME)
    stage_changes = [e for e in history if e.to_stage is ModelStage.PRODUCTION and e.action.value == "stage_changed"]
    assert stage_changes[0].actor == "releaser@p.iam.gserviceaccount.com"
    (deployment,) = registry_at(root).endpoints.get_endpoint("shop").deployments
    assert deployment.deployed_by == "deployer@p.iam.gserviceaccount.com"
