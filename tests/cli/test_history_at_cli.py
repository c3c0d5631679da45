"""`model-registry history NAME --at TIME`, run as users type it: a moment's stages and endpoints, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.recording_target import RecordingTarget

from registry_core import InvalidInputError, ModelNotFoundError, ModelRegistry, ModelStage, RegistryConfig

CLI = str(Path(sys.executable).parent / "model-registry")
MODEL = "churn"
EAST = timezone(timedelta(hours=5, minutes=30))


def cli(root: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MODEL_REGISTRY_ROOT": root, "MODEL_REGISTRY_USER": "carol", "COLUMNS": "200"}
    return subprocess.run([CLI, *argv], capture_output=True, text=True, env=env, timeout=120, check=False)


def _to_production(registry: ModelRegistry, label: str) -> datetime:
    for stage in (ModelStage.VALIDATION, ModelStage.STAGING, ModelStage.PRODUCTION):
        approver = "bob" if stage is ModelStage.PRODUCTION else None
        registry.promote_model(MODEL, label, stage, approved_by=approver, actor="carol")
    return registry.history(MODEL)[-1].at


@pytest.fixture
def moments(storage_root: str, tmp_path: Path) -> dict[str, datetime]:
    """v1 in production, then v2 (v1 archived) serving all of endpoint "shop"; when each happened."""
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    for index in (1, 2):
        folder = tmp_path / f"export-{index}"
        folder.mkdir()
        (folder / "saved_model.pb").write_text(f"graph {index}")
        registry.register_model(MODEL, folder, registered_by="alice")
    found = {"first": registry.history(MODEL)[0].at, "v1": _to_production(registry, "v1")}
    found["v2"] = _to_production(registry, "v2")
    registry.deploy_model(MODEL, "v2", endpoint_name="shop", target=RecordingTarget(), actor="carol")
    found["deployed"] = registry.get_endpoint("shop").history[-1].at
    return found


def test_history_at_a_moment_as_json_and_as_a_table(storage_root: str, moments: dict[str, datetime]) -> None:
    result = cli(storage_root, "--json", "history", MODEL, "--at", moments["v1"].isoformat())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "model_name": MODEL,
        "at": moments["v1"].isoformat().replace("+00:00", "Z"),
        "stages": {"production": ["v1"]},
        "endpoints": {},
    }
    # Another zone, the same moment: the answer is given in UTC.
    later = moments["deployed"].astimezone(EAST)
    result = cli(storage_root, "history", MODEL, "--at", later.isoformat())
    assert result.returncode == 0, result.stderr
    assert f"at {moments['deployed'].astimezone(UTC).isoformat().replace('+00:00', 'Z')}" in result.stdout
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["production", "v2"] in lines
    assert ["endpoint", "shop", "v2=100%"] in lines
    result = cli(storage_root, "history", MODEL, "--at", (moments["first"] - timedelta(seconds=1)).isoformat())
    assert result.returncode == 0, result.stderr
    assert "(nothing)" in result.stdout


@pytest.mark.parametrize(
    "text",
    ["yesterday", "2026-13-01", "2026-11-29T14:00+25:00", "9999-12-31T23:59:59-01:00", "2026\x1b[31m"],
)
def test_a_bad_moment_is_one_line_on_stderr(tmp_path: Path, text: str) -> None:
    result = cli(str(tmp_path / "registry"), "history", MODEL, "--at", text)
    assert result.returncode == InvalidInputError.exit_code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "moment" in result.stderr
    assert "\x1b" not in result.stderr


def test_an_unknown_model_at_a_moment_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()  # an empty registry
    result = cli(str(tmp_path / "registry"), "history", "no-such-model", "--at", "2026-11-29T14:00:00Z")
    assert result.returncode == ModelNotFoundError.exit_code
    assert result.stderr == "error: model 'no-such-model' is not registered\n"
