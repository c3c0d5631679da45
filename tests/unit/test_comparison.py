"""Comparing versions: the best value of each metric, by its direction, and the rows the CLI prints."""

from __future__ import annotations

from datetime import UTC, datetime

from registry_core.comparison import compare, lower_is_better
from registry_core.metadata import ModelMetadata, ModelPerformance


def version(label: str, **metrics: float) -> ModelMetadata:
    return ModelMetadata(
        model_id=label, model_name="churn", version=label, metrics=ModelPerformance.from_mapping(metrics),
        artifact_uri=f"file:///r/artifacts/churn/{label}", artifact_digest="sha256:" + "0" * 64,
        registered_by="alice", registered_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_loss_error_latency_and_their_kin_are_lower_is_better() -> None:
    assert [lower_is_better(m) for m in ("val_loss", "Error_rate", "latency_ms", "rmse", "accuracy", "auc")] == [
        True, True, True, True, False, False,
    ]  # fmt: skip


def test_the_best_of_each_metric_is_marked_by_its_direction() -> None:
    comparison = compare("churn", [version("v1", accuracy=0.8, loss=0.3), version("v2", accuracy=0.9, loss=0.4)], None)
    assert comparison.best == {"accuracy": "v2", "loss": "v1"}
    assert comparison.rows() == [["accuracy", "0.8", "0.9 *"], ["loss", "0.3 *", "0.4"]]


def test_a_missing_metric_shows_a_dash_and_ties_go_to_the_first_version() -> None:
    comparison = compare("churn", [version("v1", auc=0.7), version("v2", auc=0.7, f1=0.5)], None)
    assert comparison.best == {"auc": "v1", "f1": "v2"}
    assert comparison.rows() == [["auc", "0.7 *", "0.7"], ["f1", "-", "0.5 *"]]


def test_only_the_metrics_asked_for_in_their_order() -> None:
    comparison = compare("churn", [version("v1", a=1.0, b=2.0, c=3.0), version("v2", a=2.0, b=1.0)], ["c", "a"])
    assert list(comparison.metrics) == ["c", "a"]
    assert comparison.versions == ("v1", "v2")
