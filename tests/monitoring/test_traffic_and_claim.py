"""The monitor's bounded reading of a window, and its retraining claim on both backends."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from registry_core.monitoring.log_records import FeedbackRecord, PredictionRecord
from registry_core.monitoring.retrain_claim import RetrainClaim
from registry_core.monitoring.traffic import Reservoir, read_window
from registry_core.storage import open_storage

T0 = datetime(2026, 11, 29, 12, tzinfo=UTC)


def prediction(i: int, version: str = "v1", features: object = None) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"id-{i}", time=T0 + timedelta(seconds=i), endpoint="shop", model="m", version=version,
        deployed_model_id="d", features={"x": float(i)} if features is None else features,
        prediction={"classes": ["a", "b"], "probabilities": [0.9, 0.1]}, predicted_class="a", latency_ms=1.0,
    )  # fmt: skip


def feedback(i: int, label: str, seconds: int = 0) -> FeedbackRecord:
    return FeedbackRecord(prediction_id=f"id-{i}", label=label, time=T0 + timedelta(seconds=seconds), endpoint="shop")


def test_every_item_is_as_likely_to_stay_in_the_sample() -> None:
    kept: Counter[int] = Counter()
    for seed in range(300):
        reservoir = Reservoir(10)
        reservoir._rng.seed(seed)
        for item in range(100):
            reservoir.offer(item)
        kept.update(reservoir.items)
    assert reservoir.seen == 100
    assert len(reservoir.items) == 10
    assert min(kept.values()) > 300 * 0.1 * 0.4  # each item kept about 30 times in 300 runs of 10 out of 100
    assert max(kept.values()) < 300 * 0.1 * 2.0


def test_the_window_is_read_into_bounded_samples_per_version_with_the_latest_label() -> None:
    predictions = [prediction(i) for i in range(1000)] + [prediction(1000 + i, "v2") for i in range(5)]
    predictions.append(prediction(2000, features=["not", "a", "mapping"]))
    labels = [feedback(1, "b"), feedback(1, "a", seconds=5), feedback(2, "a"), feedback(3, "a"), feedback(4, "a")]
    window = read_window(predictions, labels, sample_size=50, max_feedback=3)
    v1, v2 = window.served[("m", "v1")], window.served[("m", "v2")]
    assert (v1.count, v1.unprofiled, len(v1.rows.items), v1.rows.seen) == (1001, 1, 50, 1000)
    assert v2.count == 5
    assert sorted(s.label for s in v1.scored.items) == ["a", "a", "a"]  # id-1's later label wins; id-4 not kept
    assert (window.feedback, window.feedback_not_kept) == (5, 1)


def test_one_claim_per_cooldown_and_a_failed_retraining_gives_it_back(tmp_path: object, storage_root: str) -> None:
    storage = open_storage(storage_root)
    first, second = RetrainClaim(storage, "shop"), RetrainClaim(storage, "shop")
    assert first.take(T0, timedelta(hours=24)) is None
    refused = second.take(T0 + timedelta(hours=1), timedelta(hours=24))
    assert refused is not None
    assert "already started at 2026-11-29 12:00 UTC" in refused
    first.release()
    assert second.take(T0 + timedelta(hours=2), timedelta(hours=24)) is None
    assert RetrainClaim(storage, "shop").take(T0 + timedelta(hours=27), timedelta(hours=24)) is None
    assert RetrainClaim(storage, "other").take(T0, timedelta(hours=24)) is None  # per endpoint
