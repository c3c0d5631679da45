"""Glue between the example eyewear model and the registry: train, register and validate in one call.

TensorFlow and the eyewear model are imported inside the functions, so `import registry_core` stays fast.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_core.errors import DependencyMissingError, InvalidInputError, VersionNotFoundError
from registry_core.metadata import Lineage, ModelMetadata, ModelStage
from registry_core.quality import ValidationDecision, ValidationPolicy, decide
from registry_core.registry import ModelRegistry

if TYPE_CHECKING:
    from eyewear_model import EyewearModelConfig

logger = logging.getLogger(__name__)

Splits = dict[str, list[str]]


def register_trained_model(
    model: Any,
    model_name: str,
    *,
    metrics: Mapping[str, float] | None = None,
    config: EyewearModelConfig | Mapping[str, Any] | None = None,
    training_data_uris: Iterable[str] = (),
    pipeline_run: str | None = None,
    code_version: str | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    registered_by: str | None = None,
    registry: ModelRegistry | None = None,
    idempotency_key: str | None = None,
) -> ModelMetadata:
    """Register a trained model: an exported SavedModel folder, or a Keras model (exported here first).

    Args:
        model: Path of a SavedModel folder, or a Keras model from `eyewear_model.train`.
        model_name: Registry model name.
        metrics: Evaluation metrics to record.
        config: The training configuration, recorded as params.
        training_data_uris: Data it was trained on (lineage).
        pipeline_run: Pipeline run that produced it (lineage).
        code_version: Version of the training code (lineage); default: this package's version.
        description: Free text.
        tags: Labels.
        registered_by: Who registers; default: the current user.
        registry: Registry to use; default: the embedded local one.
        idempotency_key: Names this registration (a pipeline registers a trained Model artifact under its URI):
            a version registered before with the same key and identical artifacts is returned instead of a new one.

    Returns:
        The new (or, by `idempotency_key`, the earlier) version's metadata.
    """
    registry = registry or ModelRegistry()
    params = _params(config)
    lineage = Lineage(
        training_data_uris=tuple(training_data_uris),
        pipeline_run=pipeline_run,
        code_version=code_version or _package_version(),
    )
    arguments: dict[str, Any] = {
        "metrics": metrics,
        "params": params,
        "description": description,
        "tags": tags,
        "lineage": lineage,
        "registered_by": registered_by,
        "idempotency_key": idempotency_key,
    }
    if isinstance(model, str | os.PathLike):
        return registry.register_model(model_name, model, framework="tensorflow", **arguments)
    eyewear = _eyewear()
    with tempfile.TemporaryDirectory(prefix="export-") as scratch:
        export_dir = eyewear.export_saved_model(model, Path(scratch) / "saved_model")
        return registry.register_model(model_name, export_dir, framework="tensorflow", **arguments)


def train_and_register_model(
    tfrecord_paths: Sequence[str] | Mapping[str, Sequence[str]] | Any,
    model_name: str,
    config: EyewearModelConfig | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    promote_to_staging: bool = False,
    registry: ModelRegistry | None = None,
    *,
    policy: ValidationPolicy | None = None,
    registered_by: str | None = None,
) -> tuple[Any, ModelMetadata]:
    """Train the eyewear model on TFRecords, register it and optionally validate it into STAGING.

    Args:
        tfrecord_paths: Training files, or a mapping (or `DatasetPaths`) with "train", "validation" and
            "test" lists. Metrics come from "validation" (else the training files); validation before
            staging uses "test" (else "validation").
        model_name: Registry model name.
        config: Training configuration; default `EyewearModelConfig()`.
        description: Free text.
        tags: Labels.
        promote_to_staging: Validate on holdout data against `policy` and the PRODUCTION champion, then move
            the version to STAGING if it passes (it stays in VALIDATION, marked failed, otherwise).
        registry: Registry to use; default: the embedded local one.
        policy: Validation thresholds; default: no thresholds, no regression against the champion.
        registered_by: Who registers; default: the current user.

    Returns:
        The trained Keras model and the version's metadata (after any promotion).
    """
    eyewear = _eyewear()
    splits = resolve_splits(tfrecord_paths)
    config = config or eyewear.EyewearModelConfig()
    registry = registry or ModelRegistry()
    result = eyewear.train(splits["train"], splits.get("validation") or None, config)
    evaluation = eyewear.evaluate(result.model, splits.get("validation") or splits["train"])
    metadata = register_trained_model(
        result.model, model_name, metrics=evaluation.summary(), config=config,
        training_data_uris=splits["train"], description=description, tags=tags, registered_by=registered_by,
        registry=registry,
    )  # fmt: skip
    if promote_to_staging:
        holdout = splits.get("test") or splits.get("validation") or splits["train"]
        decision = validate_registered_version(registry, model_name, metadata.version, holdout, policy)
        metadata = registry.record_validation(model_name, metadata.version, decision)
        if decision.passed:
            metadata = registry.promote_model(model_name, metadata.version, ModelStage.STAGING, reason=decision.reason)
    return result.model, metadata


def validate_registered_version(
    registry: ModelRegistry,
    model_name: str,
    version: str,
    holdout_paths: Sequence[str],
    policy: ValidationPolicy | None = None,
) -> ValidationDecision:
    """Evaluate a registered version (verified artifacts) and the PRODUCTION champion on the same holdout data.

    Returns:
        The decision of `policy` (not yet recorded: see `ModelRegistry.record_validation`).
    """
    eyewear = _eyewear()
    policy = policy or ValidationPolicy()
    challenger = registry.get_model_metadata(model_name, version)
    folder = registry.artifact_path(model_name, challenger.version)
    metrics = eyewear.evaluate(eyewear.load_serving_model(folder), list(holdout_paths)).summary()
    try:
        champion = registry.get_model_metadata(model_name, stage=ModelStage.PRODUCTION)
    except VersionNotFoundError:
        return decide(policy, metrics)
    if champion.version == challenger.version:
        return decide(policy, metrics)
    champion_folder = registry.artifact_path(model_name, champion.version)
    try:
        champion_model = eyewear.load_serving_model(champion_folder)
    except ValueError as exc:  # the champion is not an eyewear SavedModel: nothing comparable
        logger.warning("cannot evaluate champion %s %s: %s", model_name, champion.version, exc)
        return decide(policy, metrics)
    champion_metrics = eyewear.evaluate(champion_model, list(holdout_paths)).summary()
    return decide(policy, metrics, champion.version, champion_metrics)


def resolve_splits(paths: Sequence[str] | Mapping[str, Sequence[str]] | Any) -> Splits:
    """Return {"train": [...], "validation": [...], "test": [...]} from a list, a mapping or a DatasetPaths.

    Raises:
        InvalidInputError: no training files.
    """
    if hasattr(paths, "train") and hasattr(paths, "test"):
        splits = {key: getattr(paths, key, []) for key in ("train", "validation", "test")}
    elif isinstance(paths, Mapping):
        splits = {key: paths.get(key, []) for key in ("train", "validation", "test")}
    elif isinstance(paths, str):
        splits = {"train": [paths]}
    else:
        splits = {"train": list(paths)}
    result = {key: [str(p) for p in value] for key, value in splits.items() if value}
    if not result.get("train"):
        msg = "tfrecord_paths names no training files"
        raise InvalidInputError(msg)
    return result


def _params(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    raw = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return {k: (",".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in raw.items()}


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"registry-core {version('registry-core')}"
    except PackageNotFoundError:
        return "registry-core (source)"


def _eyewear() -> Any:
    try:
        import eyewear_model
    except ImportError as exc:  # TensorFlow missing, or the example package not installed
        msg = f"this needs the eyewear model and TensorFlow: pip install 'registry-core[tf]' ({exc})"
        raise DependencyMissingError(msg) from exc
    return eyewear_model
