"""Component: move a version to another stage (the transition table and approval rules apply)."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl

from components.image import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def promote_model(
    registry_root: str,
    model_name: str,
    version: str,
    stage: str,
    approved_by: str = "",
    reason: str = "",
    actor: str = "",
) -> str:
    """Move `version` to `stage` and return the stage it is in afterwards.

    A version already in `stage` is left as it is (a retried task, or a run that got its model from the cache).
    `actor` is who makes the change ("": whoever the task runs as); `approved_by` approves it where required.
    """
    from registry_core.tasks import clean_actor, open_task_registry, promote_once

    registry = open_task_registry(registry_root)
    metadata = promote_once(
        registry, model_name, version, stage, approved_by=clean_actor(approved_by), reason=reason,
        actor=clean_actor(actor),
    )  # fmt: skip
    return metadata.stage.value
