"""The local endpoint target (the embedded default): the endpoint's record is the deployment.

`model-registry serve ENDPOINT` runs the HTTP server that follows the record; deploying, shifting traffic and
undeploying here only check that the version can be served, and leave the change to the registry's record.
"""

from __future__ import annotations

import atexit
import uuid
from pathlib import Path
from typing import Any, ClassVar

from registry_core.deploy.base import DeploymentTarget, DeployResult, Prediction
from registry_core.deploy.logged_prediction import predict_and_log
from registry_core.deploy.predictor import SavedModelPredictor
from registry_core.deploy.records import EndpointRecord
from registry_core.deploy.runtime import EndpointRuntime
from registry_core.errors import DeploymentError
from registry_core.metadata import ModelMetadata
from registry_core.monitoring.prediction_log import PredictionLogger
from registry_core.storage.base import StorageBackend


class LocalTarget(DeploymentTarget):
    """Endpoints served by `model-registry serve` on this machine.

    Args:
        storage: The registry's storage (the server reads records and artifacts from it).
    """

    kind: ClassVar[str] = "local"

    def __init__(self, storage: StorageBackend) -> None:
        self.storage = storage
        self._runtimes: dict[str, EndpointRuntime] = {}
        self._logs: dict[str, PredictionLogger] = {}

    def deploy(
        self, endpoint: EndpointRecord, metadata: ModelMetadata, artifacts: Path | None, traffic: dict[str, int]
    ) -> DeployResult:
        """Check that the verified artifacts load as a servable SavedModel and issue a deployed model id."""
        if artifacts is None:
            msg = "the local target needs the verified artifacts"
            raise DeploymentError(msg)
        SavedModelPredictor(artifacts)  # refuse now what the server could not load later
        return DeployResult(deployed_id=uuid.uuid4().hex[:12])

    def set_traffic(self, endpoint: EndpointRecord, traffic: dict[str, int]) -> None:
        """Nothing to do: the server follows the record's split."""

    def undeploy(self, endpoint: EndpointRecord, deployed_id: str, traffic: dict[str, int]) -> None:
        """Nothing to do: the server drops what the record no longer lists."""

    def predict(self, endpoint: EndpointRecord, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        """Predict in this process, with the same routing and checks as the server, and log it as the server does.

        The log is written by a background thread within a few seconds, and at the latest when the process exits;
        `flush_logs` writes it now.
        """
        runtime = self._runtimes.setdefault(endpoint.name, EndpointRuntime(self.storage, endpoint.name))
        runtime.refresh()
        return predict_and_log(runtime, instances, deployed_id, self._log(endpoint.name))

    def _log(self, endpoint_name: str) -> PredictionLogger:
        log = self._logs.get(endpoint_name)
        if log is None:
            log = self._logs.setdefault(endpoint_name, PredictionLogger(self.storage, endpoint_name))
            atexit.register(log.close)  # what still waits when the program ends is written then
        return log

    def flush_logs(self, timeout: float | None = None) -> bool:
        """Write the prediction logs that wait now; return True if all were written (or failed) within `timeout`."""
        return all([log.flush(timeout) for log in list(self._logs.values())])
