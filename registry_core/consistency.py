"""What a model's or an endpoint's document must mean, beyond parsing: each broken rule as one line (pure functions).

A document can parse and still be wrong, after a hand edit, a bad restore or a bug: two versions labelled v1, two
in production, a production version nobody approved, a stage history that does not end where the version is, an
endpoint serving a version that does not exist. `check` reports each, and collects nothing of a model whose
document breaks one, since its artifacts can no longer be proven unused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from registry_core.artifacts import manifest_digest
from registry_core.deploy.records import EndpointRecord
from registry_core.errors import InvalidVersionError
from registry_core.lifecycle.approvals import ApprovalPolicy, valid_approvals
from registry_core.metadata import HistoryAction, ModelMetadata, ModelStage
from registry_core.store import ModelRecord
from registry_core.text import shown
from registry_core.versioning import normalize_version

_STAGE_SETTING = (HistoryAction.REGISTERED, HistoryAction.STAGE_CHANGED, HistoryAction.ROLLED_BACK)


def model_problems(name: str, record: ModelRecord, policy: ApprovalPolicy | None = None) -> list[str]:
    """Return what is wrong with the meaning of the document of model `name` (empty if nothing).

    Args:
        name: The model the document is stored for.
        record: The parsed document.
        policy: The registry's approval rules; None skips the approval checks.
    """
    problems = []
    if record.name != name:
        problems.append(f"the document of {name} is about model {shown(record.name)}")
    labels = Counter(m.version for m in record.versions)
    problems += [f"version {shown(label)} appears {count} times" for label, count in labels.items() if count > 1]
    ids = Counter(m.model_id for m in record.versions)
    problems += [f"{count} versions share the id {shown(i)}" for i, count in ids.items() if count > 1]
    production = [m.version for m in record.versions if m.stage is ModelStage.PRODUCTION]
    if len(production) > 1:
        problems.append(f"{len(production)} versions are in production ({', '.join(production)}); at most one may be")
    for metadata in record.versions:
        problems += [f"{metadata.version}: {p}" for p in _version_problems(record, metadata, policy)]
    problems += _history_problems(record)
    return problems


def _version_problems(record: ModelRecord, metadata: ModelMetadata, policy: ApprovalPolicy | None) -> list[str]:
    problems = []
    try:
        if normalize_version(metadata.version, record.versioning) != metadata.version:
            problems.append(f"the label is not in canonical form ({normalize_version(metadata.version)})")
    except InvalidVersionError:
        problems.append(f"the label is not a {record.versioning.value} version label")
    if metadata.model_name != record.name:
        problems.append(f"it says it belongs to model {shown(metadata.model_name)}")
    if manifest_digest(metadata.artifact_manifest) != metadata.artifact_digest:
        problems.append("its artifact digest does not match its manifest")
    expected = ModelStage.DEVELOPMENT
    for change in metadata.stage_history:
        if change.from_stage is not expected:
            problems.append(
                f"its stage history moves it from {change.from_stage.value} to {change.to_stage.value} at "
                f"{change.changed_at:%Y-%m-%d %H:%M:%S}, but it was in {expected.value} then"
            )
        expected = change.to_stage
    if expected is not metadata.stage:
        problems.append(f"it is in {metadata.stage.value}, but its stage history ends in {expected.value}")
    for approval in metadata.approvals:
        if approval.artifact_digest != metadata.artifact_digest:
            problems.append(
                f"the approval by {shown(approval.approver)} for {approval.stage.value} is bound to other artifacts "
                f"({shown(approval.artifact_digest)})"
            )
    if policy is not None and metadata.stage in policy.required_stages:
        approvals = valid_approvals(metadata, metadata.stage, four_eyes=policy.four_eyes)
        who = f" by someone other than {metadata.registered_by}" if policy.four_eyes else ""
        if not approvals:
            problems.append(f"it is in {metadata.stage.value} without an approval{who} bound to its artifacts")
    pending = Counter(r.stage for r in metadata.promotion_requests if r.status == "pending")
    problems += [f"{count} pending requests for {stage.value}" for stage, count in pending.items() if count > 1]
    return problems


def _history_problems(record: ModelRecord) -> list[str]:
    problems = []
    labels = {m.version for m in record.versions}
    ids = Counter(entry.id for entry in record.history)
    problems += [f"history entry {shown(i)} appears {count} times" for i, count in ids.items() if count > 1]
    unknown = sorted({entry.version for entry in record.history} - labels)
    if unknown:
        problems.append(f"the history names versions that do not exist: {shown(unknown)}")
    registered = {e.version for e in record.history if e.action is HistoryAction.REGISTERED}
    problems += [f"{label}: the history has no registration of it" for label in sorted(labels - registered)]
    last_stage: dict[str, ModelStage] = {}
    for entry in record.history:
        if entry.action in _STAGE_SETTING and entry.to_stage is not None:
            last_stage[entry.version] = entry.to_stage
    for metadata in record.versions:
        stage = last_stage.get(metadata.version)
        if stage is not None and stage is not metadata.stage:
            problems.append(
                f"{metadata.version}: it is in {metadata.stage.value}, but the history last moved it to {stage.value}"
            )
    return problems


def endpoint_problems(name: str, record: EndpointRecord, models: Mapping[str, ModelRecord | None]) -> list[str]:
    """Return what is wrong with the meaning of the document of endpoint `name` (empty if nothing).

    Args:
        name: The endpoint the document is stored for.
        record: The parsed document.
        models: Model documents by name; None for a model whose document exists but could not be read (its
            deployments are not judged). A name missing from `models` has no document.
    """
    problems = []
    if record.name != name:
        problems.append(f"the document of endpoint {name} is about endpoint {shown(record.name)}")
    ids = Counter(d.id for d in record.deployments)
    problems += [f"deployment {shown(i)} appears {count} times" for i, count in ids.items() if count > 1]
    active = {d.id for d in record.active()}
    if undeployed := sorted(set(record.traffic) - active):
        problems.append(f"traffic goes to deployments that were undeployed: {shown(undeployed)}")
    for deployment in record.deployments:
        what = f"deployment {shown(deployment.id)} ({deployment.model_name} {deployment.version})"
        if deployment.model_name not in models:
            problems.append(f"{what}: model {shown(deployment.model_name)} is not registered")
            continue
        model = models[deployment.model_name]
        if model is None:
            continue  # its document is unreadable, and reported as such
        version = next((m for m in model.versions if m.version == deployment.version), None)
        if version is None:
            problems.append(f"{what}: the model has no version {shown(deployment.version)}")
        elif version.artifact_digest != deployment.artifact_digest:
            problems.append(f"{what}: deployed with artifacts {deployment.artifact_digest}, not the version's")
    return problems
