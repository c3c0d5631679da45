"""The stage transition table and the check of a stage change."""

from __future__ import annotations

from collections.abc import Mapping

from registry_core.errors import InvalidTransitionError
from registry_core.metadata import ModelStage

S = ModelStage
ALLOWED_TRANSITIONS: Mapping[ModelStage, frozenset[ModelStage]] = {
    S.DEVELOPMENT: frozenset({S.VALIDATION, S.ARCHIVED}),
    S.VALIDATION: frozenset({S.STAGING, S.DEVELOPMENT, S.ARCHIVED}),
    S.STAGING: frozenset({S.PRODUCTION, S.VALIDATION, S.DEVELOPMENT, S.ARCHIVED}),
    S.PRODUCTION: frozenset({S.STAGING, S.ARCHIVED}),
    S.ARCHIVED: frozenset({S.DEVELOPMENT}),
}
_ORDER = {stage: index for index, stage in enumerate(ModelStage)}


def is_allowed(current: ModelStage, target: ModelStage) -> bool:
    """Return True if the table allows moving from `current` to `target`."""
    return target in ALLOWED_TRANSITIONS[current]


def allowed_targets(current: ModelStage) -> list[ModelStage]:
    """Return the stages reachable from `current`, in lifecycle order."""
    return sorted(ALLOWED_TRANSITIONS[current], key=_ORDER.__getitem__)


def check_transition(version: str, current: ModelStage, target: ModelStage) -> None:
    """Refuse a stage change that is not in ALLOWED_TRANSITIONS.

    Raises:
        InvalidTransitionError: naming the stages that are allowed from `current`.
    """
    if is_allowed(current, target):
        return
    allowed = ", ".join(s.value for s in allowed_targets(current))
    if current is target:
        msg = f"version {version} is already in {target.value}; allowed from there: {allowed}"
    else:
        msg = f"cannot move version {version} from {current.value} to {target.value}; allowed: {allowed}"
    raise InvalidTransitionError(msg)
