"""The DeploymentTarget interface: deploy a verified version with a traffic split, shift traffic, undeploy, predict.

Targets apply what the registry decided; they never call back into the registry. The registry keeps the
endpoint's record (the truth about what serves) and computes every traffic split.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from registry_core.deploy.records import EndpointRecord
from registry_core.errors import DeploymentError
from registry_core.metadata import ModelMetadata
from registry_core.text import shown

SERVING_IMAGE_VARIABLE = "REGISTRY_SERVING_IMAGE"  # the project's serving image, when no flag names one


def growing_delays(initial: float, maximum: float) -> Iterator[float]:
    """Seconds to sleep between polls of a change that takes minutes: `initial`, then 1.5 times more up to `maximum`."""
    delay = initial
    while True:
        yield delay
        delay = min(maximum, delay * 1.5)


NEW_DEPLOYMENT = "0"  # key of the model being deployed in a split, as Vertex AI spells it


def require_new_deployment(traffic: dict[str, int]) -> None:
    """Refuse a new deployment's traffic split that does not name it as `NEW_DEPLOYMENT`.

    Raises:
        DeploymentError: the split has no `NEW_DEPLOYMENT` key.
    """
    if NEW_DEPLOYMENT not in traffic:
        msg = f"the traffic split for a new deployment must name it as {NEW_DEPLOYMENT!r}, got {shown(traffic)}"
        raise DeploymentError(msg)


@contextmanager
def translated_errors(translate: Callable[[Exception], DeploymentError | None]) -> Iterator[None]:
    """Turn an SDK's error raised inside into the one-line typed error `translate` makes of it, chained to it.

    DeploymentErrors pass through untouched, and so does anything `translate` returns None for.
    """
    try:
        yield
    except DeploymentError:
        raise
    except Exception as exc:
        error = translate(exc)
        if error is None:
            raise
        raise error from exc


# (model name, version label as a Google label value: "v3", "v1-2-0") -> that registered version, or None
VersionLookup = Callable[[str, str], ModelMetadata | None]


@dataclass(frozen=True)
class DeployResult:
    """What a target reports after deploying.

    Attributes:
        deployed_id: Id of the new deployed model on the endpoint.
        target_ref: The target's resource for the model version (e.g. a Vertex model version), or "".
        endpoint_ref: The target's resource for the endpoint, or "".
        image: The container image the deployment serves with, when the target chooses one, or "".
    """

    deployed_id: str
    target_ref: str = ""
    endpoint_ref: str = ""
    image: str = ""


@dataclass(frozen=True)
class ObservedDeployment:
    """A model that the target itself says is deployed on an endpoint.

    Attributes:
        id: The deployed model id.
        target_ref: The target's resource for the model version it serves.
        deployed_at: When the target deployed it, if it says.
        metadata: The registry version it serves, found by the target for ids that the endpoint's record lacks
            (None for recorded ids, and for models that are not registry versions).
        description: How to name it in a message (e.g. its model version resource).
    """

    id: str
    target_ref: str = ""
    deployed_at: datetime | None = None
    metadata: ModelMetadata | None = None
    description: str = ""


@dataclass(frozen=True)
class ObservedEndpoint:
    """What serves on an endpoint according to the target, once its operations in progress have finished.

    Attributes:
        endpoint_ref: The target's resource for the endpoint ("" if the target has no such endpoint).
        deployments: The deployed models.
        traffic: Deployed model id -> percent, as the target splits traffic (empty when nothing gets any).
    """

    endpoint_ref: str
    deployments: tuple[ObservedDeployment, ...] = ()
    traffic: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """An answer of an endpoint.

    Attributes:
        predictions: One prediction per instance.
        deployed_model_id: The deployed model that answered.
        model_version: Its registry version.
        prediction_ids: One id per instance, for feedback (empty where the serving container gave none, e.g. a
            prebuilt one).
    """

    predictions: list[Any]
    deployed_model_id: str
    model_version: str
    prediction_ids: list[str] = field(default_factory=list)


def prediction_ids(value: Any, count: int) -> list[str]:
    """Return the ``predictionIds`` a serving container answered, if they are `count` strings, else []."""
    if isinstance(value, list) and len(value) == count and all(isinstance(i, str) for i in value):
        return list(value)
    return []


class DeploymentTarget(abc.ABC):
    """Where endpoints live: the local prediction server, Vertex AI, SageMaker or KServe."""

    kind: ClassVar[str]
    registry_root: str | None = None
    """The root URI of the registry deploying (`use_registry`): serving containers log predictions there."""

    def use_registry(self, root_uri: str) -> None:
        """Take the root URI of the registry that deploys with this target (told before every deploy)."""
        self.registry_root = root_uri

    @abc.abstractmethod
    def deploy(
        self, endpoint: EndpointRecord, metadata: ModelMetadata, artifacts: Path | None, traffic: dict[str, int]
    ) -> DeployResult:
        """Deploy `metadata`'s version on `endpoint` with `traffic` (the new model is NEW_DEPLOYMENT in it).

        Args:
            endpoint: The endpoint's record as the registry has it (may be new, with no deployments).
            metadata: The version to deploy.
            artifacts: A local folder with its verified artifacts, when the target needs one.
            traffic: The whole split to apply, summing to 100.

        Raises:
            DeploymentError: the target refused or failed.
        """

    @abc.abstractmethod
    def set_traffic(self, endpoint: EndpointRecord, traffic: dict[str, int]) -> None:
        """Apply a new split over deployed models of `endpoint`. Raises: DeploymentError."""

    @abc.abstractmethod
    def undeploy(self, endpoint: EndpointRecord, deployed_id: str, traffic: dict[str, int]) -> None:
        """Stop serving `deployed_id`, leaving `traffic` over the others. Raises: DeploymentError."""

    @abc.abstractmethod
    def predict(self, endpoint: EndpointRecord, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        """Predict on the endpoint (routed by its split), or on one deployed model. Raises: DeploymentError."""

    def needs_local_artifacts(self) -> bool:
        """True if `deploy` wants a local folder of verified artifacts."""
        return True

    def recorded_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Return the settings to keep in the endpoint's record: `settings`, plus what the target took elsewhere.

        A target that falls back on the environment (e.g. AWS_REGION) records the value it used, so that later
        changes of the endpoint, made from another environment, reach the same place.
        """
        return dict(settings)

    def check_deployable(self, metadata: ModelMetadata) -> None:
        """Refuse, before any call to the target, a version that it can never serve. Raises: DeploymentError."""
        return  # every version can serve here, unless a target says otherwise

    def observe(self, endpoint: EndpointRecord, versions: VersionLookup) -> ObservedEndpoint | None:
        """Return what serves on `endpoint` according to the target, or None if the record is all there is.

        Targets that keep their own state (Vertex AI) may have changed without the registry knowing: a deploy whose
        client died before recording it, an undeploy done in the console. Reconciling compares this with the record.

        Args:
            endpoint: The endpoint's record (it may have no deployments and no target_ref yet).
            versions: Returns a model's registered versions, to find the registry version of a deployed model
                that the record lacks.

        Raises:
            DeploymentError: the target refused or failed.
        """
        return None
