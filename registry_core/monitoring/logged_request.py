"""One sampled request as the prediction log keeps it: bounded copies made on the request path, rows for the writer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_core.monitoring.batch_files import utc_text
from registry_core.monitoring.log_bounds import BoundedCopy
from registry_core.monitoring.log_records import top_class


@dataclass(frozen=True)
class LoggedRequest:
    """One sampled request: what the log keeps of it, nothing of the caller's request itself.

    Attributes:
        at: When it was answered (``time.time()``).
        ids: The prediction ids, one per instance.
        instances: Bounded copies of the instances (`registry_core.monitoring.log_bounds`).
        predictions: The model's outputs, one per instance, with their strings cut.
        truncated: Per instance, whether its copy (or its outputs) was cut.
        size: Estimated bytes of its records as JSON lines.
        model: Registry model name.
        version: Registry version label.
        deployed_model_id: The deployed model that answered.
        latency_ms: Time the model took for the whole request.
    """

    at: float
    ids: Sequence[str]
    instances: Sequence[Any]
    predictions: Sequence[Any]
    truncated: Sequence[bool]
    size: int
    model: str
    version: str
    deployed_model_id: str
    latency_ms: float

    @classmethod
    def kept(
        cls,
        at: float,
        ids: Sequence[str],
        instances: Sequence[Any],
        predictions: Sequence[Any],
        *,
        model: str,
        version: str,
        deployed_model_id: str,
        latency_ms: float,
    ) -> LoggedRequest:
        """Copy what the log keeps of a request, within the bounds (costs the size of what is kept)."""
        inputs, outputs = BoundedCopy(), BoundedCopy(max_items=None, max_depth=None)
        kept_in, kept_out, truncated = [], [], []
        size = 0
        for features, prediction in zip(instances, predictions, strict=False):
            kept_in.append(inputs.copy(features))
            kept_out.append(outputs.copy(prediction))
            truncated.append(inputs.truncated or outputs.truncated)
            size += inputs.size + outputs.size + _RECORD_BYTES
            inputs.reset()
            outputs.reset()
        return cls(at, ids, kept_in, kept_out, truncated, size, model, version, deployed_model_id, latency_ms)

    def rows(self, endpoint: str) -> Iterator[tuple[datetime, dict[str, Any]]]:
        """Yield (time, JSON record) of each instance, as written under ``monitoring/<endpoint>/predictions/``."""
        at = datetime.fromtimestamp(self.at, UTC)
        when = utc_text(at)
        for prediction_id, features, prediction, truncated in zip(
            self.ids, self.instances, self.predictions, self.truncated, strict=False
        ):
            row = {
                "prediction_id": prediction_id,
                "time": when,
                "endpoint": endpoint,
                "model": self.model,
                "version": self.version,
                "deployed_model_id": self.deployed_model_id,
                "features": features,
                "prediction": prediction,
                "predicted_class": top_class(prediction),
                "latency_ms": round(self.latency_ms, 3),
            }
            if truncated:
                row["truncated"] = True
            yield at, row


_RECORD_BYTES = 250  # the fields around features and prediction: id, time, endpoint, model, version...
