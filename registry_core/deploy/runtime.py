"""EndpointRuntime: the models an endpoint's record says should serve, loaded and verified, routed by traffic."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from registry_core import layout
from registry_core.deploy.base import Prediction
from registry_core.deploy.predictor import SavedModelPredictor
from registry_core.deploy.records import EndpointRecord
from registry_core.errors import DeploymentError, EndpointNotFoundError, NotServingError, RegistryError, StorageError
from registry_core.loading import verified_folder
from registry_core.metadata import ModelMetadata
from registry_core.model_store import ModelStore
from registry_core.storage.base import StorageBackend
from registry_core.store import DocumentStore
from registry_core.text import shown

logger = logging.getLogger(__name__)


class EndpointRuntime:
    """Follows one endpoint's record: loads new deployments (verifying digests), drops undeployed ones.

    Args:
        storage: The registry's storage.
        endpoint_name: The endpoint to serve.
        rng: Random source for routing (tests pass a seeded one).
    """

    def __init__(self, storage: StorageBackend, endpoint_name: str, rng: random.Random | None = None) -> None:
        self.storage = storage
        self.endpoint_name = endpoint_name
        self._endpoints = DocumentStore(storage, EndpointRecord, layout.ENDPOINTS)
        self._models = ModelStore(storage)
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.record: EndpointRecord | None = None
        self.predictors: dict[str, SavedModelPredictor] = {}
        self.load_errors: dict[str, str] = {}
        self._retry: set[str] = set()  # deployments whose load failed on storage (transient): tried again

    def refresh(self) -> EndpointRecord:
        """Re-read the record and load or drop deployments to match it.

        Raises:
            EndpointNotFoundError: the endpoint has no record.
        """
        record = self._endpoints.get(self.endpoint_name)
        if record is None:
            msg = f"endpoint {self.endpoint_name!r} does not exist; deploy a model to it first"
            raise EndpointNotFoundError(msg)
        if record == self.record and not self._retry:
            return record
        wanted = {d.id: d for d in record.active()}
        loaded = dict(self.predictors)
        errors = {k: v for k, v in self.load_errors.items() if k in wanted and k not in self._retry}
        retry: set[str] = set()
        for deployed_id, deployment in wanted.items():
            if deployed_id in loaded or deployed_id in errors:
                continue
            try:
                metadata = self._metadata(deployment.model_name, deployment.version)
                if metadata.artifact_digest != deployment.artifact_digest:
                    msg = f"{deployment.model_name} {deployment.version} changed digest since it was deployed"
                    raise DeploymentError(msg)
                loaded[deployed_id] = SavedModelPredictor(verified_folder(self.storage, metadata))
                logger.info("loaded %s %s as %s", deployment.model_name, deployment.version, deployed_id)
            except RegistryError as exc:
                errors[deployed_id] = str(exc)
                if isinstance(exc, StorageError):
                    retry.add(deployed_id)
                if self.load_errors.get(deployed_id) != str(exc):  # once per problem, not at every retry
                    logger.error("refusing %s %s: %s", deployment.model_name, deployment.version, exc)
        with self._lock:
            self.predictors = {k: v for k, v in loaded.items() if k in wanted}
            self.load_errors = errors
            self.record = record
            self._retry = retry
        return record

    def _metadata(self, model_name: str, version: str) -> ModelMetadata:
        return self._models.version(model_name, version)

    def choose(self, model_name: str | None = None) -> str:
        """Pick a deployed model by the traffic split, among those that loaded (of `model_name` only, if given).

        Raises:
            NotServingError: nothing that gets traffic could be loaded.
        """
        with self._lock:
            record, predictors, errors = self.record, self.predictors, self.load_errors
        if record is None:
            msg = f"endpoint {self.endpoint_name!r} has not been loaded"
            raise NotServingError(msg)
        wanted = {d.id for d in record.active() if model_name is None or d.model_name == model_name}
        candidates = [
            (i, share) for i, share in record.traffic.items() if share > 0 and i in predictors and i in wanted
        ]
        if not candidates:
            reasons = "; ".join(v for k, v in errors.items() if k in wanted) or "no model gets traffic"
            subject = f"endpoint {self.endpoint_name!r}"
            if model_name is not None:
                subject = f"model {model_name!r} on {subject}"
            msg = f"{subject} has nothing to serve: {reasons}"
            raise NotServingError(msg)
        ids, weights = zip(*candidates, strict=True)
        return str(self._rng.choices(ids, weights=weights)[0])

    def predict(self, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        """Predict with the deployed model `deployed_id`, or one chosen by the split.

        Raises:
            InvalidInputError: bad instances. NotServingError: nothing serves. PredictionError: the model failed.
        """
        chosen = deployed_id or self.choose()
        with self._lock:
            predictor = self.predictors.get(chosen)
            record = self.record
        if predictor is None or record is None:
            reason = self.load_errors.get(chosen, "it is not deployed")
            msg = f"deployed model {shown(chosen)} of endpoint {shown(self.endpoint_name)} cannot serve: {reason}"
            raise NotServingError(msg)
        return Prediction(predictor.predict(instances), chosen, record.deployment(chosen).version)
