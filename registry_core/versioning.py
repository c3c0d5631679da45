"""Version labels: auto-increment (v1, v2, ...) or semantic (v1.2.3 with major/minor/patch bumps)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from registry_core.errors import InvalidInputError, InvalidVersionError
from registry_core.text import shown

_AUTO = re.compile(r"v?([1-9][0-9]{0,8})")
_AUTO_MAX = 999_999_999  # the highest number _AUTO takes
_SEMVER = re.compile(r"v?(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})")
BUMPS = ("major", "minor", "patch")


class VersioningStrategy(StrEnum):
    """How a model's version labels are issued."""

    AUTO_INCREMENT = "auto_increment"
    SEMANTIC = "semantic"

    @classmethod
    def parse(cls, value: str | VersioningStrategy) -> VersioningStrategy:
        """Return the strategy named by `value` (e.g. "semantic")."""
        try:
            return cls(str(value).strip().lower().replace("-", "_"))
        except ValueError:
            names = ", ".join(s.value for s in cls)
            msg = f"unknown versioning strategy {shown(value)}; expected one of: {names}"
            raise InvalidInputError(msg) from None


def version_key(label: str) -> tuple[int, ...]:
    """Return a sort key that orders labels numerically (v2 < v10, v1.2.0 < v1.10.0).

    Raises:
        InvalidVersionError: `label` is neither an auto-increment nor a semantic label.
    """
    for pattern in (_AUTO, _SEMVER):
        match = pattern.fullmatch(label)
        if match:
            return tuple(int(part) for part in match.groups())
    msg = f"invalid version {shown(label)}: expected 'v<N>' (e.g. v3) or 'v<major>.<minor>.<patch>' (e.g. v1.2.0)"
    raise InvalidVersionError(msg)


def normalize_version(label: object, strategy: VersioningStrategy | None = None) -> str:
    """Return the canonical form of a user-given label ("3" -> "v3", "1.2.0" -> "v1.2.0").

    Args:
        label: The label as typed by a user.
        strategy: If given, the label must belong to it.

    Raises:
        InvalidVersionError: malformed, or of the other strategy.
    """
    if not isinstance(label, str):
        msg = f"invalid version {shown(label)}: expected a string such as 'v3' or 'v1.2.0'"
        raise InvalidVersionError(msg)
    text = label.strip()
    parts = version_key(text)
    if strategy is VersioningStrategy.AUTO_INCREMENT and len(parts) != 1:
        msg = f"invalid version {shown(label)}: this model uses auto-increment versions like 'v3'"
        raise InvalidVersionError(msg)
    if strategy is VersioningStrategy.SEMANTIC and len(parts) != 3:
        msg = f"invalid version {shown(label)}: this model uses semantic versions like 'v1.2.0'"
        raise InvalidVersionError(msg)
    return "v" + ".".join(str(p) for p in parts)


def next_version(strategy: VersioningStrategy, existing: Iterable[str], bump: str = "minor") -> str:
    """Return the label that follows the highest of `existing`.

    Args:
        strategy: The model's versioning strategy.
        existing: Labels already issued (of that strategy).
        bump: For SEMANTIC: which part to increase ("major", "minor" or "patch").

    Raises:
        InvalidInputError: `bump` is not one of BUMPS.
    """
    check_bump(bump)
    keys = [version_key(label) for label in existing]
    if strategy is VersioningStrategy.AUTO_INCREMENT:
        highest = max((k[0] for k in keys), default=0)
        if highest >= _AUTO_MAX:
            msg = f"no label follows v{highest} (auto-increment labels have at most 9 digits); give a free one"
            raise InvalidVersionError(msg)
        return f"v{highest + 1}"
    if not keys:
        return "v1.0.0"
    major, minor, patch = max(keys)
    if bump == "major":
        return f"v{major + 1}.0.0"
    if bump == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"


def check_bump(bump: object) -> str:
    """Return `bump` if it is one of BUMPS ("major", "minor" or "patch"). Raises: InvalidInputError."""
    if not isinstance(bump, str) or bump not in BUMPS:
        msg = f"invalid bump {shown(bump)}; expected one of: {', '.join(BUMPS)}"
        raise InvalidInputError(msg)
    return bump
