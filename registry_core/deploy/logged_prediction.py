"""One prediction as every face makes it: timed, given one id per instance, handed to the prediction log."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from registry_core.deploy.base import Prediction
from registry_core.deploy.records import EndpointRecord
from registry_core.deploy.runtime import EndpointRuntime
from registry_core.monitoring.log_records import new_prediction_ids

if TYPE_CHECKING:
    from registry_core.monitoring.prediction_log import PredictionLogger


def predict_and_log(
    runtime: EndpointRuntime, instances: list[Any], deployed_id: str | None, log: PredictionLogger | None
) -> Prediction:
    """Predict with `deployed_id` (or the one the split chooses), issue one id per instance and log the request.

    The log only takes a bounded copy (it never blocks or raises); the ids are returned whether or not it keeps it.

    Raises:
        InvalidInputError: bad instances. NotServingError: nothing serves. PredictionError: the model failed.
    """
    started = time.perf_counter()
    prediction = runtime.predict(instances, deployed_id)
    latency_ms = (time.perf_counter() - started) * 1000
    ids = new_prediction_ids(len(instances))
    if log is not None:
        log.record(
            ids,
            instances,
            prediction.predictions,
            model=model_name(runtime.record, prediction.deployed_model_id),
            version=prediction.model_version,
            deployed_model_id=prediction.deployed_model_id,
            latency_ms=latency_ms,
        )
    return dataclasses.replace(prediction, prediction_ids=ids)


def model_name(record: EndpointRecord | None, deployed_id: str) -> str:
    """The registry model of a deployed model of the endpoint, or "" if the record does not list it."""
    if record is None:
        return ""
    try:
        return record.deployment(deployed_id).model_name
    except KeyError:
        return ""
