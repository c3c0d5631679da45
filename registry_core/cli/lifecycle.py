"""Commands that move versions through the stages: promote, approve, request and reject, archive, rollback."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from registry_core.cli._context import open_registry
from registry_core.cli._output import echo, emit, table, when

commands = typer.Typer()


@commands.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    stage: Annotated[str, typer.Argument(help="Target stage.")],
    approved_by: Annotated[Optional[str], typer.Option(help="Approve now as this person (four-eyes applies).")] = None,  # noqa: UP045
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    actor: Annotated[Optional[str], typer.Option(help="Who makes the change (default: current user).")] = None,  # noqa: UP045
) -> None:
    """Move a version to another lifecycle stage."""
    metadata = open_registry().promote_model(name, version, stage, approved_by=approved_by, reason=reason, actor=actor)
    emit(metadata, lambda: echo(f"{metadata.model_name} {metadata.version} is now in {metadata.stage.value}"))


@commands.command("approve")
def approve(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    stage: Annotated[str, typer.Argument(help="Stage the approval allows.")],
    approver: Annotated[str, typer.Option(help="Who approves.")],
    comment: Annotated[str, typer.Option(help="Free text.")] = "",
) -> None:
    """Approve a version for a stage (bound to its artifact digest); a pending request for it then proceeds."""
    metadata = open_registry().approve(name, version, stage, approver, comment)
    suffix = f"; it is now in {metadata.stage.value}" if metadata.stage.value == stage.strip().lower() else ""
    emit(metadata, lambda: echo(f"{approver} approved {metadata.model_name} {metadata.version} for {stage}{suffix}"))


@commands.command("request-promotion")
def request_promotion(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    stage: Annotated[str, typer.Argument(help="Stage asked for.")],
    comment: Annotated[str, typer.Option(help="Why.")] = "",
    requested_by: Annotated[Optional[str], typer.Option(help="Who asks (default: current user).")] = None,  # noqa: UP045
) -> None:
    """Ask for a promotion; it happens when an approver approves it."""
    metadata = open_registry().request_promotion(name, version, stage, requested_by=requested_by, comment=comment)
    pending = [r for r in metadata.promotion_requests if r.status == "pending"]
    emit(
        metadata,
        lambda: echo(
            f"requested {metadata.model_name} {metadata.version} -> {stage} (waiting for approval)"
            if pending
            else f"{metadata.model_name} {metadata.version} is now in {metadata.stage.value}"
        ),
    )


@commands.command("reject")
def reject(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    stage: Annotated[str, typer.Argument(help="Stage that was asked for.")],
    approver: Annotated[str, typer.Option(help="Who rejects.")],
    comment: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Reject a pending promotion request."""
    metadata = open_registry().reject(name, version, stage, approver, comment)
    emit(metadata, lambda: echo(f"{approver} rejected {metadata.model_name} {metadata.version} -> {stage}"))


@commands.command("pending")
def pending(name: Annotated[Optional[str], typer.Argument(help="Only this model.")] = None) -> None:  # noqa: UP045
    """List pending promotion requests."""
    found = open_registry().pending_requests(name)
    rows = [
        [m.model_name, m.version, r.from_stage.value, r.stage.value, r.requested_by, when(r.requested_at), r.comment]
        for m, r in found
    ]
    emit(
        [{"model": m.model_name, "version": m.version, "request": r} for m, r in found],
        lambda: (
            table(["model", "version", "from", "to", "requested by", "when", "comment"], rows)
            if rows
            else echo("no pending requests")
        ),
    )


@commands.command("archive")
def archive(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version label.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Archive a version."""
    metadata = open_registry().archive_model(name, version, reason=reason)
    emit(metadata, lambda: echo(f"{metadata.model_name} {metadata.version} is archived"))


@commands.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[
        Optional[str], typer.Argument(help="Version to restore (default: the previous production one).")  # noqa: UP045
    ] = None,
    endpoint_name: Annotated[Optional[str], typer.Option(help="Also put it back to 100% on this endpoint.")] = None,  # noqa: UP045
    reason: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Put production back on the previous (or given) version, and on an endpoint if given."""
    metadata = open_registry().rollback(name, version, reason=reason, endpoint_name=endpoint_name)
    where = f" and serves 100% of {endpoint_name}" if endpoint_name else ""
    emit(metadata, lambda: echo(f"{metadata.model_name} {metadata.version} is back in production{where}"))
