"""Parsing of option values shared by the command modules; every refusal is an InvalidInputError naming the value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry_core.errors import InvalidInputError
from registry_core.text import shown


def pairs(items: list[str], what: str) -> dict[str, str]:
    """Parse NAME=VALUE options. Raises: InvalidInputError naming the bad item."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            msg = f"invalid {what} {shown(item)}: expected NAME=VALUE"
            raise InvalidInputError(msg)
        result[key.strip()] = value.strip()
    return result


def parse_number(text: str, what: str) -> float:
    """Parse a number option. Raises: InvalidInputError naming `what`."""
    try:
        return float(text)
    except ValueError:
        msg = f"{what} must be a number, got {shown(text)}"
        raise InvalidInputError(msg) from None


def param_value(text: str) -> Any:
    """Return a JSON scalar written on the command line as itself (``3``, ``true``), anything else as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def parse_moment(text: str) -> datetime:
    """Parse an ISO 8601 moment ("2026-11-29T14:00:00Z", "2026-11-29 14:00"); one without a zone is UTC.

    Raises:
        InvalidInputError: naming the text.
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        msg = f"invalid moment {shown(text)}: expected ISO 8601, e.g. 2026-11-29T14:00:00Z"
        raise InvalidInputError(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def read_instances(path: Path) -> list[Any]:
    """Read instances from a JSON file holding {"instances": [...]} or a bare list."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read {shown(str(path))}: {exc.strerror or exc}"
        raise InvalidInputError(msg) from None
    except ValueError as exc:
        msg = f"{shown(str(path))} is not valid JSON: {exc}"
        raise InvalidInputError(msg) from None
    instances = data.get("instances") if isinstance(data, dict) else data
    if not isinstance(instances, list) or not instances:
        msg = f'{shown(str(path))} must hold {{"instances": [...]}} or a non-empty list'
        raise InvalidInputError(msg)
    return instances
