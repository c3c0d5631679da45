"""Validation of user-supplied names, so that no name can become a path outside the registry."""

from __future__ import annotations

import re

from registry_core.errors import InvalidNameError
from registry_core.text import shown

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_RULE = "must start with a lowercase letter and use only a-z, 0-9, '-' and '_' (at most 63 characters)"


def validate_name(name: object, kind: str = "model") -> str:
    """Return `name` if it is a valid model (or endpoint) name.

    Raises:
        InvalidNameError: it is not a string, or does not match NAME_PATTERN.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        msg = f"invalid {kind} name {shown(name)}: {_RULE}"
        raise InvalidNameError(msg)
    return name
