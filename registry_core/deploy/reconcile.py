"""Reconciling an endpoint's record with what its target really serves (pure: record + observation -> record).

The record is changed by the registry after each change on the target; a client that dies in between (a deploy
takes 10-30 minutes on Vertex AI), or a change made in the console, leaves them apart. Reconciling takes the
target's side: deployed models the record lacks become recorded deployments (of the registry version the target
names), recorded ones the target no longer has become undeployed, and the traffic split becomes the target's. Each
change is a history event; a found deployment's event and an undeployment's event carry the split afterwards, and a
separate "traffic" event is written only when the split changed with nothing deployed or undeployed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from registry_core.deploy.base import ObservedDeployment, ObservedEndpoint
from registry_core.deploy.records import DeployedModel, EndpointEvent, EndpointRecord
from registry_core.errors import DeploymentError
from registry_core.metadata import utc_now

__all__ = ["Reconciliation", "reconcile"]


@dataclass(frozen=True)
class Reconciliation:
    """The record made to agree with the target.

    Attributes:
        record: The record afterwards (the same object if nothing differed).
        events: The history events added, oldest first.
    """

    record: EndpointRecord
    events: tuple[EndpointEvent, ...]

    @property
    def changed(self) -> bool:
        """True if the record differs from the one reconciled."""
        return bool(self.events)


def reconcile(record: EndpointRecord, observed: ObservedEndpoint, actor: str) -> Reconciliation:
    """Return `record` changed to agree with `observed`, with one history event per change.

    Raises:
        DeploymentError: the target serves models that are not registry versions (the record cannot hold them), or
            its traffic split does not sum to 100.
    """
    where = record.target
    recorded = {d.id for d in record.deployments}
    seen = {d.id: d for d in observed.deployments}
    foreign = [d for d in observed.deployments if d.id not in recorded and d.metadata is None]
    if foreign:
        names = ", ".join(d.description or d.id for d in foreign)
        msg = (
            f"endpoint {record.name!r} on {where} serves deployed models that are no registry versions ({names}); "
            "the registry cannot record them: undeploy them there, or deploy registry versions instead"
        )
        raise DeploymentError(msg)
    if observed.traffic and sum(observed.traffic.values()) != 100:
        msg = f"endpoint {record.name!r} on {where} splits traffic {observed.traffic}, which does not sum to 100"
        raise DeploymentError(msg)

    now = utc_now()
    found = [_deployment(d, actor, now) for d in observed.deployments if d.id not in recorded]
    active = [d.id for d in record.deployments if d.id in seen] + [d.id for d in found]
    traffic = {i: observed.traffic.get(i, 0) for i in active} if observed.traffic else {}
    deployments: list[DeployedModel] = []
    events: list[EndpointEvent] = []
    for deployment in record.deployments:
        if deployment.undeployed_at is None and deployment.id not in seen:
            deployment = deployment.model_copy(update={"undeployed_at": now})
            events.append(_event(actor, "undeployed", deployment, traffic, f"reconcile: no longer deployed on {where}"))
        elif deployment.undeployed_at is not None and deployment.id in seen:
            deployment = deployment.model_copy(update={"undeployed_at": None})
            events.append(_event(actor, "deployed", deployment, traffic, f"reconcile: still deployed on {where}"))
        deployments.append(deployment)
    for deployment in found:
        reason = f"reconcile: deployed on {where} but not recorded (its deploy stopped before recording it)"
        events.append(_event(actor, "deployed", deployment, traffic, reason))
        deployments.append(deployment)
    if not events and _positive(traffic) != _positive(record.traffic):
        reason = f"reconcile: the traffic split on {where}"
        events.append(
            EndpointEvent(id=uuid.uuid4().hex, at=now, actor=actor, action="traffic", traffic=traffic, reason=reason)
        )
    endpoint_ref = observed.endpoint_ref
    if not events and endpoint_ref == record.target_ref:
        return Reconciliation(record=record, events=())
    updated = record.model_copy(
        update={
            "deployments": tuple(deployments),
            "traffic": traffic if events else record.traffic,
            "target_ref": endpoint_ref,
            "history": (*record.history, *events),
        }
    )
    return Reconciliation(record=updated, events=tuple(events))


def _deployment(observed: ObservedDeployment, actor: str, now: datetime) -> DeployedModel:
    metadata = observed.metadata
    assert metadata is not None  # foreign deployments were refused above
    return DeployedModel(
        id=observed.id, model_name=metadata.model_name, version=metadata.version,
        artifact_digest=metadata.artifact_digest, artifact_uri=metadata.artifact_uri, deployed_by=actor,
        deployed_at=observed.deployed_at or now, target_ref=observed.target_ref,
    )  # fmt: skip


def _event(
    actor: str, action: str, deployment: DeployedModel, traffic: dict[str, int], reason: str
) -> EndpointEvent:
    return EndpointEvent(
        id=uuid.uuid4().hex, at=utc_now(), actor=actor, action=action, model_name=deployment.model_name,
        version=deployment.version, traffic=traffic, reason=reason,
    )  # fmt: skip


def _positive(traffic: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in traffic.items() if v > 0}
