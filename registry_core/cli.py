"""The model-registry command line: arguments -> ModelRegistry; RegistryError -> one line on stderr and an exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from registry_core.errors import InvalidInputError, RegistryError

if TYPE_CHECKING:
    from registry_core.registry import ModelRegistry

app = typer.Typer(
    name="model-registry",
    help="Version, promote, compare and roll back ML models (local folder or gs:// registry).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class _State:
    registry_uri: str | None = None
    as_json: bool = False


state = _State()


@app.callback()
def _options(
    registry: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--registry",
            "-r",
            help="Registry root: a folder, file://... or gs://bucket/prefix "
            "(default: $MODEL_REGISTRY_ROOT, else the local default).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Version, promote, compare and roll back ML models (local folder or gs:// registry)."""
    state.registry_uri = registry
    state.as_json = as_json


def registry_uri() -> str | None:
    """Return the --registry option (None: the default root)."""
    return state.registry_uri


def _registry() -> ModelRegistry:
    from registry_core.config import RegistryConfig
    from registry_core.registry import ModelRegistry

    return ModelRegistry(RegistryConfig(root=state.registry_uri))


def emit(data: Any, render: Any) -> None:
    """Print `data` as JSON with --json, else call `render()` for the human form."""
    if state.as_json:
        typer.echo(json.dumps(_jsonable(data), indent=2, sort_keys=False))
    else:
        render()


def _jsonable(data: Any) -> Any:
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [_jsonable(item) for item in data]
    if isinstance(data, dict):
        return {key: _jsonable(value) for key, value in data.items()}
    return data


def table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    """Print an aligned plain-text table (pipes and narrow terminals get whole lines, never wrapped cells)."""
    cells = [list(columns), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [f"{title}" if title else None]
    for index, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    typer.echo("\n".join(line for line in lines if line is not None))


def pairs(items: list[str], what: str) -> dict[str, str]:
    """Parse NAME=VALUE options. Raises: InvalidInputError naming the bad item."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            msg = f"invalid {what} {item!r}: expected NAME=VALUE"
            raise InvalidInputError(msg)
        result[key.strip()] = value.strip()
    return result


def parse_number(text: str, what: str) -> float:
    """Parse a number option. Raises: InvalidInputError naming `what`."""
    try:
        return float(text)
    except ValueError:
        msg = f"{what} must be a number, got {text!r}"
        raise InvalidInputError(msg) from None


def _param_value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def _metrics_summary(metrics: dict[str, float], limit: int = 3) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:limit])


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


# ---------------------------------------------------------------------------------------------------- reading


@app.command("list-models")
def list_models() -> None:
    """List the registered models."""
    names = _registry().list_models()
    emit(names, lambda: typer.echo("\n".join(names) if names else "no models registered"))


@app.command("list-versions")
def list_versions(
    name: Annotated[str, typer.Argument(help="Model name.")],
    stage: Annotated[Optional[str], typer.Option(help="Only versions in this stage.")] = None,  # noqa: UP045
) -> None:
    """List the versions of a model."""
    from registry_core.metadata import ModelStage

    versions = _registry().list_versions(name)
    if stage is not None:
        wanted = ModelStage.parse(stage)
        versions = [v for v in versions if v.stage is wanted]
    rows = [
        [
            v.version,
            v.stage.value,
            _metrics_summary(v.metrics.as_dict()),
            v.registered_by,
            _when(v.registered_at),
            ",".join(v.tags),
        ]
        for v in versions
    ]
    emit(
        versions,
        lambda: table(["version", "stage", "metrics", "registered by", "registered at", "tags"], rows, title=name),
    )


@app.command("get-model")
def get_model(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[Optional[str], typer.Option("--version", "-v", help="Version label.")] = None,  # noqa: UP045
    stage: Annotated[Optional[str], typer.Option("--stage", "-s", help="Latest version in this stage.")] = None,  # noqa: UP045
) -> None:
    """Show one version (by label, by stage, or the latest)."""
    metadata = _registry().get_model_metadata(name, version=version, stage=stage)

    def render() -> None:
        rows = [
            ["model", metadata.model_name],
            ["version", metadata.version],
            ["stage", metadata.stage.value],
            ["description", metadata.description],
            ["framework", metadata.framework or ""],
            ["tags", ", ".join(metadata.tags)],
            ["registered", f"{_when(metadata.registered_at)} by {metadata.registered_by}"],
            ["metrics", _metrics_summary(metadata.metrics.as_dict(), limit=20)],
            ["params", ", ".join(f"{k}={v}" for k, v in metadata.params.items())],
            ["training data", ", ".join(metadata.lineage.training_data_uris)],
            ["pipeline run", metadata.lineage.pipeline_run or ""],
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


@app.command("history")
def history(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Show the model's history: registrations, approvals, stage changes, rollbacks."""
    entries = _registry().history(name)
    rows = [
        [
            _when(e.at),
            e.actor,
            e.action.value,
            e.version,
            f"{e.from_stage.value if e.from_stage else ''} -> {e.to_stage.value}" if e.to_stage else "",
            e.reason,
        ]
        for e in entries
    ]
    emit(entries, lambda: table(["when", "who", "action", "version", "stage", "reason"], rows, title=name))


@app.command("compare")
def compare(
    name: Annotated[str, typer.Argument(help="Model name.")],
    versions: Annotated[list[str], typer.Argument(help="Two or more versions.")],
    metric: Annotated[Optional[list[str]], typer.Option("--metric", "-m", help="Only these metrics.")] = None,  # noqa: UP045
) -> None:
    """Compare the metrics of versions side by side (best marked with *)."""
    comparison = _registry().compare_models(name, versions, metrics=metric or None)
    emit(comparison, lambda: table(["metric", *comparison.versions], comparison.rows(), title=name))


# ---------------------------------------------------------------------------------------------------- writing


@app.command("register")
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

    metrics = {k: parse_number(v, f"metric {k!r}") for k, v in pairs(metric or [], "metric").items()}
    params = {k: _param_value(v) for k, v in pairs(param or [], "param").items()}
    settings: dict[str, Any] = {"root": state.registry_uri}
    if versioning is not None:
        from registry_core.versioning import VersioningStrategy

        settings["versioning"] = VersioningStrategy.parse(versioning)
    lineage = {
        "training_data_uris": tuple(training_data or ()),
        "pipeline_run": pipeline_run,
        "code_version": code_version,
    }
    metadata = ModelRegistry(RegistryConfig(**settings)).register_model(
        name,
        path,
        metrics=metrics,
        params=params,
        description=description,
        tags=tag or (),
        framework=framework,
        lineage=lineage,
        registered_by=registered_by,
        version=version,
        bump=bump,
        reuse_existing=reuse_existing,
    )
    emit(
        metadata,
        lambda: typer.echo(
            f"registered {metadata.model_name} {metadata.version} "
            f"({len(metadata.artifact_manifest)} files, {metadata.artifact_digest[:19]})"
        ),
    )


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    stage: Annotated[str, typer.Argument(help="Target stage.")],
    approved_by: Annotated[Optional[str], typer.Option(help="Approve now as this person (four-eyes applies).")] = None,  # noqa: UP045
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    actor: Annotated[Optional[str], typer.Option(help="Who makes the change (default: current user).")] = None,  # noqa: UP045
) -> None:
    """Move a version to another lifecycle stage."""
    metadata = _registry().promote_model(name, version, stage, approved_by=approved_by, reason=reason, actor=actor)
    emit(metadata, lambda: typer.echo(f"{metadata.model_name} {metadata.version} is now in {metadata.stage.value}"))


@app.command("approve")
def approve(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    stage: Annotated[str, typer.Argument(help="Stage the approval allows.")],
    approver: Annotated[str, typer.Option(help="Who approves.")],
    comment: Annotated[str, typer.Option(help="Free text.")] = "",
) -> None:
    """Approve a version for a stage (bound to its artifact digest); a pending request for it then proceeds."""
    metadata = _registry().approve(name, version, stage, approver, comment)
    suffix = f"; it is now in {metadata.stage.value}" if metadata.stage.value == stage.strip().lower() else ""
    emit(
        metadata,
        lambda: typer.echo(f"{approver} approved {metadata.model_name} {metadata.version} for {stage}{suffix}"),
    )


@app.command("request-promotion")
def request_promotion(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    stage: Annotated[str, typer.Argument(help="Stage asked for.")],
    comment: Annotated[str, typer.Option(help="Why.")] = "",
    requested_by: Annotated[Optional[str], typer.Option(help="Who asks (default: current user).")] = None,  # noqa: UP045
) -> None:
    """Ask for a promotion; it happens when an approver approves it."""
    metadata = _registry().request_promotion(name, version, stage, requested_by=requested_by, comment=comment)
    pending = [r for r in metadata.promotion_requests if r.status == "pending"]
    emit(
        metadata,
        lambda: typer.echo(
            f"requested {metadata.model_name} {metadata.version} -> {stage} (waiting for approval)"
            if pending
            else f"{metadata.model_name} {metadata.version} is now in {metadata.stage.value}"
        ),
    )


@app.command("reject")
def reject(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    stage: Annotated[str, typer.Argument(help="Stage that was asked for.")],
    approver: Annotated[str, typer.Option(help="Who rejects.")],
    comment: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Reject a pending promotion request."""
    metadata = _registry().reject(name, version, stage, approver, comment)
    emit(metadata, lambda: typer.echo(f"{approver} rejected {metadata.model_name} {metadata.version} -> {stage}"))


@app.command("pending")
def pending(name: Annotated[Optional[str], typer.Argument(help="Only this model.")] = None) -> None:  # noqa: UP045
    """List pending promotion requests."""
    found = _registry().pending_requests(name)
    rows = [
        [m.model_name, m.version, r.from_stage.value, r.stage.value, r.requested_by, _when(r.requested_at), r.comment]
        for m, r in found
    ]
    emit(
        [{"model": m.model_name, "version": m.version, "request": r} for m, r in found],
        lambda: (
            table(["model", "version", "from", "to", "requested by", "when", "comment"], rows)
            if rows
            else typer.echo("no pending requests")
        ),
    )


@app.command("archive")
def archive(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Archive a version."""
    metadata = _registry().archive_model(name, version, reason=reason)
    emit(metadata, lambda: typer.echo(f"{metadata.model_name} {metadata.version} is archived"))


@app.command("check")
def check(
    gc: Annotated[bool, typer.Option("--gc", help="Remove leftovers of interrupted registrations.")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="Re-hash every artifact file.")] = False,
) -> None:
    """Check records and artifacts; with --gc remove leftovers."""
    report = _registry().check(gc=gc, deep=deep)

    def render() -> None:
        typer.echo(f"checked {report.models_checked} models, {report.versions_checked} versions")
        for problem in report.problems:
            done = " (removed)" if problem.key in report.removed else ""
            typer.echo(f"{problem.kind}: {problem.key}: {problem.message}{done}")
        typer.echo("ok" if report.ok else "problems found")

    emit(report, render)
    if not report.ok:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------------------ entry

PLUGIN_GROUP = "registry_core.commands"

from registry_core import cli_deploy, cli_ui  # noqa: E402, F401 - they register their commands on `app`

_plugins_added = False


def _add_plugins() -> None:
    """Add command groups that other installed packages declare (e.g. `pipeline`), once, at the first run.

    Not at import time: a plugin imports this module's helpers, so loading it here would be circular.
    """
    global _plugins_added
    if _plugins_added:
        return
    _plugins_added = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            app.add_typer(entry.load(), name=entry.name)
        except ImportError as exc:  # e.g. the plugin's extra is not installed: say so, keep the core commands
            typer.echo(f"warning: the '{entry.name}' commands are unavailable: {_one_line(str(exc))}", err=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (errors print one line on stderr)."""
    _add_plugins()
    try:
        result = app(args=list(argv) if argv is not None else None, prog_name="model-registry", standalone_mode=False)
    except RegistryError as exc:
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        return exc.exit_code
    except typer.TyperException as exc:  # click's UsageError and friends (exit code 2 for usage)
        hint = " (see --help)" if exc.exit_code == 2 else ""
        typer.echo(f"error: {_one_line(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt, EOFError):
        typer.echo("aborted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except ValueError as exc:  # pydantic ValidationError of a config value
        typer.echo(f"error: {_one_line(str(exc).splitlines()[-1] if str(exc) else repr(exc))}", err=True)
        return 2
    except OSError as exc:
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        return 7
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
