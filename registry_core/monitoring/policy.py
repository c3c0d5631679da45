"""What a monitoring run looks at and when it raises the alarm: the policy, from a file or stored per endpoint."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_core.arguments import validate_name
from registry_core.errors import InvalidInputError, NotFoundError
from registry_core.monitoring.live_quality import DEFAULT_MIN_LABELED, DEFAULT_TOLERANCES
from registry_core.monitoring.log_layout import MONITORING_PREFIX
from registry_core.monitoring.traffic import DEFAULT_MAX_FEEDBACK, DEFAULT_SAMPLE_SIZE
from registry_core.monitoring.validation import ValidationThresholds
from registry_core.text import one_line, shown

if TYPE_CHECKING:
    from registry_core.storage.base import StorageBackend

DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=366)
DEFAULT_MIN_PREDICTIONS = 100
"""Fewer predictions than this say too little to call drift (the scores are still shown)."""
DEFAULT_RETRAIN_COOLDOWN = timedelta(hours=24)
"""After a retraining starts, further alerts of the endpoint do not start another one for this long."""
_WINDOW = re.compile(r"\s*(?P<count>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[smhdw])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_POLICY_KEYS = (
    "window", "thresholds", "quality_tolerances", "min_predictions", "min_labeled", "sample_size", "max_feedback",
    "retrain", "retrain_cooldown", "retraining",
)  # fmt: skip


def parse_window(text: str) -> timedelta:
    """Return the duration written as a number and a unit: "30m", "24h", "7d", "1w", "90s".

    Raises:
        InvalidInputError: another spelling, zero, or longer than a year.
    """
    found = _WINDOW.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        msg = f"a window is a number and a unit (s, m, h, d or w), e.g. 24h or 7d; got {shown(text)}"
        raise InvalidInputError(msg)
    window = timedelta(**{_UNITS[found["unit"]]: float(found["count"])})
    if not timedelta(0) < window <= MAX_WINDOW:
        msg = f"a window must be longer than 0 and at most {MAX_WINDOW.days} days, got {text.strip()}"
        raise InvalidInputError(msg)
    return window


@dataclass(frozen=True)
class MonitorPolicy:
    """What a monitoring run looks at and when it raises the alarm.

    Attributes:
        window: How far back from now the traffic is read.
        thresholds: Drift and schema-check thresholds (the same as the pipeline's data validation).
        quality_tolerances: Metric -> how much worse it may be live than at validation.
        min_predictions: Fewer predictions than this do not count as drift.
        min_labeled: Fewer predictions with feedback than this do not count as degraded quality.
        sample_size: Instances profiled at most, and labelled predictions scored at most, per version (uniform
            samples of the window).
        max_feedback: Prediction ids whose feedback is kept for joining; more is counted as a gap.
        retrain: Start retraining when the alarm is raised.
        retrain_cooldown: After a retraining starts, how long the endpoint's later alerts start none.
        retraining: How to retrain: ``runner`` ("local" or "vertex"), ``data_source_uri``, ``parameters`` and the
            Vertex settings (see `registry_core.monitoring.retraining.RetrainRequest`).
    """

    window: timedelta = DEFAULT_WINDOW
    thresholds: ValidationThresholds = field(default_factory=ValidationThresholds)
    quality_tolerances: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    min_predictions: int = DEFAULT_MIN_PREDICTIONS
    min_labeled: int = DEFAULT_MIN_LABELED
    sample_size: int = DEFAULT_SAMPLE_SIZE
    max_feedback: int = DEFAULT_MAX_FEEDBACK
    retrain: bool = False
    retrain_cooldown: timedelta = DEFAULT_RETRAIN_COOLDOWN
    retraining: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> MonitorPolicy:
        """Build from plain data (a policy file); absent keys keep their defaults.

        Keys: ``window`` ("24h"), ``thresholds`` (as the pipeline's ``data_thresholds``), ``quality_tolerances``
        (metric -> number), ``min_predictions``, ``min_labeled``, ``sample_size``, ``max_feedback``, ``retrain``
        (bool), ``retrain_cooldown`` ("24h"), ``retraining`` (mapping: the fields of `RetrainRequest` that a
        policy sets: runner, data_source_uri, parameters, project, region, pipeline_root, ...).

        Raises:
            InvalidInputError: an unknown key or a value of the wrong kind.
        """
        values = dict(values or {})
        if unknown := sorted(set(values) - set(_POLICY_KEYS)):
            msg = f"unknown monitoring policy key {shown(unknown[0])}; expected some of: {', '.join(_POLICY_KEYS)}"
            raise InvalidInputError(msg)
        default = cls()
        tolerances = values.get("quality_tolerances", default.quality_tolerances)
        if not isinstance(tolerances, Mapping) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in tolerances.values()
        ):
            msg = "quality_tolerances must map metric names to non-negative numbers"
            raise InvalidInputError(msg)
        retraining = _retraining(values.get("retraining", {}))
        retrain = values.get("retrain", False)
        if not isinstance(retrain, bool):
            msg = f"retrain must be true or false, got {shown(retrain)}"
            raise InvalidInputError(msg)
        return cls(
            window=parse_window(values["window"]) if "window" in values else default.window,
            thresholds=ValidationThresholds.from_mapping(values.get("thresholds")),
            quality_tolerances={str(k): float(v) for k, v in tolerances.items()},
            min_predictions=_count(values.get("min_predictions", default.min_predictions), "min_predictions", 1),
            min_labeled=_count(values.get("min_labeled", default.min_labeled), "min_labeled"),
            sample_size=_count(values.get("sample_size", default.sample_size), "sample_size", minimum=1),
            max_feedback=_count(values.get("max_feedback", default.max_feedback), "max_feedback", minimum=1),
            retrain=retrain,
            retrain_cooldown=(
                parse_window(values["retrain_cooldown"]) if "retrain_cooldown" in values else default.retrain_cooldown
            ),
            retraining=dict(retraining),
        )


def _retraining(values: object) -> dict[str, Any]:
    """Check the retraining settings now, not when an alert comes: keys, and JSON-able values of the right kind."""
    from dataclasses import fields

    from registry_core.monitoring.retraining import POLICY_SETTINGS, RetrainRequest

    if not isinstance(values, Mapping):
        msg = f"retraining must be a mapping of: {', '.join(POLICY_SETTINGS)}"
        raise InvalidInputError(msg)
    if unknown := sorted(set(values) - set(POLICY_SETTINGS)):
        msg = f"unknown retraining setting {shown(unknown[0])}; expected some of: {', '.join(POLICY_SETTINGS)}"
        raise InvalidInputError(msg)
    kinds = {f.name: f.type for f in fields(RetrainRequest)}
    for name, value in values.items():
        expected = dict if kinds[name] in ("dict[str, Any]", dict) else str
        if not isinstance(value, expected):
            kind = "mapping" if expected is dict else "string"
            msg = f"retraining setting {name} must be a {kind}, got {shown(value)}"
            raise InvalidInputError(msg)
    try:
        json.dumps(dict(values), allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"retraining settings must be plain JSON values (no dates or NaN): {one_line(exc)}"
        raise InvalidInputError(msg) from None
    return dict(values)


def _count(value: object, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{name} must be a whole number of at least {minimum}, got {shown(value)}"
        raise InvalidInputError(msg)
    return value


POLICY_FILE = "policy.json"


def policy_key(endpoint: str) -> str:
    """Key of the endpoint's stored monitoring policy (what scheduled runs use when no file is given)."""
    return f"{MONITORING_PREFIX}{validate_name(endpoint, 'endpoint')}/{POLICY_FILE}"


def read_policy_file(path: str) -> dict[str, Any]:
    """Return the policy mapping in a JSON or TOML file (by its suffix).

    Raises:
        InvalidInputError: the file cannot be read or parsed, or is not a mapping.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
        values = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        msg = f"cannot read the monitoring policy {path}: {one_line(exc)}"
        raise InvalidInputError(msg) from None
    if not isinstance(values, dict):
        msg = f"the monitoring policy {path} must hold a mapping (JSON object or TOML table)"
        raise InvalidInputError(msg)
    return values


def stored_policy(storage: StorageBackend, endpoint: str) -> MonitorPolicy:
    """Return the endpoint's stored policy (``monitoring/<endpoint>/policy.json``), or the defaults without one.

    Raises:
        InvalidInputError: the stored policy is not valid.
    """
    try:
        data = storage.read(policy_key(endpoint))
    except NotFoundError:
        return MonitorPolicy()
    try:
        values = json.loads(data)
    except ValueError as exc:
        msg = f"the stored monitoring policy of {endpoint} is not JSON: {one_line(exc)}"
        raise InvalidInputError(msg) from None
    return MonitorPolicy.from_mapping(values if isinstance(values, dict) else {"": values})


def store_policy(storage: StorageBackend, endpoint: str, values: Mapping[str, Any]) -> MonitorPolicy:
    """Check `values` as a policy and store them as the endpoint's policy; return it. Raises: InvalidInputError."""
    policy = MonitorPolicy.from_mapping(values)
    storage.write(policy_key(endpoint), json.dumps(dict(values), sort_keys=True).encode("utf-8"))
    return policy
