"""Commands that look after the registry itself: check (and garbage-collect)."""

from __future__ import annotations

from typing import Annotated

import typer

from registry_core.cli._context import open_registry
from registry_core.cli._output import echo, emit

commands = typer.Typer()


@commands.command("check")
def check(
    gc: Annotated[bool, typer.Option("--gc", help="Remove leftovers of interrupted registrations.")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="Re-hash every artifact file.")] = False,
) -> None:
    """Check records and artifacts; with --gc remove leftovers."""
    report = open_registry().check(gc=gc, deep=deep)

    def render() -> None:
        echo(f"checked {report.models_checked} models, {report.versions_checked} versions")
        for problem in report.problems:
            done = " (removed)" if problem.key in report.removed else ""
            echo(f"{problem.kind}: {problem.key}: {problem.message}{done}")
        echo("ok" if report.ok else "problems found")

    emit(report, render)
    if not report.ok:
        raise typer.Exit(1)
