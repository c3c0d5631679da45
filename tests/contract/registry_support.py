"""Shared pieces of the registry contract tests: the people, the model, and helpers to drive and inspect it."""

from __future__ import annotations

from collections import deque
from typing import Any

from registry_core import (
    ALLOWED_TRANSITIONS,
    ModelMetadata,
    ModelRegistry,
    ModelStage,
)
from registry_core.storage import StorageBackend

S = ModelStage
REGISTRANT = "alice"
APPROVER = "bob"
OPERATOR = "carol"
MODEL = "churn"
DOC = f"models/{MODEL}.json"





def path_to(stage: ModelStage) -> list[ModelStage]:
    """Return the shortest chain of allowed steps from DEVELOPMENT to `stage` (breadth-first over the table)."""
    paths: dict[ModelStage, list[ModelStage]] = {S.DEVELOPMENT: []}
    queue = deque([S.DEVELOPMENT])
    while queue:
        current = queue.popleft()
        for target in sorted(ALLOWED_TRANSITIONS[current], key=list(ModelStage).index):
            if target not in paths:
                paths[target] = [*paths[current], target]
                queue.append(target)
    return paths[stage]


def drive(registry: ModelRegistry, version: str, stage: ModelStage, name: str = MODEL) -> ModelMetadata:
    """Move `version` into `stage` through allowed steps, with approvals where the config asks for them."""
    metadata = registry.get_model_metadata(name, version)
    for step in path_to(stage):
        approver = APPROVER if step in registry.config.approval_required_stages else None
        metadata = registry.promote_model(name, version, step, approved_by=approver, actor=OPERATOR)
    return metadata


def artifact_key(storage: StorageBackend, metadata: ModelMetadata) -> str:
    root = storage.uri.rstrip("/") + "/"
    assert metadata.artifact_uri.startswith(root)
    return metadata.artifact_uri[len(root) :]


def stages_of(registry: ModelRegistry, name: str = MODEL) -> dict[str, ModelStage]:
    return {m.version: m.stage for m in registry.list_versions(name)}


def problems_of(report: Any, kind: str) -> list[str]:
    return [p.key for p in report.problems if p.kind == kind]


