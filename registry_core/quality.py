"""Model quality gate: thresholds on holdout metrics and a champion/challenger comparison (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from registry_core.comparison import lower_is_better


class ValidationPolicy(BaseModel):
    """What a version must show on holdout data to pass validation.

    Attributes:
        thresholds: metric -> bound; a minimum, or a maximum for lower-is-better metrics such as loss.
        primary_metric: Metric on which the challenger is compared with the PRODUCTION champion.
        max_regression: How much worse than the champion the challenger may be on the primary metric.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    thresholds: dict[str, float] = Field(default_factory=dict)
    primary_metric: str = "accuracy"
    max_regression: float = Field(default=0.0, ge=0.0)


class ValidationDecision(BaseModel):
    """Outcome of validating a challenger.

    Attributes:
        passed: Whether the version may move on to STAGING.
        reason: One line saying why.
        metrics: The challenger's holdout metrics.
        champion_version: The PRODUCTION version it was compared with, if any.
        champion_metrics: The champion's metrics on the same holdout data.
    """

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    passed: bool
    reason: str
    metrics: dict[str, float]
    champion_version: str | None = None
    champion_metrics: dict[str, float] = Field(default_factory=dict)


def decide(
    policy: ValidationPolicy,
    metrics: Mapping[str, float],
    champion_version: str | None = None,
    champion_metrics: Mapping[str, float] | None = None,
) -> ValidationDecision:
    """Apply `policy` to a challenger's holdout `metrics` (and the champion's, if there is one)."""
    failures = []
    for name, bound in sorted(policy.thresholds.items()):
        value = metrics.get(name)
        if value is None:
            failures.append(f"{name} is missing")
        elif lower_is_better(name) and value > bound:
            failures.append(f"{name} {value:.4f} > {bound:.4f}")
        elif not lower_is_better(name) and value < bound:
            failures.append(f"{name} {value:.4f} < {bound:.4f}")
    comparison = ""
    primary = policy.primary_metric
    if champion_version is not None and champion_metrics and primary in champion_metrics and primary in metrics:
        ours, theirs = metrics[primary], champion_metrics[primary]
        gap = (ours - theirs) if lower_is_better(primary) else (theirs - ours)
        comparison = f"{primary} {ours:.4f} vs champion {champion_version} {theirs:.4f}"
        if gap > policy.max_regression:
            failures.append(f"{comparison} (worse by {gap:.4f}, allowed {policy.max_regression:.4f})")
    if failures:
        reason = "failed: " + "; ".join(failures)
    else:
        checked = ", ".join(f"{n} {metrics[n]:.4f}" for n in sorted(policy.thresholds)) or "no thresholds"
        reason = f"passed: {checked}" + (f"; {comparison}" if comparison else "; no champion in production")
    return ValidationDecision(
        passed=not failures,
        reason=reason,
        metrics=dict(metrics),
        champion_version=champion_version,
        champion_metrics=dict(champion_metrics or {}),
    )
