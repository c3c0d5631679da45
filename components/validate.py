"""Component: evaluate a registered version on holdout data against thresholds and the PRODUCTION champion."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from components.image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def validate_model(
    dataset: Input[Dataset],
    registry_root: str,
    model_name: str,
    version: str,
    metrics: Output[Metrics],
    report: Output[Artifact],
    thresholds: dict = {},  # noqa: B006 - KFP parameters take literal defaults
    primary_metric: str = "accuracy",
    max_regression: float = 0.0,
) -> bool:
    """Record the holdout metrics and the decision on the version; return whether it passed.

    `report` carries the whole decision (reason, champion and both sets of metrics) as JSON and metadata. The
    single boolean output is what kfp's local runner can use in a condition (it cannot with NamedTuple fields).
    """
    from pathlib import Path

    from registry_core import ModelRegistry
    from registry_core.integration import validate_registered_version
    from registry_core.validation import ValidationPolicy

    registry = ModelRegistry.from_uri(registry_root or None)
    policy = ValidationPolicy(thresholds=thresholds, primary_metric=primary_metric, max_regression=max_regression)
    decision = validate_registered_version(registry, model_name, version, dataset.metadata["test"], policy)
    registry.record_validation(model_name, version, decision)
    for name, value in decision.metrics.items():
        metrics.log_metric(f"holdout_{name}", value)
    for name, value in decision.champion_metrics.items():
        metrics.log_metric(f"champion_{name}", value)
    Path(report.path).write_text(decision.model_dump_json(indent=2))
    report.metadata.update({"passed": decision.passed, "reason": decision.reason,
                            "champion_version": decision.champion_version or ""})  # fmt: skip
    print(decision.reason)
    return decision.passed
