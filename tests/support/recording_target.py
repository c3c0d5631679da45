"""A deployment target that serves nothing: it issues deployed-model ids, so endpoint records need no TensorFlow."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, ClassVar

from registry_core.deploy import DeploymentTarget, EndpointRecord, Prediction
from registry_core.deploy.base import DeployResult
from registry_core.metadata import ModelMetadata


class RecordingTarget(DeploymentTarget):
    """Deploys, re-weighs and undeploys by recording only (the registry's endpoint records are real)."""

    kind: ClassVar[str] = "recording"

    def deploy(
        self, endpoint: EndpointRecord, metadata: ModelMetadata, artifacts: Path | None, traffic: dict[str, int]
    ) -> DeployResult:
        """Issue a deployed model id."""
        return DeployResult(deployed_id=uuid.uuid4().hex[:12])

    def set_traffic(self, endpoint: EndpointRecord, traffic: dict[str, int]) -> None:
        """Nothing serves, so nothing to route."""

    def undeploy(self, endpoint: EndpointRecord, deployed_id: str, traffic: dict[str, int]) -> None:
        """Nothing serves, so nothing to stop."""

    def predict(self, endpoint: EndpointRecord, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        """Nothing serves."""
        raise NotImplementedError

    def needs_local_artifacts(self) -> bool:
        """The artifacts are verified where they are stored; nothing needs a local copy."""
        return False
