"""Train, register and validate a model in one call, through a `Trainer` (the core imports no model code).

The trainer is passed in, or found among the installed ones by the type of the training configuration (see
`registry_core.trainers`): `train_and_register_model(..., config=EyewearModelConfig())` uses the eyewear trainer
that the eyewear_model package declares.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_core.errors import InvalidInputError, VersionNotFoundError
from registry_core.metadata import Lineage, ModelMetadata, ModelStage
from registry_core.quality import ValidationDecision, ValidationPolicy, decide
from registry_core.registry import ModelRegistry
from registry_core.trainers import Trainer, find_trainer

if TYPE_CHECKING:  # NumPy and the protobuf modules load only when a profile is stored
    from registry_core.monitoring.profile import DataProfile
    from registry_core.monitoring.validation import DataValidation

logger = logging.getLogger(__name__)

Splits = dict[str, list[str]]


def register_trained_model(
    model: Any,
    model_name: str,
    *,
    metrics: Mapping[str, float] | None = None,
    config: Any = None,
    training_data_uris: Iterable[str] = (),
    pipeline_run: str | None = None,
    code_version: str | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    registered_by: str | None = None,
    registry: ModelRegistry | None = None,
    idempotency_key: str | None = None,
    trainer: Trainer | None = None,
    data_profile: DataProfile | None = None,
    lineage_extra: Mapping[str, str] | None = None,
) -> ModelMetadata:
    """Register a trained model: an exported folder (e.g. a SavedModel), or a model that `trainer` exports first.

    Args:
        model: Path of an exported folder, or a model as a trainer's `train` returns it.
        model_name: Registry model name.
        metrics: Evaluation metrics to record.
        config: The training configuration (with `to_dict()`, or a mapping), recorded as params.
        training_data_uris: Data it was trained on (lineage).
        pipeline_run: Pipeline run that produced it (lineage).
        code_version: Version of the training code (lineage); default: this package's version.
        description: Free text.
        tags: Labels.
        registered_by: Who registers; default: the current user.
        registry: Registry to use; default: the embedded local one.
        idempotency_key: Names this registration (a pipeline registers a trained Model artifact under its URI):
            a version registered before with the same key and identical artifacts is returned instead of a new one.
        trainer: Exports a `model` that is not a path; default: the installed trainer of `config`'s type (or the
            only one installed).
        data_profile: The profile of the training data, stored with the artifacts under ``data_profile/`` (so the
            artifact digest covers it; a given folder is copied first, never changed) and summarized in the
            lineage (``data_profile``, ``data_profile_examples``, ``data_profile_features``). Serving loads only
            the model files and ignores it; `ModelRegistry.get_data_profile` reads it back.
        lineage_extra: More provenance for `Lineage.extra`, e.g. ``{"data_validation_report": uri}``.

    Returns:
        The new (or, by `idempotency_key`, the earlier) version's metadata.
    """
    registry = registry or ModelRegistry()
    extra = dict(lineage_extra or {})
    if data_profile is not None:
        from registry_core.monitoring.stored import profile_lineage

        extra |= profile_lineage(data_profile)
    lineage = Lineage(
        training_data_uris=tuple(training_data_uris),
        pipeline_run=pipeline_run,
        code_version=code_version or _package_version(),
        extra=extra,
    )
    arguments: dict[str, Any] = {
        "metrics": metrics,
        "params": _params(config),
        "description": description,
        "tags": tags,
        "lineage": lineage,
        "registered_by": registered_by,
        "idempotency_key": idempotency_key,
    }
    if isinstance(model, str | os.PathLike):
        if data_profile is None:
            return registry.register_model(model_name, model, framework="tensorflow", **arguments)
        with _copied(Path(model)) as folder:
            _add_profile(folder, data_profile)
            return registry.register_model(model_name, folder, framework="tensorflow", **arguments)
    with _exported(model, trainer or find_trainer(None if isinstance(config, Mapping) else config)) as folder:
        _add_profile(folder, data_profile)
        return registry.register_model(model_name, folder, framework="tensorflow", **arguments)


@contextlib.contextmanager
def _copied(folder: Path) -> Iterator[Path]:
    """Yield a scratch copy of `folder` (links are copied as links: registration refuses them as it would there)."""
    with tempfile.TemporaryDirectory(prefix="register-") as scratch:
        yield Path(shutil.copytree(folder, Path(scratch) / "model", symlinks=True))


def _add_profile(folder: Path, profile: DataProfile | None) -> None:
    if profile is not None:
        from registry_core.monitoring.stored import write_profile_folder

        write_profile_folder(profile, folder)


def train_and_register_model(
    tfrecord_paths: Sequence[str] | Mapping[str, Sequence[str]] | Any,
    model_name: str,
    config: Any = None,
    description: str = "",
    tags: Iterable[str] = (),
    promote_to_staging: bool = False,
    registry: ModelRegistry | None = None,
    *,
    policy: ValidationPolicy | None = None,
    registered_by: str | None = None,
    trainer: Trainer | None = None,
) -> tuple[Any, ModelMetadata]:
    """Train a model on TFRecords, register it and optionally validate it into STAGING.

    Args:
        tfrecord_paths: Training files, or a mapping (or an object such as a `DatasetPaths`) with "train",
            "validation" and "test" lists. Metrics come from "validation" (else the training files); validation
            before staging uses "test" (else "validation", else the training files).
        model_name: Registry model name.
        config: Training configuration, e.g. `EyewearModelConfig()`; default: the trainer's default configuration.
        description: Free text.
        tags: Labels.
        promote_to_staging: Validate on holdout data against `policy` and the PRODUCTION champion, then move
            the version to STAGING if it passes (it stays in VALIDATION, marked failed, otherwise).
        registry: Registry to use; default: the embedded local one.
        policy: Validation thresholds; default: no thresholds, no regression against the champion.
        registered_by: Who registers; default: the current user.
        trainer: Trains, exports and evaluates; default: the installed trainer of `config`'s type (without a
            config, the only one installed).

    Returns:
        The trained model and the version's metadata (after any promotion).

    Raises:
        InvalidInputError: No training files, or a config that `trainer` does not take.
        DependencyMissingError: No installed trainer takes `config`.
    """
    splits = resolve_splits(tfrecord_paths)
    trainer = trainer or find_trainer(config)
    config = _checked_config(trainer, config)
    registry = registry or ModelRegistry()
    model, metrics = trainer.train(splits["train"], splits.get("validation", []), config)
    with _exported(model, trainer) as folder:  # a folder, even for a model that is itself a string
        metadata = register_trained_model(
            folder, model_name, metrics=metrics, config=config, training_data_uris=splits["train"],
            description=description, tags=tags, registered_by=registered_by, registry=registry,
        )  # fmt: skip
    if promote_to_staging:
        holdout = splits.get("test") or splits.get("validation") or splits["train"]
        decision = validate_registered_version(registry, model_name, metadata.version, holdout, policy, trainer=trainer)
        metadata = registry.record_validation(model_name, metadata.version, decision)
        if decision.passed:
            metadata = registry.promote_model(model_name, metadata.version, ModelStage.STAGING, reason=decision.reason)
    return model, metadata


def validate_registered_version(
    registry: ModelRegistry,
    model_name: str,
    version: str,
    holdout_paths: Sequence[str],
    policy: ValidationPolicy | None = None,
    *,
    trainer: Trainer,
) -> ValidationDecision:
    """Evaluate a registered version (verified artifacts) and the PRODUCTION champion on the same holdout data.

    A champion that `trainer` cannot evaluate (another kind of model) is left out of the decision, with a warning.

    Returns:
        The decision of `policy` (not yet recorded: see `ModelRegistry.record_validation`).
    """
    policy = policy or ValidationPolicy()
    challenger = registry.get_model_metadata(model_name, version)
    folder = registry.artifact_path(model_name, challenger.version)
    metrics = dict(trainer.evaluate(folder, list(holdout_paths)))
    try:
        champion = registry.get_model_metadata(model_name, stage=ModelStage.PRODUCTION)
    except VersionNotFoundError:
        return decide(policy, metrics)
    if champion.version == challenger.version:
        return decide(policy, metrics)
    champion_folder = registry.artifact_path(model_name, champion.version)
    try:
        champion_metrics = dict(trainer.evaluate(champion_folder, list(holdout_paths)))
    except ValueError as exc:  # the champion is another kind of model: nothing comparable
        logger.warning("cannot evaluate champion %s %s: %s", model_name, champion.version, exc)
        return decide(policy, metrics)
    return decide(policy, metrics, champion.version, champion_metrics)


def validate_training_data(
    registry: ModelRegistry,
    model_name: str,
    rows: Iterable[Mapping[str, Any]],
    thresholds: Mapping[str, Any] | None = None,
    *,
    label_keys: Sequence[str] = (),
) -> tuple[DataProfile, DataValidation]:
    """Profile new training data and validate it against the training profile of the model's production version.

    Args:
        registry: The registry holding the model.
        model_name: The model whose production version is the baseline.
        rows: The new data, one mapping of feature name to value per example.
        thresholds: As `ValidationThresholds.from_mapping` takes them.
        label_keys: Features that only training data has (the label): the profile's schema marks them as not in
            the SERVING environment, so that monitoring served traffic does not call them missing.

    Returns:
        The profile of the new data (to store with the version trained on it) and the validation; without a
        production version, or one registered without a profile, the validation passes with status "no_baseline".

    Raises:
        InvalidInputError: bad thresholds.
    """
    from registry_core.errors import NotFoundError
    from registry_core.monitoring.columns import collect_columns
    from registry_core.monitoring.profile import mark_training_only, profile_columns
    from registry_core.monitoring.validation import ValidationThresholds, validate_columns

    limits = ValidationThresholds.from_mapping(thresholds)
    columns = collect_columns(rows)
    profile = profile_columns(columns, name="train")
    mark_training_only(profile.schema, label_keys)
    try:
        production = registry.get_model_metadata(model_name, stage=ModelStage.PRODUCTION)
    except NotFoundError:
        return profile, validate_columns(columns, None, limits, baseline_name=f"no production version of {model_name}")
    name = f"{model_name} {production.version} (production)"
    try:
        baseline = registry.get_data_profile(model_name, production.version)
    except NotFoundError:
        return profile, validate_columns(columns, None, limits, baseline_name=f"{name} has no data profile")
    return profile, validate_columns(columns, baseline, limits, baseline_name=name, statistics=profile.statistics)


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


@contextlib.contextmanager
def _exported(model: Any, trainer: Trainer) -> Iterator[Path]:
    """Yield a scratch folder that `trainer` exported `model` into; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="export-") as scratch:
        yield trainer.export(model, Path(scratch) / "model")


def _checked_config(trainer: Trainer, config: Any) -> Any:
    """Return `config`, or the trainer's default one; refuse a config of another type before any training."""
    if config is None:
        return trainer.config_type()
    if not isinstance(config, trainer.config_type):
        msg = f"config is of type {type(config).__name__}; this trainer takes {trainer.config_type.__name__}"
        raise InvalidInputError(msg)
    return config


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
