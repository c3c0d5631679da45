"""Where a serving container logs predictions: the registry endpoint it is told, or the one naming its Vertex endpoint.

KServe and SageMaker containers are told their registry endpoint (``REGISTRY_ENDPOINT``): each InferenceService, and
each SageMaker model, serves one. A Vertex AI model version is uploaded once and may serve on several endpoints, so
its container finds its registry endpoint instead: the endpoint record (under ``endpoints/`` of the registry root)
of target ``vertex`` whose Vertex endpoint is ``AIP_ENDPOINT_ID``. The record is written only once the deployment is
done, after the container started, so the prediction logger asks again (with growing delays) until it is there;
records wait meanwhile in its bounded queue (`registry_core.monitoring.prediction_log`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from registry_core.deploy.container_settings import LOG_ROOT_ENV, ContainerSettings
from registry_core.deploy.records import EndpointRecord
from registry_core.monitoring.log_settings import LogDestination
from registry_core.storage.base import StorageBackend

if TYPE_CHECKING:
    from registry_core.deploy.runtime import EndpointRuntime
    from registry_core.deploy.service import EndpointService

logger = logging.getLogger(__name__)

CONTAINER_ENDPOINT = "container"
"""The endpoint name of a container's one version (``/v1/endpoints/container:predict`` answers too)."""


def vertex_endpoint_record(storage: StorageBackend, endpoint_id: str) -> EndpointRecord | None:
    """Return the registry's Vertex endpoint record naming the Vertex endpoint `endpoint_id`, or None.

    Raises:
        StorageError: the records cannot be read.
    """
    from registry_core import layout
    from registry_core.store import DocumentStore

    records = DocumentStore(storage, EndpointRecord, layout.ENDPOINTS)
    suffix = f"/endpoints/{endpoint_id}"
    every = (records.get(name) for name in records.names())
    found = [r for r in every if r is not None and r.target == "vertex" and r.target_ref.endswith(suffix)]
    if len(found) > 1:  # two registry endpoints recorded on one Vertex endpoint: only a hand-edited record does that
        logger.warning(
            "endpoints %s all name the Vertex endpoint %s; logging under %s",
            ", ".join(r.name for r in found), endpoint_id, found[0].name,
        )  # fmt: skip
    return found[0] if found else None


def sample_rate_of(record: EndpointRecord) -> float | None:
    """The ``log_sample_rate`` kept in a record's target settings (`deploy --log-sample-rate`), or None."""
    rate: Any = record.target_settings.get("log_sample_rate")
    number = isinstance(rate, int | float) and not isinstance(rate, bool)
    return float(rate) if number and 0 <= rate <= 1 else None


def vertex_destination(
    storage: StorageBackend, endpoint_id: str, *, rate_given: bool
) -> Callable[[], LogDestination | None]:
    """Return the prediction logger's `resolve` for a Vertex container: the record naming `endpoint_id`, if any yet.

    Args:
        storage: The registry's storage.
        endpoint_id: ``AIP_ENDPOINT_ID``.
        rate_given: A sample rate was given to the container, so the record's is not taken.
    """

    def resolve() -> LogDestination | None:
        record = vertex_endpoint_record(storage, endpoint_id)
        if record is None:
            return None
        return LogDestination(record.name, None if rate_given else sample_rate_of(record))

    return resolve


def container_service(settings: ContainerSettings, runtime: EndpointRuntime) -> EndpointService:
    """The container's answers, logging predictions and keeping feedback under ``$REGISTRY_ROOT`` if it is set.

    Raises:
        InvalidInputError: the sample rate is not from 0 to 1, or the root is no registry root URI.
    """
    from registry_core.deploy.service import EndpointService
    from registry_core.monitoring.prediction_log import PredictionLogger, PredictionLogSettings
    from registry_core.storage import open_storage

    rate = settings.log_sample_rate
    log_settings = PredictionLogSettings(sample_rate=1.0 if rate is None else rate)
    if settings.log_root is None:
        off = f"no registry root to write to (set {LOG_ROOT_ENV})"
        return EndpointService(None, CONTAINER_ENDPOINT, runtime=runtime, logging_off=off)
    storage = open_storage(settings.log_root)
    if settings.log_endpoint is not None:
        log = PredictionLogger(storage, settings.log_endpoint, log_settings)
    else:
        assert settings.vertex_endpoint_id is not None  # container_settings.resolve names one or the other
        resolve = vertex_destination(storage, settings.vertex_endpoint_id, rate_given=rate is not None)
        log = PredictionLogger(storage, None, log_settings, resolve=resolve)
    return EndpointService(
        storage, CONTAINER_ENDPOINT, runtime=runtime, prediction_log=log, monitoring_name=settings.log_endpoint
    )
