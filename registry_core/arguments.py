"""Argument checks and cleaning: names that cannot become paths, and the free-form arguments of register_model."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from registry_core.bounds import MAX_KEY, MAX_TAGS, MAX_TEXT, MAX_URI, check_count, check_number, check_text
from registry_core.errors import InvalidInputError, InvalidNameError
from registry_core.metadata import Lineage, ParamValue
from registry_core.storage.base import walk_files
from registry_core.text import one_line, shown

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_NAME_RULE = "must start with a lowercase letter and use only a-z, 0-9, '-' and '_' (at most 63 characters)"

MAX_TAG_LENGTH = 128
MAX_DESCRIPTION_LENGTH = MAX_TEXT
MAX_PARAM_NAME_LENGTH = MAX_KEY
MAX_FRAMEWORK_LENGTH = 64


def validate_name(name: object, kind: str = "model") -> str:
    """Return `name` if it is a valid model (or endpoint) name, so that no name can become a path outside the registry.

    Raises:
        InvalidNameError: it is not a string, or does not match NAME_PATTERN.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        msg = f"invalid {kind} name {shown(name)}: {_NAME_RULE}"
        raise InvalidNameError(msg)
    return name


def clean_tags(tags: Iterable[str] | str) -> tuple[str, ...]:
    """Return sorted, distinct, stripped tags (at most MAX_TAGS). Raises: InvalidInputError."""
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, Iterable):
        msg = f"tags must be a list of strings, got {type(tags).__name__}"
        raise InvalidInputError(msg)
    result = set()
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
            msg = (
                f"invalid tag {shown(tag)}: tags are non-empty printable strings of at most {MAX_TAG_LENGTH} characters"
            )
            raise InvalidInputError(msg)
        result.add(tag.strip())
        check_count(result, "tags", MAX_TAGS)
    return tuple(sorted(result))


def clean_params(params: Mapping[str, Any] | None) -> dict[str, ParamValue]:
    """Return `params` if every name is a string and every value a JSON scalar that reads back equal.

    At most MAX_ENTRIES parameters; names of at most MAX_KEY characters; strings of at most MAX_TEXT; integers
    within ±MAX_SAFE_INTEGER; finite floats.

    Raises:
        InvalidInputError: naming the first parameter that breaks a rule.
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        msg = f"params must be a mapping of names to values, got {type(params).__name__}"
        raise InvalidInputError(msg)
    check_count(params, "parameters")
    result: dict[str, ParamValue] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            msg = f"invalid parameter name {shown(name)}: expected a non-empty string"
            raise InvalidInputError(msg)
        check_text(name, "parameter name", MAX_KEY)
        what = f"parameter {shown(name)}"
        if isinstance(value, str):
            check_text(value, what)
        elif isinstance(value, int | float):
            check_number(value, what)
        elif value is not None:
            msg = f"{what} must be a string, number, boolean or None, got {type(value).__name__}"
            raise InvalidInputError(msg)
        result[name] = value
    return result


def clean_description(description: str, what: str = "description") -> str:
    """Return `description` (or a reason, a comment) if it is valid text of at most MAX_TEXT characters.

    Raises:
        InvalidInputError: naming `what`.
    """
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
        msg = f"{what} must be a string of at most {MAX_DESCRIPTION_LENGTH} characters"
        raise InvalidInputError(msg)
    return check_text(description, what)


def clean_framework(framework: object) -> str | None:
    """Return `framework` (e.g. "tensorflow") if it is None or a short printable string. Raises: InvalidInputError."""
    if framework is None:
        return None
    if not isinstance(framework, str) or not framework.isprintable() or len(framework) > MAX_FRAMEWORK_LENGTH:
        msg = (
            f"invalid framework {shown(framework)}: expected a printable name of at most {MAX_FRAMEWORK_LENGTH} "
            "characters"
        )
        raise InvalidInputError(msg)
    return framework


def clean_lineage(lineage: Lineage | Mapping[str, Any] | None) -> Lineage:
    """Return `lineage` as a Lineage record whose texts and counts are within bounds. Raises: InvalidInputError."""
    if lineage is None:
        return Lineage()
    if not isinstance(lineage, Lineage):
        if not isinstance(lineage, Mapping):
            msg = f"lineage must be a mapping or a Lineage, got {type(lineage).__name__}"
            raise InvalidInputError(msg)
        try:
            lineage = Lineage.model_validate(dict(lineage))
        except ValidationError as exc:
            msg = f"invalid lineage: {one_line(exc)}"
            raise InvalidInputError(msg) from None
    check_count(lineage.training_data_uris, "training data URIs")
    for uri in lineage.training_data_uris:
        check_text(uri, "training data URI", MAX_URI)
    for field in ("pipeline_run", "code_version", "parent_version"):
        value = getattr(lineage, field)
        if value is not None:
            check_text(value, f"lineage {field}", MAX_URI)
    check_count(lineage.extra, "lineage notes")
    for key, value in lineage.extra.items():
        check_text(key, "lineage note name", MAX_KEY)
        check_text(value, f"lineage note {shown(key)}")
    return lineage


def clean_annotations(annotations: Mapping[Any, Any]) -> dict[str, str]:
    """Return `annotations` as strings (numbers and booleans are written as text), within bounds.

    Raises:
        InvalidInputError: not a mapping, a value that is not a scalar, or a bound broken.
    """
    if not isinstance(annotations, Mapping):
        msg = f"annotations must be a mapping of names to values, got {type(annotations).__name__}"
        raise InvalidInputError(msg)
    check_count(annotations, "annotations")
    notes: dict[str, str] = {}
    for key, value in annotations.items():
        name = check_text(_as_text(key, "annotation name"), "annotation name", MAX_KEY)
        notes[name] = check_text(_as_text(value, f"annotation {shown(name)}"), f"annotation {shown(name)}")
    return notes


def _as_text(value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        check_number(value, what)  # str() of a huge integer fails, and it would not be a useful note anyway
    if not isinstance(value, str | int | float | bool):
        msg = f"{what} must be a string, number or boolean, got {type(value).__name__}"
        raise InvalidInputError(msg)
    return str(value)


def artifact_folder(path: str | os.PathLike[str]) -> Path:
    """Return the folder to register from `path` (an existing, non-empty folder or a single file).

    `path` itself may be a symbolic link; links inside the folder are refused (see `walk_files`).

    Raises:
        InvalidInputError: it does not exist, is empty, is not a file or folder, or holds a symbolic link, a
            special file or a file name that is not printable UTF-8.
    """
    if not isinstance(path, str | os.PathLike) or not os.fspath(path).strip():
        msg = f"invalid artifact path {shown(path)}: expected a file or folder"
        raise InvalidInputError(msg)
    try:
        resolved = Path(path).expanduser()
        exists = resolved.exists()
    except (TypeError, ValueError, OSError):
        msg = f"invalid artifact path {shown(path)}"
        raise InvalidInputError(msg) from None
    if not exists:
        msg = f"artifact path {shown(str(resolved))} does not exist"
        raise InvalidInputError(msg)
    if resolved.is_file():
        return resolved
    if not resolved.is_dir():
        msg = f"artifact path {shown(str(resolved))} is neither a file nor a folder"
        raise InvalidInputError(msg)
    if not walk_files(resolved):  # also refuses links and special files inside, naming them
        msg = f"artifact folder {shown(str(resolved))} contains no files"
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


def clean_actor(value: object, role: str = "actor") -> str:
    """Return the name of who acts (an actor, an approver), stripped. Raises: InvalidInputError."""
    if not isinstance(value, str) or not value.strip() or len(value) > 256 or not value.isprintable():
        msg = f"invalid {role} {shown(value)}: expected a non-empty printable name"
        raise InvalidInputError(msg)
    return value.strip()


def refuse_overlap(folder: Path, root: Path | None) -> None:
    """Refuse artifacts that contain the registry root or lie inside it (registering the registry into itself).

    Raises:
        InvalidInputError: `folder` and the local registry `root` overlap.
    """
    if root is None:
        return
    source, registry_root = folder.resolve(), root.resolve()
    if registry_root.is_relative_to(source) or source.is_relative_to(registry_root):
        msg = (
            f"artifact path {shown(str(folder))} overlaps the registry root {shown(str(root))}; "
            "register a folder outside it"
        )
        raise InvalidInputError(msg)
