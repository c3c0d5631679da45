"""Validation of the free-form arguments of register_model (tags, params, lineage, description, path)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from registry_core.errors import InvalidInputError
from registry_core.metadata import Lineage, ParamValue

MAX_TAG_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 10_000
MAX_PARAM_NAME_LENGTH = 256


def clean_tags(tags: Iterable[str] | str) -> tuple[str, ...]:
    """Return sorted, distinct, stripped tags. Raises: InvalidInputError."""
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, Iterable):
        msg = f"tags must be a list of strings, got {type(tags).__name__}"
        raise InvalidInputError(msg)
    result = set()
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
            msg = f"invalid tag {tag!r}: tags are non-empty printable strings of at most {MAX_TAG_LENGTH} characters"
            raise InvalidInputError(msg)
        result.add(tag.strip())
    return tuple(sorted(result))


def clean_params(params: Mapping[str, Any] | None) -> dict[str, ParamValue]:
    """Return `params` if every name is a string and every value a JSON scalar. Raises: InvalidInputError."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        msg = f"params must be a mapping of names to values, got {type(params).__name__}"
        raise InvalidInputError(msg)
    result: dict[str, ParamValue] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name or len(name) > MAX_PARAM_NAME_LENGTH:
            msg = f"invalid parameter name {name!r}"
            raise InvalidInputError(msg)
        if value is not None and not isinstance(value, str | int | float | bool):
            msg = f"parameter {name!r} must be a string, number, boolean or None, got {type(value).__name__}"
            raise InvalidInputError(msg)
        if isinstance(value, float) and not math.isfinite(value):
            msg = f"parameter {name!r} must be finite, got {value}"
            raise InvalidInputError(msg)
        result[name] = value
    return result


def clean_description(description: str) -> str:
    """Return `description` if it is a string of reasonable length. Raises: InvalidInputError."""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
        msg = f"description must be a string of at most {MAX_DESCRIPTION_LENGTH} characters"
        raise InvalidInputError(msg)
    return description


def clean_lineage(lineage: Lineage | Mapping[str, Any] | None) -> Lineage:
    """Return `lineage` as a Lineage record. Raises: InvalidInputError."""
    if lineage is None:
        return Lineage()
    if isinstance(lineage, Lineage):
        return lineage
    try:
        return Lineage.model_validate(dict(lineage))
    except (ValidationError, TypeError, ValueError) as exc:
        msg = f"invalid lineage: {str(exc).splitlines()[0]}"
        raise InvalidInputError(msg) from None


def artifact_folder(path: str | os.PathLike[str]) -> Path:
    """Return the folder to register from `path` (an existing, non-empty folder or a single file).

    Raises:
        InvalidInputError: it does not exist, is empty, or is not a file or folder.
    """
    if not isinstance(path, str | os.PathLike) or not os.fspath(path).strip():
        msg = f"invalid artifact path {path!r}: expected a file or folder"
        raise InvalidInputError(msg)
    try:
        resolved = Path(path).expanduser()
        exists = resolved.exists()
    except (TypeError, ValueError, OSError):
        msg = f"invalid artifact path {path!r}"
        raise InvalidInputError(msg) from None
    if not exists:
        msg = f"artifact path {str(resolved)!r} does not exist"
        raise InvalidInputError(msg)
    if resolved.is_file():
        return resolved
    if not resolved.is_dir():
        msg = f"artifact path {str(resolved)!r} is neither a file nor a folder"
        raise InvalidInputError(msg)
    if not any(p.is_file() for p in resolved.rglob("*")):
        msg = f"artifact folder {str(resolved)!r} contains no files"
        raise InvalidInputError(msg)
    return resolved


def detect_framework(folder: Path) -> str | None:
    """Guess the framework of an artifact folder from its well-known files."""
    folder_files = [folder.name] if folder.is_file() else [p.name for p in folder.iterdir()]
    if "saved_model.pb" in folder_files:
        return "tensorflow"
    if any(name.endswith(".keras") for name in folder_files):
        return "keras"
    if "MLmodel" in folder_files:
        return "mlflow"
    if any(name.endswith((".pkl", ".joblib")) for name in folder_files):
        return "sklearn"
    return None
