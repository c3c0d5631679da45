"""A real retry and a real cache hit of the whole pipeline with kfp.local, each task as if in its own container.

The registry lives on the GCS emulator, reached through a proxy; the tasks run with ``MODEL_REGISTRY_CONTAINER=1``
(as in the image) and with HOME and XDG_DATA_HOME in fresh folders, so a task that fell back to a local registry
would either be refused or leave files there. Two runs share the registry and the pipeline root (module-scoped):

1. With retries on: the register task's process is killed right after its commit reached the bucket (the proxy's
   hook, before the answer goes back). kfp retries the task; the retry must return that version, not add one.
2. The same parameters again, with caching: data and training come from the cache, so register gets the very same
   Model artifact and must return the version registered for it; the tasks after it change nothing twice.
"""

# no `from __future__ import annotations`: kept like the pipeline modules, whose annotations KFP reads
import io
import os
import signal
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kfp import components, dsl, local
from support.fault_proxy import FaultProxy
from support.gcs_emulator import GCSEmulator

from pipelines.local import run_local
from pipelines.specs import SPECS_DIR
from registry_core import ModelRegistry
from registry_core.metadata import HistoryAction, ModelStage

NAME = "eyewear"
ARGUMENTS: dict[str, Any] = {
    "model_name": NAME, "num_train": 300, "num_validation": 100, "num_test": 100, "data_seed": 7,
    "model_config": {"epochs": 1}, "thresholds": {"accuracy": 0.05}, "registered_by": "pipeline-sa",
}  # fmt: skip

# kfp.local says that display names and resource limits mean nothing to it: true, and not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore:Task .* have no effect in the current local runner:UserWarning")


@dataclass(frozen=True)
class Runs:
    root: str
    home: Path
    killed: list[int]
    first_version: str
    first_out: str
    second_version: str
    second_out: str


def _register_processes() -> list[int]:
    """Return the pids of this process's descendants that run the register_model task (its sh and its python)."""
    ours = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            chain = _ancestors(entry.name)
        except OSError:
            continue
        if b"--function_to_execute\x00register_model" in command and ours in chain:
            found.append(int(entry.name))
    return found


def _ancestors(pid: str) -> list[str]:
    chain = []
    while pid not in ("0", "1"):
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = stat.rsplit(")", 1)[1].split()[1]
        chain.append(pid)
    return chain


@pytest.fixture(scope="module")
def runs(gcs_emulator: GCSEmulator, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    bucket = gcs_emulator.create_bucket()
    root = f"gs://{bucket}/registry"
    home = tmp_path_factory.mktemp("task-home")
    pipeline_root = tmp_path_factory.mktemp("runs")
    killed: list[int] = []
    armed = [True]

    def registration_commit(method: str, path: str, body: bytes) -> bool:
        # the first write of the model's document is the registration's commit (its pending marker came before)
        if armed[0] and method == "POST" and f"/b/{bucket}/o" in path and b"registry/heads/eyewear.json" in body:
            armed[0] = False
            return True
        return False

    def kill_the_task(method: str, path: str, body: bytes) -> None:
        for pid in _register_processes():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with (
        FaultProxy(
            gcs_emulator.url, fault_rate=1.0, faults=["503-after"], applies_to=registration_commit,
            after_forward=kill_the_task,
        ) as proxy,
        pytest.MonkeyPatch.context() as env,
    ):  # fmt: skip
        env.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        env.setenv("MODEL_REGISTRY_CONTAINER", "1")
        env.setenv("HOME", str(home / "home"))
        env.setenv("XDG_DATA_HOME", str(home / "data"))
        env.delenv("MODEL_REGISTRY_ROOT", raising=False)
        first, second = io.StringIO(), io.StringIO()
        with redirect_stdout(first):
            first_version = run_local(
                registry_root=root, pipeline_root=pipeline_root, enable_caching=True, retries=True, **ARGUMENTS
            )
        with redirect_stdout(second):
            second_version = run_local(
                registry_root=root, pipeline_root=pipeline_root, enable_caching=True, **ARGUMENTS
            )
    return Runs(root, home, killed, first_version, first.getvalue(), second_version, second.getvalue())


def _task_lines(out: str, task: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.split()[:1] == [task]]


def test_the_register_task_was_killed_after_its_commit_and_retried(runs: Runs) -> None:
    assert runs.killed  # the hook found the task's processes
    assert _task_lines(runs.first_out, "register-model") == ["FAILURE", "retrying", "SUCCESS"]


def test_the_retry_returns_the_version_the_killed_attempt_registered(runs: Runs) -> None:
    registry = ModelRegistry.from_uri(runs.root)
    assert runs.first_version == "v1"
    assert [m.version for m in registry.list_versions(NAME)] == ["v1"]
    registrations = [e for e in registry.history(NAME) if e.action is HistoryAction.REGISTERED]
    assert len(registrations) == 1


def test_a_resubmission_gets_data_and_training_from_the_cache(runs: Runs) -> None:
    assert _task_lines(runs.second_out, "generate-data") == ["CACHED"]
    assert _task_lines(runs.second_out, "train-model") == ["CACHED"]
    assert _task_lines(runs.second_out, "register-model") == ["SUCCESS"]


def test_a_cache_hit_returns_the_version_registered_for_that_model(runs: Runs) -> None:
    assert runs.second_version == runs.first_version == "v1"
    registry = ModelRegistry.from_uri(runs.root)
    assert [m.version for m in registry.list_versions(NAME)] == ["v1"]
    metadata = registry.get_model_metadata(NAME, "v1")
    assert metadata.stage is ModelStage.STAGING  # staged once; the second promotion found it there
    assert metadata.registered_by == "pipeline-sa"
    staged = [e for e in registry.history(NAME) if e.to_stage is ModelStage.STAGING]
    assert len(staged) == 1
    assert {e.actor for e in registry.history(NAME)} == {"pipeline-sa"}


def test_no_task_wrote_a_registry_into_its_home(runs: Runs) -> None:
    # (validate keeps downloaded artifacts in ~/.cache/model-registry: a cache, not a registry)
    assert not (runs.home / "data" / "model-registry").exists()
    assert not (runs.home / "home" / ".local" / "share" / "model-registry").exists()
    assert [p for p in runs.home.rglob("heads/*.json")] == []


def test_in_a_container_a_task_given_a_local_registry_fails_naming_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_CONTAINER", "1")
    promote = components.load_component_from_file(str(SPECS_DIR / "promote.yaml"))

    @dsl.pipeline(name="promote-in-a-container")
    def promote_in_a_container(registry_root: str) -> str:
        return promote(registry_root=registry_root, model_name=NAME, version="v1", stage="validation").output

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "runs"))
    with pytest.raises(RuntimeError, match="Inner task failed"):
        promote_in_a_container(registry_root=str(tmp_path / "registry"))
    assert "thrown away when the task ends: give the pipeline a gs:// registry_root" in capsys.readouterr().out
    assert not (tmp_path / "registry").exists()

