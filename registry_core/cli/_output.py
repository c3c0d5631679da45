"""How the CLI prints: JSON with --json, else aligned tables and lines with every control character escaped."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import typer

from registry_core.cli._context import state
from registry_core.storage.transfer import Progress
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


@contextlib.contextmanager
def transfer_bar(description: str, total: Callable[[], int | None]) -> Iterator[Progress | None]:
    """Yield a callback that draws a progress bar of bytes transferred on stderr, or None where none belongs.

    None with --json and when stderr is not a terminal (pipes, logs, CI), so that nothing but the normal output
    appears there. The bar appears with the first byte transferred (so never for a transfer that does not happen,
    such as loading from a local registry, nor before an input error) and stays, complete, when it ends.

    Args:
        description: What is transferred, e.g. "uploading churn".
        total: Returns the bytes to transfer (None if unknown), asked when the bar appears.
    """
    if state.as_json or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, TaskID, TextColumn, TimeRemainingColumn, TransferSpeedColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True),
    )  # fmt: skip
    tasks: list[TaskID] = []

    def update(done: int) -> None:  # called by one transfer thread at a time
        if not tasks:
            bar.start()
            tasks.append(bar.add_task(printable(description), total=total()))
        bar.update(tasks[0], completed=done)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()
