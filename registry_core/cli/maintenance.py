"""Commands that look after the registry itself: check (and garbage-collect), migrate."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from registry_core.cli._context import open_registry
from registry_core.cli._output import echo, emit

commands = typer.Typer()
_KEPT = {"kept_upload": "artifact folder(s)", "kept_version_file": "version file(s)"}


@commands.command("check")
def check(
    gc: Annotated[bool, typer.Option("--gc", help="Remove leftovers of interrupted registrations.")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="Re-hash every artifact file.")] = False,
) -> None:
    """Check records and artifacts; with --gc remove leftovers."""
    report = open_registry().check(gc=gc, deep=deep)

    def render() -> None:
        echo(f"checked {report.models_checked} models, {report.versions_checked} versions")
        kept: dict[str, int] = {}
        for problem in report.problems:
            if not gc and problem.kind in _KEPT:  # only --gc would touch them: one line per kind, not one per file
                kept[problem.kind] = kept.get(problem.kind, 0) + 1
                continue
            done = " (removed)" if problem.key in report.removed else ""
            echo(f"{problem.kind}: {problem.key}: {problem.message}{done}")
        for kind, count in kept.items():
            what = f"{count} {_KEPT[kind]} of models whose records are damaged"
            echo(f"{kind}: {what} (--gc would leave them too; --json lists them)")
        echo("ok" if report.ok else "problems found")

    emit(report, render)
    if not report.ok:
        raise typer.Exit(1)


@commands.command("migrate")
def migrate(
    names: Annotated[Optional[list[str]], typer.Argument(help="Only these models (default: all).")] = None,  # noqa: UP045
) -> None:
    """Convert models from the one-document layout of earlier releases (safe to interrupt and run again)."""
    try:
        migrated = open_registry().migrate(names)
    except KeyboardInterrupt:
        echo("interrupted: run `model-registry migrate` again to go on where it stopped", err=True)
        raise typer.Exit(130) from None
    emit(
        {"migrated": migrated},
        lambda: echo("\n".join(f"migrated {name}" for name in migrated) if migrated else "nothing to migrate"),
    )
