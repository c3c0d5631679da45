"""Compiling the train-and-register pipeline: the YAML's interface, images, conditions and caching, and that
Vertex AI's SDK accepts it (a PipelineJob built locally, never submitted)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.image import DEFAULT_IMAGE  # noqa: E402
from pipelines.compile import compile_pipeline  # noqa: E402
from pipelines.image import executor_images  # noqa: E402
from pipelines.train_and_register import PIPELINE_NAME  # noqa: E402
from registry_core.cli import main  # noqa: E402

Spec = dict[str, Any]

REQUIRED = object()
EXPECTED_PARAMETERS: dict[str, tuple[str, Any]] = {
    "registry_root": ("STRING", REQUIRED),
    "model_name": ("STRING", "eyewear-recommender"),
    "data_source_uri": ("STRING", ""),
    "num_train": ("NUMBER_INTEGER", 2000),
    "num_validation": ("NUMBER_INTEGER", 500),
    "num_test": ("NUMBER_INTEGER", 500),
    "data_seed": ("NUMBER_INTEGER", 0),
    "data_drift": ("STRUCT", {}),
    "data_thresholds": ("STRUCT", {}),
    "model_config": ("STRUCT", {"epochs": 3}),
    "thresholds": ("STRUCT", {"accuracy": 0.5}),
    "primary_metric": ("STRING", "accuracy"),
    "max_regression": ("NUMBER_DOUBLE", 0.02),
    "promote_to_staging": ("BOOLEAN", True),
    "promote_to_production": ("BOOLEAN", False),
    "approved_by": ("STRING", ""),
    "deploy": ("BOOLEAN", False),
    "endpoint_name": ("STRING", "eyewear-local"),
    "deploy_target": ("STRING", "local"),
    "traffic_percent": ("NUMBER_INTEGER", 100),
    "deploy_settings": ("STRUCT", {}),
    "description": ("STRING", ""),
    "tags": ("LIST", []),
    "registered_by": ("STRING", ""),
    "trigger_reason": ("STRING", ""),
    "trigger_report": ("STRING", ""),
}
STATEFUL = ("register-model", "validate-model", "promote-model", "promote-model-2", "deploy-model", "deploy-model-2")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_pipeline(tmp_path_factory.mktemp("compiled") / "nested" / "pipeline.yaml")


@pytest.fixture(scope="module")
def spec(compiled: Path) -> Spec:
    return yaml.safe_load(compiled.read_text())


def tasks(spec: Spec, dag: Spec | None = None, conditions: tuple[Spec, ...] = ()) -> Iterator[tuple[str, Spec, tuple]]:
    """Yield (task name, task, the condition tasks it is nested in, outermost first) for every task of the DAG."""
    dag = spec["root"]["dag"] if dag is None else dag
    for name, task in dag["tasks"].items():
        component = spec["components"][task["componentRef"]["name"]]
        if "dag" in component:
            yield from tasks(spec, component["dag"], (*conditions, task))
        else:
            yield name, task, conditions


def task_named(spec: Spec, wanted: str) -> tuple[Spec, tuple]:
    (found,) = [(task, conditions) for name, task, conditions in tasks(spec) if name == wanted]
    return found


def condition_texts(conditions: tuple) -> list[str]:
    """Return the trigger conditions, outermost first (If/Else branch groups have none and are left out)."""
    return [c["triggerPolicy"]["condition"] for c in conditions if "triggerPolicy" in c]


def dependencies(conditions: tuple) -> set[str]:
    return {name for c in conditions for name in c.get("dependentTasks", [])}


def test_the_compiled_pipeline_is_named_after_the_pipeline(spec: Spec) -> None:
    assert spec["pipelineInfo"]["name"] == PIPELINE_NAME == "eyewear-train-and-register"


def test_compile_creates_missing_parent_folders_and_returns_the_path(compiled: Path) -> None:
    assert compiled.is_file()
    assert compiled.parent.name == "nested"


def test_the_root_parameters_are_the_pipeline_arguments_with_their_defaults(spec: Spec) -> None:
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == set(EXPECTED_PARAMETERS)
    for name, (kind, default) in EXPECTED_PARAMETERS.items():
        assert parameters[name]["parameterType"] == kind, name
        if default is REQUIRED:
            assert "defaultValue" not in parameters[name], name
            assert not parameters[name].get("isOptional", False), name
        else:
            assert parameters[name]["defaultValue"] == default, name
            assert parameters[name]["isOptional"] is True, name


def test_the_pipeline_outputs_the_registered_version(spec: Spec) -> None:
    assert spec["root"]["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "STRING"
    output = spec["root"]["dag"]["outputs"]["parameters"]["Output"]["valueFromParameter"]
    assert output == {"outputParameterKey": "Output", "producerSubtask": "register-model"}


def test_every_executor_runs_in_the_project_image(spec: Spec) -> None:
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {DEFAULT_IMAGE}


def test_no_executor_installs_packages_at_run_time(spec: Spec) -> None:
    for name, executor in spec["deploymentSpec"]["executors"].items():
        command = " ".join(executor["container"]["command"])
        assert "pip install" not in command, name
        assert "kfp.dsl.executor_main" in command, name


def test_the_pipeline_has_one_task_per_step(spec: Spec) -> None:
    names = {name for name, _, _ in tasks(spec)}
    assert names == {"generate-data", "validate-data", "check-data-validation", "train-model", *STATEFUL}


def test_training_waits_for_the_data_gate_which_takes_the_data_validation_status(spec: Spec) -> None:
    train, _ = task_named(spec, "train-model")
    assert "check-data-validation" in train["dependentTasks"]
    gate, conditions = task_named(spec, "check-data-validation")
    assert conditions == ()
    status = gate["inputs"]["parameters"]["status"]["taskOutputParameter"]
    assert status == {"outputParameterKey": "Output", "producerTask": "validate-data"}


def test_the_data_validation_is_never_cached_and_register_stores_its_profile(spec: Spec) -> None:
    task, _ = task_named(spec, "validate-data")
    assert not task.get("cachingOptions", {}).get("enableCache", False)
    register, _ = task_named(spec, "register-model")
    artifacts = register["inputs"]["artifacts"]
    assert artifacts["data_profile"]["taskOutputArtifact"] == {
        "outputArtifactKey": "profile",
        "producerTask": "validate-data",
    }
    assert artifacts["data_validation"]["taskOutputArtifact"]["outputArtifactKey"] == "summary"


def test_register_takes_the_trigger_reason_and_report_of_the_run(spec: Spec) -> None:
    register, _ = task_named(spec, "register-model")
    parameters = register["inputs"]["parameters"]
    assert parameters["trigger_reason"] == {"componentInputParameter": "trigger_reason"}
    assert parameters["trigger_report"] == {"componentInputParameter": "trigger_report"}


def test_data_training_and_registration_run_unconditionally(spec: Spec) -> None:
    for name in ("generate-data", "train-model", "register-model", "validate-model"):
        assert task_named(spec, name)[1] == (), name


def test_staging_is_promoted_only_when_validation_passed_and_staging_is_asked(spec: Spec) -> None:
    task, conditions = task_named(spec, "promote-model")
    outer, inner = condition_texts(conditions)
    assert outer == "inputs.parameter_values['pipelinechannel--validate-model-Output'] == true"
    assert inner == "inputs.parameter_values['pipelinechannel--promote_to_staging'] == true"
    assert conditions[0]["dependentTasks"] == ["register-model", "validate-model"]
    assert task["inputs"]["parameters"]["stage"]["runtimeValue"]["constant"] == "staging"


def test_production_is_promoted_after_staging_inside_the_validation_condition(spec: Spec) -> None:
    task, conditions = task_named(spec, "promote-model-2")
    texts = condition_texts(conditions)
    assert len(texts) == 3
    assert "validate-model-Output" in texts[0]
    assert texts[2] == "inputs.parameter_values['pipelinechannel--promote_to_production'] == true"
    assert "promote-model" in dependencies(conditions)
    parameters = task["inputs"]["parameters"]
    assert parameters["stage"]["runtimeValue"]["constant"] == "production"
    assert parameters["approved_by"] == {"componentInputParameter": "pipelinechannel--approved_by"}


def test_deploy_runs_after_production_when_production_is_asked(spec: Spec) -> None:
    task, conditions = task_named(spec, "deploy-model")
    texts = condition_texts(conditions)
    assert "validate-model-Output" in texts[0]
    assert texts[-2] == "inputs.parameter_values['pipelinechannel--promote_to_production'] == true"
    assert texts[-1] == "inputs.parameter_values['pipelinechannel--deploy'] == true"
    assert conditions[-1]["dependentTasks"] == ["promote-model-2"]
    _assert_deploy_parameters(task)


def test_deploy_runs_after_staging_otherwise(spec: Spec) -> None:
    task, conditions = task_named(spec, "deploy-model-2")
    texts = condition_texts(conditions)
    assert "validate-model-Output" in texts[0]
    assert texts[-2] == "!(inputs.parameter_values['pipelinechannel--promote_to_production'] == true)"
    assert texts[-1] == "inputs.parameter_values['pipelinechannel--deploy'] == true"
    assert "promote-model" in dependencies(conditions)
    _assert_deploy_parameters(task)


def _assert_deploy_parameters(task: Spec) -> None:
    parameters = task["inputs"]["parameters"]
    for parameter, pipeline_parameter in [
        ("endpoint_name", "endpoint_name"),
        ("target", "deploy_target"),
        ("traffic_percent", "traffic_percent"),
        ("target_settings", "deploy_settings"),
    ]:
        assert parameters[parameter] == {"componentInputParameter": f"pipelinechannel--{pipeline_parameter}"}


def test_registry_tasks_are_never_cached(spec: Spec) -> None:
    for name in STATEFUL:
        task, _ = task_named(spec, name)
        assert not task.get("cachingOptions", {}).get("enableCache", False), name


def test_data_and_training_tasks_may_be_cached(spec: Spec) -> None:
    for name in ("generate-data", "train-model"):
        assert task_named(spec, name)[0]["cachingOptions"]["enableCache"] is True, name


def test_the_yaml_loads_into_a_vertex_pipeline_job_without_network(compiled: Path) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    job = aiplatform.PipelineJob(
        display_name="eyewear-nightly",
        template_path=str(compiled),
        pipeline_root="gs://bucket/root",
        parameter_values={"registry_root": "gs://bucket/registry", "thresholds": {"accuracy": 0.7}, "num_train": 100},
        project="p",
        location="us-central1",
        credentials=AnonymousCredentials(),
    )
    resource = job.to_dict()
    assert resource["displayName"] == "eyewear-nightly"
    assert resource["pipelineSpec"]["pipelineInfo"]["name"] == PIPELINE_NAME
    runtime = resource["runtimeConfig"]
    assert runtime["gcsOutputDirectory"] == "gs://bucket/root"
    assert runtime["parameterValues"]["registry_root"] == "gs://bucket/registry"
    assert runtime["parameterValues"]["thresholds"] == {"accuracy": 0.7}


def test_a_vertex_pipeline_job_refuses_a_parameter_the_pipeline_does_not_have(compiled: Path) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    with pytest.raises(ValueError, match="no_such_parameter"):
        aiplatform.PipelineJob(
            display_name="eyewear-nightly",
            template_path=str(compiled),
            pipeline_root="gs://bucket/root",
            parameter_values={"no_such_parameter": 1},
            project="p",
            location="us-central1",
            credentials=AnonymousCredentials(),
        )


def test_the_cli_compile_command_writes_the_same_yaml(
    spec: Spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cli.yaml"
    assert main(["pipeline", "compile", "-o", str(output)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {output}"
    assert yaml.safe_load(output.read_text()) == spec


def test_the_registry_image_variable_at_compile_time_sets_every_executor_image(tmp_path: Path) -> None:
    image = "europe-docker.pkg.dev/acme/ml/model-registry-python:9.9.9"
    assert image != DEFAULT_IMAGE
    output = tmp_path / "custom.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "registry_core", "pipeline", "compile", "-o", str(output)],
        env=os.environ | {"REGISTRY_IMAGE": image},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    executors = yaml.safe_load(output.read_text())["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {image}


# ------------------------------------------------------------------------------------------ image (issue 9, point 2)

DIGEST_IMAGE = "europe-west4-docker.pkg.dev/acme/ml/model-registry-python@sha256:" + "ab" * 32


def test_compile_with_an_image_pins_it_as_given_in_every_executor(tmp_path: Path) -> None:
    output = tmp_path / "pinned.yaml"
    assert main(["pipeline", "compile", "-o", str(output), "--image", DIGEST_IMAGE]) == 0
    text = output.read_text()
    assert text.startswith("# PIPELINE DEFINITION")  # kfp's layout is kept
    assert executor_images(yaml.safe_load(text)) == {DIGEST_IMAGE}
    assert DEFAULT_IMAGE not in text


def test_the_image_variable_is_read_when_the_command_runs_not_when_components_are_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import components  # already imported by this module: the variable set below comes later

    assert components.train_model is not None
    monkeypatch.setenv("REGISTRY_IMAGE", DIGEST_IMAGE)
    path = compile_pipeline(tmp_path / "env.yaml")
    assert executor_images(yaml.safe_load(path.read_text())) == {DIGEST_IMAGE}


def test_the_image_option_wins_over_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_IMAGE", "europe-docker.pkg.dev/acme/ml/other:1")
    path = compile_pipeline(tmp_path / "option.yaml", image=DIGEST_IMAGE)
    assert executor_images(yaml.safe_load(path.read_text())) == {DIGEST_IMAGE}


@pytest.mark.parametrize("reference", ["not an image", "gcr.io/acme/x:tag with space", "Upper/Case:1", "x@sha256:12"])
def test_compile_with_a_malformed_image_is_a_one_line_error(
    reference: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bad.yaml"
    assert main(["pipeline", "compile", "-o", str(output), "--image", reference]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid image reference")
    assert err.count("\n") == 1
    assert not output.exists()


# ---------------------------------------------------------------------------- registry tasks: retries, identity


def test_every_registry_task_retries_with_exponential_backoff(spec: Spec) -> None:
    for name in STATEFUL:
        policy = task_named(spec, name)[0]["retryPolicy"]
        assert policy == {
            "maxRetryCount": 3, "backoffDuration": "30s", "backoffFactor": 2.0, "backoffMaxDuration": "600s"
        }, name  # fmt: skip


def test_data_and_training_are_not_retried(spec: Spec) -> None:
    for name in ("generate-data", "train-model"):
        assert "retryPolicy" not in task_named(spec, name)[0], name


def test_registered_by_is_the_actor_of_every_registry_task(spec: Spec) -> None:
    registered_by = {"componentInputParameter": "pipelinechannel--registered_by"}
    assert task_named(spec, "register-model")[0]["inputs"]["parameters"]["registered_by"] == {
        "componentInputParameter": "registered_by"
    }
    for name in STATEFUL[1:]:
        parameters = task_named(spec, name)[0]["inputs"]["parameters"]
        assert parameters["actor"] in (registered_by, {"componentInputParameter": "registered_by"}), name


def test_the_run_is_recorded_by_its_full_resource_name(spec: Spec) -> None:
    parameters = task_named(spec, "register-model")[0]["inputs"]["parameters"]
    assert parameters["pipeline_run"] == {"runtimeValue": {"constant": "{{$.pipeline_job_resource_name}}"}}


# --------------------------------------------------------------------------------------------- lineage, regions


def test_register_outputs_a_model_that_validate_and_deploy_take_as_input(spec: Spec) -> None:
    outputs = spec["components"]["comp-register-model"]["outputDefinitions"]["artifacts"]
    assert outputs["registered_model"]["artifactType"]["schemaTitle"] == "system.Model"
    assert task_named(spec, "validate-model")[0]["inputs"]["artifacts"]["model"] == {
        "taskOutputArtifact": {"outputArtifactKey": "registered_model", "producerTask": "register-model"}
    }
    for name in ("deploy-model", "deploy-model-2"):
        assert task_named(spec, name)[0]["inputs"]["artifacts"]["model"] == {
            "componentInputArtifact": "pipelinechannel--register-model-registered_model"
        }, name


def test_deploy_defaults_project_and_location_to_the_vertex_run_s_own(spec: Spec) -> None:
    inputs = spec["components"]["comp-deploy-model"]["inputDefinitions"]["parameters"]
    assert inputs["project"]["defaultValue"] == "{{$.pipeline_google_cloud_project_id}}"
    assert inputs["location"]["defaultValue"] == "{{$.pipeline_google_cloud_location}}"
    for name in ("deploy-model", "deploy-model-2"):
        assert not {"project", "location"} & set(task_named(spec, name)[0]["inputs"]["parameters"]), name
