"""How the CLI prints: JSON with --json, else aligned tables and lines with every control character escaped."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import typer

from registry_core.cli._context import state
from registry_core.text import printable


def echo(text: object = "", *, err: bool = False) -> None:
    """Print `text` with control characters escaped (descriptions, reasons and names come from other people)."""
    typer.echo("\n".join(printable(line) for line in str(text).split("\n")), err=err)


def emit(data: Any, render: Callable[[], object]) -> None:
    """Print `data` as JSON with --json, else call `render()` for the human form."""
    if state.as_json:
        typer.echo(json.dumps(jsonable(data), indent=2, sort_keys=False))
    else:
        render()


def jsonable(data: Any) -> Any:
    """Return `data` (pydantic models, lists, dicts) as plain JSON values."""
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [jsonable(item) for item in data]
    if isinstance(data, dict):
        return {key: jsonable(value) for key, value in data.items()}
    return data


def table(columns: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None) -> None:
    """Print an aligned plain-text table (pipes and narrow terminals get whole lines, never wrapped cells)."""
    cells = [[_cell(c) for c in columns], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [printable(title)] if title else []
    for index, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    typer.echo("\n".join(lines))


def _cell(value: object) -> str:
    return " ".join(printable(value).split("\n"))


def metrics_summary(metrics: dict[str, float], limit: int = 3) -> str:
    """Return the first `limit` metrics as ``name=value`` pairs."""
    return ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:limit])


def when(value: Any) -> str:
    """Return a timestamp as ``YYYY-MM-DD HH:MM:SS`` ("" for none)."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""
