"""Run the train-and-register pipeline on this machine with kfp's local runner (one subprocess per task).

It runs the compiled YAML, as Vertex AI would, with what only Vertex AI fills in set for this machine: kfp's local
runner stops with an IndexError on ``{{$.pipeline_google_cloud_project_id}}`` and the like, so the project and
location placeholders become "" (no project here) and the job's resource name becomes the local run's name.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from registry_core.config import RegistryConfig
from registry_core.errors import RegistryError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
LOCAL_BACKOFF = "1s"  # retries kept locally wait this long, doubling: a local failure is rarely transient

# What Vertex AI fills in at run time, and what it means on this machine.
_LOCAL_VALUES = {
    "{{$.pipeline_google_cloud_project_id}}": "",
    "{{$.pipeline_google_cloud_location}}": "",
    "{{$.pipeline_job_resource_name}}": "{{$.pipeline_job_name}}",
}


class PipelineRunError(RegistryError, RuntimeError):
    """A task of a local pipeline run failed (kfp names the task; its log is in the run's log file)."""


def default_pipeline_root() -> Path:
    """Where local runs keep their artifacts: $MODEL_REGISTRY_PIPELINE_ROOT, else beside the default registry."""
    configured = os.environ.get("MODEL_REGISTRY_PIPELINE_ROOT")
    if configured:
        return Path(configured)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "model-registry-pipeline-runs"


def localize(text: str, *, retries: bool = False) -> dict[str, Any]:
    """Return compiled pipeline YAML `text` as the local runner can run it.

    Vertex AI's runtime placeholders get their local meaning (see the module docstring). Task retries are dropped
    unless `retries`, in which case they wait `LOCAL_BACKOFF` (doubling) instead of minutes.
    """
    import yaml

    for placeholder, value in _LOCAL_VALUES.items():
        text = text.replace(placeholder, value)
    spec: dict[str, Any] = yaml.safe_load(text)
    for dag in _dags(spec):
        for task in dag.get("tasks", {}).values():
            policy = task.get("retryPolicy")
            if policy is None:
                continue
            if retries:
                policy["backoffDuration"] = LOCAL_BACKOFF
            else:
                del task["retryPolicy"]
    return spec


def run_local(
    *,
    registry_root: str = "",
    pipeline_root: str | Path | None = None,
    enable_caching: bool = False,
    retries: bool = False,
    verbose: bool = False,
    **arguments: Any,
) -> str:
    """Run the pipeline with ``kfp.local.SubprocessRunner(use_venv=False)`` and return the registered version.

    Prints one line per task as it finishes; the full output of kfp and the tasks goes to ``run-local.log`` in the
    run's folder (its path is printed), and to the terminal as well with `verbose`.

    Args:
        registry_root: Registry the tasks use; "" means this machine's default (resolved here, so that every
            task and the caller agree on it).
        pipeline_root: Folder for the runs' artifacts; default `default_pipeline_root()`.
        enable_caching: Reuse the outputs of data and training tasks run before with the same inputs (kept in
            ``<pipeline_root>/.kfp_cache``), as Vertex AI does by default; registry tasks always run.
        retries: Retry failed registry tasks as on Vertex AI (with a short backoff); off by default, since a
            local failure is rarely one that goes away.
        verbose: Also stream the full log to the terminal.
        **arguments: Other pipeline parameters (model_name, num_train, model_config, thresholds, ...).

    Raises:
        PipelineRunError: a task failed (a RuntimeError naming the task, like kfp's).
    """
    import yaml
    from kfp import components, local

    from pipelines.compile import compile_pipeline
    from pipelines.progress import RunLog
    from pipelines.train_and_register import PIPELINE_NAME

    root = Path(pipeline_root) if pipeline_root is not None else default_pipeline_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="compiled-") as scratch:
        compiled = compile_pipeline(Path(scratch) / "pipeline.yaml")
        spec = localize(compiled.read_text(encoding="utf-8"), retries=retries)
    pipeline = components.load_component_from_text(yaml.safe_dump(spec))
    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True,
        enable_caching=enable_caching,
    )  # fmt: skip
    tasks, groups = _tasks_and_groups(spec)
    try:
        with RunLog(root, PIPELINE_NAME, tasks=tasks, groups=groups, verbose=verbose):
            task = pipeline(registry_root=registry_root or RegistryConfig().root_uri, **arguments)
    except RuntimeError as exc:  # kfp's message is one line with terminal colours: keep the line, drop the colours
        raise PipelineRunError(_ANSI.sub("", str(exc))) from exc
    return str(task.output)


def _dags(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every DAG of a compiled pipeline: the root's and those of its condition groups."""
    components = spec.get("components", {})
    return [spec["root"]["dag"], *(c["dag"] for c in components.values() if "dag" in c)]


def _tasks_and_groups(spec: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """Return the leaf task names, and each condition group's leaf tasks (what a skipped group skips)."""
    components = spec.get("components", {})

    def leaves(dag: dict[str, Any]) -> list[str]:
        found: list[str] = []
        for name, task in dag.get("tasks", {}).items():
            inner = components.get(task["componentRef"]["name"], {})
            if "dag" in inner:
                groups[name] = leaves(inner["dag"])
                found += groups[name]
            else:
                found.append(name)
        return found

    groups: dict[str, list[str]] = {}
    return leaves(spec["root"]["dag"]), groups
