"""The train-and-register pipeline: data -> train -> register -> validate -> (passed) staging -> production/deploy."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from typing import Any

from kfp import dsl

from components import (
    check_data_validation,
    deploy_model,
    generate_data,
    promote_model,
    register_model,
    train_model,
    validate_data,
    validate_model,
)

PIPELINE_NAME = "eyewear-train-and-register"

# Retries of the tasks that change the registry (each is idempotent: registry_core.tasks). Vertex AI waits
# 30 s, 60 s, 120 s between attempts; transient failures there are quota, preemption or API hiccups.
RETRIES = 3
BACKOFF = "30s"
BACKOFF_FACTOR = 2.0
MAX_BACKOFF = "600s"


def _state_changing(task: dsl.PipelineTask, display_name: str) -> dsl.PipelineTask:
    """Name a task that changes the registry, never serve it from the cache, and let it retry."""
    task.set_display_name(display_name)
    task.set_caching_options(False)  # a cached result would skip the change
    task.set_retry(
        num_retries=RETRIES, backoff_duration=BACKOFF, backoff_factor=BACKOFF_FACTOR, backoff_max_duration=MAX_BACKOFF
    )
    return task


def _deploy(
    registry_root: Any, model: Any, endpoint_name: Any, target: Any, percent: Any, settings: Any, actor: Any
) -> dsl.PipelineTask:
    task = deploy_model(
        registry_root=registry_root, model=model, endpoint_name=endpoint_name, target=target, traffic_percent=percent,
        target_settings=settings, actor=actor,
    )  # fmt: skip
    return _state_changing(task, "deploy")


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="Train the eyewear recommender, register it, validate it against thresholds and the production "
    "champion, and promote it to staging (optionally production and an endpoint) if it passes.",
)
def train_and_register(
    registry_root: str,
    model_name: str = "eyewear-recommender",
    data_source_uri: str = "",
    num_train: int = 2000,
    num_validation: int = 500,
    num_test: int = 500,
    data_seed: int = 0,
    data_drift: dict = {},  # noqa: B006 - KFP parameters take literal defaults
    data_thresholds: dict = {},  # noqa: B006
    model_config: dict = {"epochs": 3},  # noqa: B006 - KFP parameters take literal defaults
    thresholds: dict = {"accuracy": 0.5},  # noqa: B006
    primary_metric: str = "accuracy",
    max_regression: float = 0.02,
    promote_to_staging: bool = True,
    promote_to_production: bool = False,
    approved_by: str = "",
    deploy: bool = False,
    endpoint_name: str = "eyewear-local",
    deploy_target: str = "local",
    traffic_percent: int = 100,
    deploy_settings: dict = {},  # noqa: B006
    description: str = "",
    tags: list = [],  # noqa: B006
    registered_by: str = "",
    trigger_reason: str = "",
    trigger_report: str = "",
) -> str:
    """Wire the components; every registry task gets `registry_root` (required: ``gs://`` on Vertex AI).

    `registered_by` is who registers and the actor of every later change (validation, promotions, deploy);
    "" leaves it to the registry (the job's service account on ``gs://``). `approved_by` approves production.
    `data_drift` makes the synthetic data drift (`eyewear_model.DataDrift` fields); `data_thresholds` are the data
    validation's (`ValidationThresholds.from_mapping`): data that crosses them stops the run before training.
    `trigger_reason` and `trigger_report` (set when a monitor starts the run: why, and its report's URI) go into
    the registered version's lineage.

    Returns:
        The registered version's label.
    """
    data = generate_data(
        num_train=num_train, num_validation=num_validation, num_test=num_test, seed=data_seed,
        source_uri=data_source_uri, drift=data_drift,
    ).set_display_name("data")  # fmt: skip
    # The data is checked before training against the production version's training profile. The check task
    # succeeds and records its report and profile; a separate gate fails the run when the data failed, and
    # training waits for the gate (a failed task would record no outputs on Vertex AI, and a run whose training
    # sat in a dsl.If branch could not return the registered version).
    data_checked = validate_data(
        dataset=data.outputs["dataset"], registry_root=registry_root, model_name=model_name,
        thresholds=data_thresholds,
    ).set_display_name("validate-data")  # fmt: skip
    data_checked.set_caching_options(False)  # the production version, hence the baseline, changes between runs
    gate = check_data_validation(
        status=data_checked.outputs["Output"], summary=data_checked.outputs["summary"]
    ).set_display_name("data-gate")
    trained = train_model(dataset=data.outputs["dataset"], model_config=model_config).set_display_name("train")
    trained.after(gate)
    trained.set_cpu_limit("2").set_memory_limit("4G")

    registered = register_model(
        model=trained.outputs["model"], dataset=data.outputs["dataset"], registry_root=registry_root,
        model_name=model_name, pipeline_run=dsl.PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER, description=description,
        tags=tags, registered_by=registered_by, data_profile=data_checked.outputs["profile"],
        data_validation=data_checked.outputs["summary"], trigger_reason=trigger_reason, trigger_report=trigger_report,
    )  # fmt: skip
    _state_changing(registered, "register")
    version = registered.outputs["Output"]
    model = registered.outputs["registered_model"]
    validated = validate_model(
        dataset=data.outputs["dataset"], model=model, registry_root=registry_root, thresholds=thresholds,
        primary_metric=primary_metric, max_regression=max_regression, actor=registered_by,
    )  # fmt: skip
    _state_changing(validated, "validate")

    with (
        dsl.If(validated.outputs["Output"] == True, name="validation-passed"),  # noqa: E712 - KFP condition
        dsl.If(promote_to_staging == True, name="promote-to-staging"),  # noqa: E712
    ):
        staged = promote_model(
            registry_root=registry_root, model_name=model_name, version=version, stage="staging",
            reason="validation passed", actor=registered_by,
        )  # fmt: skip
        _state_changing(staged, "promote-staging")
        # Deploy after the last promotion that runs, so a refused production promotion deploys nothing.
        with dsl.If(promote_to_production == True, name="promote-to-production"):  # noqa: E712
            released = promote_model(
                registry_root=registry_root, model_name=model_name, version=version, stage="production",
                approved_by=approved_by, reason="validation passed", actor=registered_by,
            )  # fmt: skip
            _state_changing(released, "promote-production").after(staged)
            with dsl.If(deploy == True, name="deploy-production"):  # noqa: E712
                _deploy(registry_root, model, endpoint_name, deploy_target, traffic_percent, deploy_settings,
                        registered_by).after(released)  # fmt: skip
        with dsl.Else(), dsl.If(deploy == True, name="deploy-staging"):  # noqa: E712
            _deploy(registry_root, model, endpoint_name, deploy_target, traffic_percent, deploy_settings,
                    registered_by).after(staged)  # fmt: skip
    return version
