"""What the prediction server answers, without HTTP: Vertex-style predict, health, KServe v2 and SageMaker calls.

`EndpointService` keeps the `EndpointRuntime` of one endpoint and turns requests (parsed JSON) into answers (JSON-able
dicts) or typed errors; `registry_core.deploy.http_app` puts routes, bodies and status codes around it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from registry_core.deploy import inference_v2
from registry_core.deploy.base import Prediction
from registry_core.deploy.logged_prediction import model_name, predict_and_log
from registry_core.deploy.predictor import SavedModelPredictor
from registry_core.deploy.records import DeployedModel
from registry_core.deploy.runtime import EndpointRuntime
from registry_core.errors import (
    EndpointNotFoundError,
    InvalidInputError,
    NotFoundError,
    NotServingError,
    OverLimitError,
    RegistryError,
    StorageError,
)
from registry_core.monitoring.feedback import FeedbackLimit, parse_feedback, write_feedback
from registry_core.monitoring.log_settings import PredictionLogSettings
from registry_core.storage.base import StorageBackend
from registry_core.text import shown

if TYPE_CHECKING:
    from registry_core.monitoring.prediction_log import PredictionLogger

logger = logging.getLogger("registry_core.deploy.server")  # one logger for everything the server says

SERVER_NAME = "registry-core"
_JSON_TYPES = {"float": "number", "double": "number", "half": "number", "bfloat16": "number", "string": "string"}


class EndpointService:
    """The answers of the prediction server of one endpoint, following the endpoint's record.

    Every answered instance gets a prediction id (``predictionIds``); a sample of requests is logged by
    `prediction_log`, off the request path, and feedback on them is written under ``monitoring/`` of `storage`.

    Args:
        storage: The registry's storage (None with `runtime`); feedback goes there.
        endpoint_name: The endpoint served.
        runtime: What serves, when it is not the endpoint's record (e.g. the one version of a serving container).
        prediction_log: Logs sampled predictions, or None (not logged).
        logging_off: Why nothing is logged when `prediction_log` is None (shown by /health).
        monitoring_name: The endpoint name that logs and feedback are kept under (default: `endpoint_name`; a
            serving container's is the registry endpoint it serves, not its own "container"; a Vertex AI container's
            is the one its logger finds, see `registry_core.deploy.container_log`).
        max_feedback_per_hour: Most feedback items kept per hour; more are refused (429) and counted in the log's
            gaps (default: the logger's setting, else `PredictionLogSettings`'s).
    """

    def __init__(
        self,
        storage: StorageBackend | None,
        endpoint_name: str,
        *,
        runtime: EndpointRuntime | None = None,
        prediction_log: PredictionLogger | None = None,
        logging_off: str = "prediction logging is off",
        monitoring_name: str | None = None,
        max_feedback_per_hour: int | None = None,
    ) -> None:
        if runtime is None:
            if storage is None:
                msg = "an EndpointService needs the registry's storage or a runtime"
                raise InvalidInputError(msg)
            runtime = EndpointRuntime(storage, endpoint_name)
        self.runtime = runtime
        self.storage = storage
        self.endpoint_name = endpoint_name
        self.refresh_error: str | None = None
        self.prediction_log = prediction_log
        self.logging_off = logging_off
        self._monitoring_name = monitoring_name or (None if prediction_log is not None else endpoint_name)
        settings = prediction_log.settings if prediction_log is not None else PredictionLogSettings()
        self.feedback_limit = FeedbackLimit(max_feedback_per_hour or settings.max_feedback_per_hour)

    @property
    def monitoring_name(self) -> str | None:
        """The endpoint name that logs and feedback are kept under (None while a container's logger looks for it)."""
        if self._monitoring_name is not None:
            return self._monitoring_name
        return self.prediction_log.endpoint if self.prediction_log is not None else self.endpoint_name

    def open(self) -> None:
        """Log predictions again after `close` (the server starts again)."""
        if self.prediction_log is not None:
            self.prediction_log.reopen()

    def close(self) -> None:
        """Write the prediction logs that wait (within the logger's shutdown time) and stop its writer."""
        if self.prediction_log is not None:
            self.prediction_log.close()

    def refresh(self) -> None:
        """Re-read the endpoint's record now; a failure is logged and kept for /health, never raised."""
        try:
            self.runtime.refresh()
        except Exception as exc:  # noqa: BLE001 - the server keeps serving what it has; /health shows the problem
            message = f"cannot refresh endpoint {self.endpoint_name!r}: {exc}"
            # /health answers anyone: storage and other raw errors can name buckets and accounts, so they show only
            # their kind there; the server log has the whole message
            shown = message if isinstance(exc, RegistryError) and not isinstance(exc, StorageError) else (
                f"cannot refresh endpoint {self.endpoint_name!r}: {type(exc).__name__} (see the server log)"
            )
            if shown != self.refresh_error:
                logger.warning("%s", message, exc_info=not isinstance(exc, RegistryError))
            self.refresh_error = shown
        else:
            if self.refresh_error is not None:
                logger.info("endpoint %s: refreshing works again", self.endpoint_name)
            self.refresh_error = None

    # ------------------------------------------------------------------------------------------ Vertex-style

    def health(self) -> tuple[int, dict[str, Any]]:
        """Return the status code and body of ``GET /health`` (503 when nothing can serve)."""
        runtime = self.runtime
        record, predictors, errors = runtime.record, runtime.predictors, runtime.load_errors
        traffic = dict(record.traffic) if record is not None else {}
        deployed = [
            {
                "id": d.id,
                "model": d.model_name,
                "version": d.version,
                "traffic": traffic.get(d.id, 0),
                "loaded": d.id in predictors,
                "error": errors.get(d.id),
            }
            for d in (record.active() if record is not None else [])
        ]
        serving = any(d["traffic"] and d["loaded"] for d in deployed)
        body: dict[str, Any] = {
            "status": "ok" if serving else "unavailable",
            "endpoint": self.endpoint_name,
            "traffic": traffic,
            "deployedModels": deployed,
        }
        if self.refresh_error is not None:
            body["refreshError"] = self.refresh_error
        log = self.prediction_log
        body["predictionLog"] = log.stats() if log is not None else {"enabled": False, "reason": self.logging_off}
        return (200 if serving else 503), body

    def predict(self, endpoint_name: str, deployed_id: str | None, payload: Any) -> dict[str, Any]:
        """Answer a Vertex-style predict request (``{"instances": [...]}``), routed by the split or to one model.

        Raises:
            EndpointNotFoundError, NotFoundError: another endpoint, or a deployed model it does not have.
            InvalidInputError: a malformed request or instances that do not fit the model.
            NotServingError: nothing can serve. PredictionError: the model failed on valid input.
        """
        if endpoint_name != self.endpoint_name:
            msg = f"endpoint {shown(endpoint_name)} is not served here; this server serves {self.endpoint_name!r}"
            raise EndpointNotFoundError(msg)
        instances = _instances(payload)
        runtime = self.runtime
        record = runtime.record
        if deployed_id is None:
            chosen = runtime.choose()
        else:
            if record is None or deployed_id not in {d.id for d in record.active()}:
                msg = f"endpoint {shown(self.endpoint_name)} has no deployed model {shown(deployed_id)}"
                raise NotFoundError(msg)
            chosen = deployed_id
        prediction = self._predict(instances, chosen)
        return {
            "predictions": prediction.predictions,
            "deployedModelId": prediction.deployed_model_id,
            "modelVersion": prediction.model_version,
            "model": model_name(runtime.record or record, prediction.deployed_model_id),
            "predictionIds": prediction.prediction_ids,
        }

    def _predict(self, instances: list[Any], chosen: str) -> Prediction:
        """Predict with `chosen`, issue one id per instance and hand the request to the log (which never blocks)."""
        return predict_and_log(self.runtime, instances, chosen, self.prediction_log)

    def feedback(self, endpoint_name: str, payload: Any) -> dict[str, Any]:
        """Answer ``POST /v1/endpoints/{endpoint}:feedback``: store the labels, kept even for ids never logged.

        Raises:
            EndpointNotFoundError: another endpoint.
            InvalidInputError: a malformed request (the item and what is wrong, named).
            NotServingError: this server has no registry root to keep feedback in.
            OverLimitError: the items would go over the server's hourly cap (none is kept; counted in the log's gaps).
            StorageError: the write failed (nothing was kept).
        """
        if endpoint_name not in (self.endpoint_name, self.monitoring_name):
            msg = f"endpoint {shown(endpoint_name)} is not served here; this server serves {self.monitoring_name!r}"
            raise EndpointNotFoundError(msg)
        items = parse_feedback(payload)
        if self.storage is None:
            msg = f"feedback is not kept: {self.logging_off}"
            raise NotServingError(msg)
        name = self.monitoring_name
        if name is None:
            msg = "feedback is not kept yet: the registry endpoint this container serves is not recorded yet"
            raise NotServingError(msg)
        try:
            self.feedback_limit.admit(len(items))
        except OverLimitError:
            if self.prediction_log is not None:
                self.prediction_log.count_gap("feedbackOverHourlyCap", len(items))
            raise
        return {"accepted": len(write_feedback(self.storage, name, items))}

    def instance_schema(self) -> dict[str, Any]:
        """JSON schema of one instance, from the inputs of a loaded model (any object if none loaded)."""
        for predictor in list(self.runtime.predictors.values()):
            properties = {name: _value_schema(spec) for name, spec in sorted(predictor.inputs.items())}
            return {
                "type": "object",
                "properties": properties,
                "required": sorted(properties),
                "additionalProperties": False,
            }
        return {"type": "object", "description": "The inputs of the model's serving_default signature, by name."}

    # ------------------------------------------------------------------------------------------ SageMaker

    def invocations(self, payload: Any) -> dict[str, Any]:
        """Answer SageMaker's ``POST /invocations``: this server's endpoint, routed by its split.

        Raises:
            InvalidInputError, NotServingError, PredictionError: as `predict`.
        """
        answer = self.predict(self.endpoint_name, None, payload)
        return {"predictions": answer["predictions"], "predictionIds": answer["predictionIds"]}

    # ------------------------------------------------------------------------------------------ KServe v2

    def ready(self) -> bool:
        """True when something gets traffic and is loaded (``/v2/health/ready``, ``/ping``)."""
        return self.health()[0] == 200

    def v2_server_metadata(self) -> dict[str, Any]:
        """Return the v2 server metadata (``GET /v2``)."""
        return {"name": SERVER_NAME, "version": "1", "extensions": []}

    def v2_model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        """Return the v2 metadata of a registry model served here: versions deployed, inputs and outputs if loaded.

        Raises:
            NotFoundError: no deployment of `model` (or of that version) on this endpoint.
        """
        deployments = self._deployments(model, version)
        predictor = self._predictor(deployments)
        versions = sorted({d.version for d in self._deployments(model, None)})
        return {
            "name": model,
            "versions": [version] if version is not None else versions,
            "platform": inference_v2.PLATFORM,
            "inputs": inference_v2.tensor_metadata(predictor.inputs) if predictor is not None else [],
            "outputs": inference_v2.tensor_metadata(predictor.outputs) if predictor is not None else [],
        }

    def v2_model_ready(self, model: str, version: str | None = None) -> bool:
        """True when `model` (that version, if given) has a loaded deployment that can answer.

        Raises:
            NotFoundError: no deployment of `model` (or of that version) on this endpoint.
        """
        deployments = self._deployments(model, version)
        runtime = self.runtime
        record, predictors = runtime.record, runtime.predictors
        traffic = record.traffic if record is not None else {}
        return any(d.id in predictors and (version is not None or traffic.get(d.id, 0) > 0) for d in deployments)

    def v2_infer(self, model: str, version: str | None, payload: Any) -> dict[str, Any]:
        """Answer a v2 inference request: routed by the split among `model`'s deployments, or to that version.

        Raises:
            NotFoundError: `model` (or that version) is not served here.
            InvalidInputError: the request does not fit the model.
            NotServingError: nothing of `model` can serve. PredictionError: the model failed on valid input.
        """
        deployments = self._deployments(model, version)
        runtime = self.runtime
        if version is None:
            chosen = runtime.choose(model)
        else:
            loaded = [d for d in deployments if d.id in runtime.predictors] or deployments
            traffic = runtime.record.traffic if runtime.record is not None else {}
            chosen = max(loaded, key=lambda d: traffic.get(d.id, 0)).id
        predictor = runtime.predictors.get(chosen)
        if predictor is None:
            reason = runtime.load_errors.get(chosen, "it is not loaded")
            what = f"model {model!r}" + (f" version {version!r}" if version is not None else "")
            msg = f"{what} on endpoint {self.endpoint_name!r} cannot serve: {reason}"
            raise NotServingError(msg)
        if isinstance(payload, dict) and "id" in payload and not isinstance(payload["id"], str):
            msg = f"'id' must be a string, got {type(payload['id']).__name__}"
            raise InvalidInputError(msg)
        instances = inference_v2.instances_from_request(payload, predictor.inputs)
        names = inference_v2.requested_outputs(payload, predictor.outputs)
        prediction = self._predict(instances, chosen)
        answer: dict[str, Any] = {"model_name": model, "model_version": prediction.model_version}
        if "id" in payload:
            answer["id"] = payload["id"]
        answer["parameters"] = {"predictionIds": prediction.prediction_ids}
        answer["outputs"] = inference_v2.output_tensors(prediction.predictions, names, predictor.outputs)
        return answer

    def _deployments(self, model: str, version: str | None) -> list[DeployedModel]:
        """The active deployments of `model` (of `version`, if given) on the endpoint.

        Raises:
            NotFoundError: there are none.
        """
        record = self.runtime.record
        active = record.active() if record is not None else []
        of_model = [d for d in active if d.model_name == model]
        if not of_model:
            served = sorted({d.model_name for d in active})
            msg = f"model {shown(model)} is not served here; this server serves {served or 'no model'}"
            raise NotFoundError(msg)
        if version is None:
            return of_model
        of_version = [d for d in of_model if d.version == version]
        if not of_version:
            served = sorted({d.version for d in of_model})
            msg = f"version {shown(version)} of model {model!r} is not served here; it serves {served}"
            raise NotFoundError(msg)
        return of_version

    def _predictor(self, deployments: list[DeployedModel]) -> SavedModelPredictor | None:
        predictors = self.runtime.predictors
        return next((predictors[d.id] for d in deployments if d.id in predictors), None)


def _instances(payload: Any) -> list[Any]:
    """Return the instances of a predict request. Raises: InvalidInputError naming what is wrong with it."""
    problem = _request_problem(payload)
    if problem:
        raise InvalidInputError(problem)
    instances: list[Any] = payload["instances"]
    return instances


def _request_problem(payload: Any) -> str:
    if not isinstance(payload, dict):
        return 'the request body must be a JSON object: {"instances": [...]}'
    if unknown := sorted(set(payload) - {"instances", "parameters"}):
        return f"unknown fields {shown(unknown)}; a predict request has 'instances' and optional 'parameters'"
    if "instances" not in payload:
        return "the request has no 'instances'"
    instances = payload["instances"]
    if not isinstance(instances, list):
        return f"'instances' must be a list, got {type(instances).__name__}"
    if not instances:
        return "'instances' is empty"
    parameters = payload.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        return "'parameters' must be an object"
    return ""


def _value_schema(spec: Any) -> dict[str, Any]:
    dtype = getattr(getattr(spec, "dtype", None), "name", "")
    kind = "integer" if dtype.startswith(("int", "uint")) else "boolean" if dtype == "bool" else None
    schema: dict[str, Any] = {"type": kind or _JSON_TYPES.get(dtype, "number")}
    shape = getattr(spec, "shape", None)
    rank = getattr(shape, "rank", None)
    for _ in range((rank or 1) - 1):
        schema = {"type": "array", "items": schema}
    schema["description"] = f"{dtype or 'tensor'} input"
    return schema
