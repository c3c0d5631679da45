"""The model-registry app: global options, the command modules, plugins, and errors turned into exit codes.

This is the one module that assembles the CLI; the command modules never import it, so ``model-registry``,
``python -m registry_core.cli`` and ``python -m registry_core`` offer exactly the same commands.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Optional

import typer

from registry_core.cli import deploy, lifecycle, maintenance, monitoring, ui, versions
from registry_core.cli._context import state
from registry_core.cli._output import echo
from registry_core.errors import InvalidInputError, RegistryError, StorageError
from registry_core.text import one_line

PLUGIN_GROUP = "registry_core.commands"

app = typer.Typer(
    name="model-registry",
    help="Version, promote, compare and roll back ML models (local folder or gs:// registry).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for _module in (versions, lifecycle, deploy, monitoring, maintenance, ui):
    app.add_typer(_module.commands)


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


_plugins_added = False


def _add_plugins() -> None:
    """Add the command groups that installed packages declare (e.g. `pipeline`), once, when the CLI first runs.

    Not at import: reading the entry points costs time that `import registry_core.cli.app` should not.
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
            echo(f"warning: the '{entry.name}' commands are unavailable: {one_line(exc)}", err=True)


def _error(message: object) -> None:
    echo(f"error: {one_line(message)}", err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (errors print one line on stderr)."""
    _add_plugins()
    try:
        result = app(args=list(argv) if argv is not None else None, prog_name="model-registry", standalone_mode=False)
    except RegistryError as exc:
        _error(exc)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # click's UsageError and friends (exit code 2 for usage)
        hint = " (see --help)" if exc.exit_code == 2 else ""
        _error(f"{exc.format_message()}{hint}")
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt, EOFError):
        echo("aborted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except ValueError as exc:  # pydantic ValidationError of a config value
        _error(exc if str(exc) else repr(exc))
        return InvalidInputError.exit_code
    except OSError as exc:
        _error(exc)
        return StorageError.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
