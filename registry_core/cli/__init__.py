"""The model-registry command line (``model-registry``, ``python -m registry_core.cli``, ``python -m registry_core``).

`app` assembles the command modules; they import only the helpers (``_context``, ``_output``, ``_parsing``), never
the app, so each command exists however the CLI is entered.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: the process's arguments) and return the exit code."""
    from registry_core.cli.app import main as run

    return run(argv)
