"""Endpoint records: what serves on an endpoint, with which traffic split, and how it got there."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import Field, model_validator

from registry_core import html_tables
from registry_core.metadata import SCHEMA_VERSION, ArtifactUri, Record


class DeployedModel(Record):
    """One model version deployed on an endpoint (kept after undeployment, for rollback and audit).

    Attributes:
        id: The deployed model id (the target's, e.g. Vertex's DeployedModel id).
        model_name: Registry model.
        version: Registry version.
        artifact_digest: Digest of the artifacts that were verified at deployment.
        artifact_uri: Where the artifacts are.
        deployed_by: Who deployed.
        deployed_at: When.
        target_ref: The target's resource for the model (e.g. a Vertex model version name).
        image: The container image it serves with, when the target says ("" otherwise, and in older records).
        undeployed_at: When it stopped serving, if it has.
    """

    id: str
    model_name: str
    version: str
    artifact_digest: str
    artifact_uri: ArtifactUri
    deployed_by: str
    deployed_at: datetime
    target_ref: str = ""
    image: str = ""
    undeployed_at: datetime | None = None


class EndpointEvent(Record):
    """One line of an endpoint's history.

    Attributes:
        id: Unique id.
        at: When.
        actor: Who.
        action: "deployed", "traffic", "undeployed", "rolled_back", "canary_promoted" or "canary_rolled_back".
        model_name: Model concerned.
        version: Version concerned.
        traffic: The split after the change.
        reason: Why.
        principal: The authenticated identity that made the change on behalf of `actor`, when it is not `actor`.
    """

    id: str
    at: datetime
    actor: str
    action: str
    model_name: str = ""
    version: str = ""
    traffic: dict[str, int] = Field(default_factory=dict)
    reason: str = ""
    principal: str = ""


class EndpointRecord(Record):
    """An endpoint: its target, every deployment it had, the live traffic split and its history.

    Attributes:
        schema_version: Layout version.
        name: Endpoint name.
        target: Deployment target kind ("local" or "vertex").
        target_settings: Settings of the target (project, location, machine type...).
        target_ref: The target's resource for the endpoint (e.g. a Vertex endpoint name).
        created_at: When.
        deployments: Every deployment, oldest first.
        traffic: Deployed model id -> percent, summing to 100 (empty when nothing serves).
        history: Append-only log, oldest first.
    """

    schema_version: int = SCHEMA_VERSION
    name: str
    target: str
    target_settings: dict[str, Any] = Field(default_factory=dict)
    target_ref: str = ""
    created_at: datetime
    deployments: tuple[DeployedModel, ...] = ()
    traffic: dict[str, int] = Field(default_factory=dict)
    history: tuple[EndpointEvent, ...] = ()

    @model_validator(mode="after")
    def _traffic_is_a_split(self) -> Self:
        if self.traffic and sum(self.traffic.values()) != 100:
            msg = f"traffic of endpoint {self.name} sums to {sum(self.traffic.values())}, not 100"
            raise ValueError(msg)
        known = {d.id for d in self.deployments}
        if unknown := set(self.traffic) - known:
            msg = f"traffic of endpoint {self.name} names unknown deployments {sorted(unknown)}"
            raise ValueError(msg)
        return self

    def deployment(self, deployed_id: str) -> DeployedModel:
        """Return the deployment with `deployed_id`. Raises: KeyError."""
        for deployment in self.deployments:
            if deployment.id == deployed_id:
                return deployment
        raise KeyError(deployed_id)

    def serving(self) -> list[DeployedModel]:
        """Return the deployments that get traffic, largest share first."""
        return sorted(
            (self.deployment(i) for i, share in self.traffic.items() if share > 0),
            key=lambda d: -self.traffic[d.id],
        )

    def served_at(self, model_name: str, when: datetime) -> dict[str, int]:
        """Return which versions of `model_name` served here at `when`, with their share of the traffic (percent)."""
        split: dict[str, int] = {}
        for event in self.history:
            if event.at > when:
                break
            split = event.traffic
        return {
            d.version: share for d in self.deployments if d.model_name == model_name and (share := split.get(d.id, 0))
        }

    def active(self) -> list[DeployedModel]:
        """Return the deployments not undeployed (serving or at 0%)."""
        return [d for d in self.deployments if d.undeployed_at is None]

    def _repr_html_(self) -> str:
        """Return the endpoint's deployments as an HTML table, with their traffic share."""
        columns = ["deployed model id", "model", "version", "traffic %", "deployed by", "deployed at", "undeployed at"]
        rows = [
            [d.id, d.model_name, d.version, self.traffic.get(d.id, 0), d.deployed_by, d.deployed_at, d.undeployed_at]
            for d in self.deployments
        ]
        return html_tables.table(columns, rows, caption=f"endpoint {self.name} ({self.target})")


class EndpointList(list[EndpointRecord]):
    """Endpoints: a plain list that Jupyter shows as a table (target, what serves, when created)."""

    def _repr_html_(self) -> str:
        """Return one HTML table row per endpoint."""
        rows = [
            [e.name, e.target, [f"{d.model_name} {d.version} {e.traffic[d.id]}%" for d in e.serving()], e.created_at]
            for e in self
        ]
        return html_tables.table(["endpoint", "target", "serving", "created at"], rows)
