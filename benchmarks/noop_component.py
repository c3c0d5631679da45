"""A no-op component and a chain of it, for measuring kfp.local's per-task cost.

No `from __future__ import annotations` here: KFP reads the annotation objects.
"""

from kfp import dsl

from components.image import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def noop(value: int) -> int:
    """Return `value` + 1."""
    return value + 1


NOOP_TASKS = 8


@dsl.pipeline(name="noop-chain")
def noop_chain() -> int:
    """Run NOOP_TASKS no-op tasks one after another."""
    task = noop(value=0)
    for _ in range(NOOP_TASKS - 1):
        task = noop(value=task.output)
    return task.output
