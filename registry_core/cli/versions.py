"""Commands that read and register versions: list-models, list-versions, get-model, history, compare, register."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from registry_core.cli._context import open_registry, state
from registry_core.cli._output import echo, emit, metrics_summary, table, transfer_bar, when
from registry_core.cli._parsing import pairs, param_value, parse_moment, parse_number
from registry_core.errors import RegistryError
from registry_core.text import shown

if TYPE_CHECKING:
    from registry_core.monitoring.profile_view import FeatureProfile
    from registry_core.registry import ModelRegistry

commands = typer.Typer()


@commands.command("list-models")
def list_models() -> None:
    """List the registered models."""
    names = open_registry().list_models()
    emit(names, lambda: echo("\n".join(names) if names else "no models registered"))


@commands.command("list-versions")
def list_versions(
    name: Annotated[str, typer.Argument(help="Model name.")],
    stage: Annotated[Optional[str], typer.Option(help="Only versions in this stage.")] = None,  # noqa: UP045
) -> None:
    """List the versions of a model."""
    from registry_core.documents import VersionSummary
    from registry_core.metadata import ModelStage

    versions: list[VersionSummary] = open_registry().list_versions(name)
    if stage is not None:
        wanted = ModelStage.parse(stage)
        versions = [v for v in versions if v.stage is wanted]
    rows = [
        [v.version, v.stage.value, metrics_summary(v.metrics.as_dict()), v.registered_by, when(v.registered_at),
         ",".join(v.tags)]
        for v in versions
    ]  # fmt: skip
    emit(
        versions,
        lambda: table(["version", "stage", "metrics", "registered by", "registered at", "tags"], rows, title=name),
    )


@commands.command("get-model")
def get_model(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[Optional[str], typer.Option("--version", "-v", help="Version label.")] = None,  # noqa: UP045
    stage: Annotated[Optional[str], typer.Option("--stage", "-s", help="Latest version in this stage.")] = None,  # noqa: UP045
    profile: Annotated[
        bool, typer.Option("--profile", help="Instead: the profile of its training data, feature by feature.")
    ] = False,
) -> None:
    """Show one version (by label, by stage, or the latest), or with --profile its training data's profile."""
    from registry_core.console import pipeline_run_url

    registry = open_registry()
    metadata = registry.get_model_metadata(name, version=version, stage=stage)
    if profile:
        _show_profile(registry, metadata.model_name, metadata.version)
        return

    def render() -> None:
        rows = [
            ["model", metadata.model_name],
            ["version", metadata.version],
            ["stage", metadata.stage.value],
            ["description", metadata.description],
            ["framework", metadata.framework or ""],
            ["tags", ", ".join(metadata.tags)],
            ["registered", f"{when(metadata.registered_at)} by {metadata.registered_by}"],
            ["metrics", metrics_summary(metadata.metrics.as_dict(), limit=20)],
            ["params", ", ".join(f"{k}={v}" for k, v in metadata.params.items())],
            ["training data", ", ".join(metadata.lineage.training_data_uris)],
            ["pipeline run", metadata.lineage.pipeline_run or ""],
            *([["run in console", url]] if (url := pipeline_run_url(metadata.lineage.pipeline_run)) else []),
            *_lineage_rows(metadata.artifact_uri, metadata.lineage.extra),
            [
                "artifacts",
                f"{metadata.artifact_uri} ({len(metadata.artifact_manifest)} files, {metadata.artifact_size} bytes)",
            ],
            ["digest", metadata.artifact_digest],
            ["approvals", ", ".join(f"{a.stage.value} by {a.approver}" for a in metadata.approvals)],
        ]
        rows += [[f"note {k}", v] for k, v in metadata.annotations.items()]
        table(["field", "value"], rows)

    emit(metadata, render)


def _show_profile(registry: ModelRegistry, name: str, version: str) -> None:
    """Print the training-data profile of one version: a row per feature (JSON with --json)."""
    from registry_core.monitoring.profile_view import profile_view

    view = profile_view(registry.get_data_profile(name, version), model=name, version=version)
    rows = [
        [f.feature, f.type, f.count, f.missing, *(_number(v) for v in (f.min, f.mean, f.std, f.median, f.max)),
         _top_values(f), _domain(f)]
        for f in view.features
    ]  # fmt: skip
    title = (f"{name} {version}: training data of {view.summary.num_examples} examples, "
             f"{view.summary.num_features} features")  # fmt: skip
    columns = ["feature", "type", "count", "missing", "min", "mean", "std", "median", "max", "top values", "allowed"]
    emit(view, lambda: table(columns, rows, title=title))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _top_values(feature: FeatureProfile) -> str:
    """Return e.g. ``3 values: oval 50%, round 30%, square 20%`` ("" for a number)."""
    if feature.unique is None:
        return ""
    shares = ", ".join(f"{top.value} {top.share:.0%}" for top in feature.top_values)
    more = ", ..." if feature.unique > len(feature.top_values) else ""
    return f"{feature.unique} values: {shares}{more}"


def _domain(feature: FeatureProfile) -> str:
    """Return what the schema allows: a range, or how many categories; and how often the feature may be missing."""
    domain, parts = feature.domain, []
    if domain is not None and domain.values is not None:
        parts.append(f"{len(domain.values)} categories")
    elif domain is not None and (domain.min is not None or domain.max is not None):
        parts.append(f"[{_number(domain.min) or '-inf'}, {_number(domain.max) or 'inf'}]")
    if feature.presence is not None:
        parts.append("required" if feature.presence >= 1 else f"in >= {feature.presence:.1%}")
    return ", ".join(parts)


def _lineage_rows(artifact_uri: str, extra: dict[str, str]) -> list[list[str]]:
    """Rows for the lineage's extra entries, the data profile's summarized in one."""
    profile = {"data_profile", "data_profile_examples", "data_profile_features"}
    rows = []
    if "data_profile" in extra:
        where = f"{artifact_uri.rstrip('/')}/{extra['data_profile']}"
        examples, features = extra.get("data_profile_examples", "?"), extra.get("data_profile_features", "?")
        rows.append(["data profile", f"{examples} examples, {features} features at {where} (--profile: each feature)"])
    rows += [[k.replace("_", " "), v] for k, v in extra.items() if k not in profile]
    return rows


@commands.command("history")
def history(
    name: Annotated[str, typer.Argument(help="Model name.")],
    at: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Instead: what held production and staging and served on endpoints at this moment "
                     "(ISO 8601, e.g. 2026-11-29T14:00:00Z; no zone: UTC)."),
    ] = None,
) -> None:
    """Show the model's history: registrations, approvals, stage changes, rollbacks (or one moment with --at)."""
    if at is not None:
        _as_of(name, parse_moment(at))
        return
    entries = open_registry().history(name)
    rows = [
        [
            when(e.at),
            f"{e.actor} (via {e.principal})" if e.principal else e.actor,
            e.action.value,
            e.version,
            f"{e.from_stage.value if e.from_stage else ''} -> {e.to_stage.value}" if e.to_stage else "",
            e.reason,
        ]
        for e in entries
    ]
    emit(entries, lambda: table(["when", "who", "action", "version", "stage", "reason"], rows, title=name))


def _as_of(name: str, moment: datetime) -> None:
    found = open_registry().as_of(name, moment)

    def render() -> None:
        rows = [[stage.value, ", ".join(labels)] for stage, labels in found.stages.items()]
        rows += [
            [f"endpoint {endpoint}", ", ".join(f"{v}={share}%" for v, share in split.items())]
            for endpoint, split in found.endpoints.items()
        ]
        moment = found.at.isoformat().replace("+00:00", "Z")  # whole: two moments a fraction apart may differ
        table([f"at {moment}", "versions"], rows or [["(nothing)", ""]], title=name)

    emit(found, render)


@commands.command("compare")
def compare(
    name: Annotated[str, typer.Argument(help="Model name.")],
    versions: Annotated[list[str], typer.Argument(help="Two or more versions.")],
    metric: Annotated[Optional[list[str]], typer.Option("--metric", "-m", help="Only these metrics.")] = None,  # noqa: UP045
) -> None:
    """Compare the metrics of versions side by side (best marked with *)."""
    comparison = open_registry().compare_models(name, versions, metrics=metric or None)
    emit(comparison, lambda: table(["metric", *comparison.versions], comparison.rows(), title=name))


@commands.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Model name.")],
    path: Annotated[Path, typer.Argument(help="Artifact folder (e.g. a SavedModel) or file.")],
    metric: Annotated[Optional[list[str]], typer.Option("--metric", "-m", help="NAME=VALUE, repeatable.")] = None,  # noqa: UP045
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="NAME=VALUE, repeatable.")] = None,  # noqa: UP045
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Repeatable.")] = None,  # noqa: UP045
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    framework: Annotated[Optional[str], typer.Option(help="Default: guessed from the files.")] = None,  # noqa: UP045
    version: Annotated[Optional[str], typer.Option("--version", "-v", help="Explicit label.")] = None,  # noqa: UP045
    bump: Annotated[str, typer.Option(help="Semantic versioning: major, minor or patch.")] = "minor",
    registered_by: Annotated[Optional[str], typer.Option(help="Default: $MODEL_REGISTRY_USER or login.")] = None,  # noqa: UP045
    training_data: Annotated[Optional[list[str]], typer.Option(help="Training data URI, repeatable.")] = None,  # noqa: UP045
    pipeline_run: Annotated[Optional[str], typer.Option(help="Pipeline run that produced it.")] = None,  # noqa: UP045
    code_version: Annotated[Optional[str], typer.Option(help="Commit or package version.")] = None,  # noqa: UP045
    versioning: Annotated[Optional[str], typer.Option(help="For a new model: auto_increment or semantic.")] = None,  # noqa: UP045
    reuse_existing: Annotated[
        bool, typer.Option(help="Return the existing version if the bytes are identical.")
    ] = False,
) -> None:
    """Register a new version from a local folder."""
    from registry_core.config import RegistryConfig
    from registry_core.registry import ModelRegistry

    metrics = {k: parse_number(v, f"metric {shown(k)}") for k, v in pairs(metric or [], "metric").items()}
    params = {k: param_value(v) for k, v in pairs(param or [], "param").items()}
    settings: dict[str, Any] = {"root": state.registry_uri}
    if versioning is not None:
        from registry_core.versioning import VersioningStrategy

        settings["versioning"] = VersioningStrategy.parse(versioning)
    lineage = {
        "training_data_uris": tuple(training_data or ()),
        "pipeline_run": pipeline_run,
        "code_version": code_version,
    }
    with transfer_bar(f"uploading {name}", lambda: _size_of(path)) as progress:
        metadata = ModelRegistry(RegistryConfig(**settings)).register_model(
            name, path, metrics=metrics, params=params, description=description, tags=tag or (), framework=framework,
            lineage=lineage, registered_by=registered_by, version=version, bump=bump, reuse_existing=reuse_existing,
            progress=progress,
        )  # fmt: skip
    emit(
        metadata,
        lambda: echo(
            f"registered {metadata.model_name} {metadata.version} "
            f"({len(metadata.artifact_manifest)} files, {metadata.artifact_digest[:19]})"
        ),
    )


def _size_of(path: Path) -> int | None:
    """Return the bytes of the files under `path` (the registration has checked it by the time this is asked)."""
    from registry_core.storage.base import walk_files

    try:
        return sum(file.stat().st_size for _relative, file in walk_files(path))
    except (OSError, RegistryError):
        return None
