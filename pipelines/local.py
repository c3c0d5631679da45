"""Run the train-and-register pipeline on this machine with kfp's local runner (one subprocess per task)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from registry_core.config import RegistryConfig
from registry_core.errors import RegistryError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class PipelineRunError(RegistryError, RuntimeError):
    """A task of a local pipeline run failed (kfp names the task; its log was printed above)."""


def default_pipeline_root() -> Path:
    """Where local runs keep their artifacts: $MODEL_REGISTRY_PIPELINE_ROOT, else beside the default registry."""
    configured = os.environ.get("MODEL_REGISTRY_PIPELINE_ROOT")
    if configured:
        return Path(configured)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "model-registry-pipeline-runs"


def run_local(*, registry_root: str = "", pipeline_root: str | Path | None = None, **arguments: Any) -> str:
    """Run the pipeline with ``kfp.local.SubprocessRunner(use_venv=False)`` and return the registered version.

    Args:
        registry_root: Registry the tasks use; "" means this machine's default (resolved here, so that every
            task and the caller agree on it).
        pipeline_root: Folder for the runs' artifacts; default `default_pipeline_root()`.
        **arguments: Other pipeline parameters (model_name, num_train, model_config, thresholds, ...).

    Raises:
        PipelineRunError: a task failed (a RuntimeError naming the task, like kfp's; its log is above it).
    """
    from kfp import local

    from pipelines.train_and_register import train_and_register

    root = Path(pipeline_root) if pipeline_root is not None else default_pipeline_root()
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    try:
        task = train_and_register(registry_root=registry_root or RegistryConfig().root_uri, **arguments)
    except RuntimeError as exc:  # kfp's message is one line with terminal colours: keep the line, drop the colours
        raise PipelineRunError(_ANSI.sub("", str(exc))) from exc
    return str(task.output)
