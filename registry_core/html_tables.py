"""HTML tables for notebooks: what the ``_repr_html_`` of versions, comparisons, histories and endpoints return."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from registry_core.text import printable


@dataclass(frozen=True)
class Strong:
    """A cell value to show in bold (e.g. the best value of a metric).

    Attributes:
        value: The value shown.
    """

    value: object


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, caption: str = "") -> str:
    """Return an HTML table of `rows` under `columns`, every value escaped.

    Names, descriptions, reasons and tags come from other people, so no value is ever markup: each is shown as
    text, with control characters as escapes (as the CLI shows them).

    Args:
        columns: Header of each column.
        rows: One sequence of values per row (see `cell` for how values are shown).
        caption: Text above the table.

    Returns:
        A ``<table>`` element.
    """
    head = "".join(f"<th>{_text(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    top = f"<caption>{_text(caption)}</caption>" if caption else ""
    return f'<table class="registry-core">{top}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def cell(value: object) -> str:
    """Return the escaped HTML of one value: times to the second, numbers to 4 digits, collections joined."""
    if isinstance(value, Strong):
        return f"<strong>{cell(value.value)}</strong>"
    return _text(plain(value))


def plain(value: object) -> str:
    """Return the display text of a value (not yet escaped)."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{plain(k)}={plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(item) for item in value)
    return str(value)


def _text(value: object) -> str:
    return html.escape(printable(value), quote=True)
