"""Component: evaluate a registered version on holdout data against thresholds and the PRODUCTION champion."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.image import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def validate_model(
    dataset: Input[Dataset],
    model: Input[Model],
    registry_root: str,
    metrics: Output[Metrics],
    report: Output[Artifact],
    thresholds: dict = {},  # noqa: B006 - KFP parameters take literal defaults
    primary_metric: str = "accuracy",
    max_regression: float = 0.0,
    actor: str = "",
) -> bool:
    """Record the holdout metrics and the decision on the version; return whether it passed.

    `model` is the registered version (register_model's `registered_model`). `report` carries the whole decision
    (reason, champion and both sets of metrics) as JSON and metadata. The single boolean output is what kfp's local
    runner can use in a condition (it cannot with NamedTuple fields).
    """
    from pathlib import Path

    from eyewear_model import TRAINER
    from registry_core.integration import validate_registered_version
    from registry_core.quality import ValidationPolicy
    from registry_core.tasks import clean_actor, open_task_registry, registered_version, whole_numbers

    registry = open_task_registry(registry_root)
    model_name, version = registered_version(registry, model.metadata)
    policy = ValidationPolicy(
        thresholds=whole_numbers(thresholds), primary_metric=primary_metric, max_regression=max_regression
    )
    decision = validate_registered_version(
        registry, model_name, version, dataset.metadata["test"], policy, trainer=TRAINER
    )
    registry.record_validation(model_name, version, decision, actor=clean_actor(actor))
    for name, value in decision.metrics.items():
        metrics.log_metric(f"holdout_{name}", value)
    for name, value in decision.champion_metrics.items():
        metrics.log_metric(f"champion_{name}", value)
    Path(report.path).write_text(decision.model_dump_json(indent=2))
    report.metadata.update({"passed": decision.passed, "reason": decision.reason,
                            "champion_version": decision.champion_version or ""})  # fmt: skip
    print(decision.reason)
    return decision.passed
