"""The three ways to start the CLI, run as users type them: each offers exactly the same commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ENTRY_POINTS = {
    "model-registry": [str(BIN / "model-registry")],
    "python -m registry_core.cli": [sys.executable, "-m", "registry_core.cli"],
    "python -m registry_core": [sys.executable, "-m", "registry_core"],
}
EXPECTED = {
    "approve", "archive", "check", "compare", "deploy", "endpoints", "get-model", "history", "list-models",
    "list-versions", "migrate", "monitor", "pending", "pipeline", "predict", "promote", "register", "reject",
    "request-promotion",
    "rollback", "serve", "serve-container", "ui",
}  # fmt: skip


def run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("MODEL_REGISTRY_ROOT", None)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def commands_in_help(text: str) -> set[str]:
    section = text.split("Commands:", 1)[1]
    return {m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*)\s", section, re.MULTILINE)}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_every_entry_point_offers_every_command(entry: str, tmp_path: Path) -> None:
    result = run([*ENTRY_POINTS[entry], "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert commands_in_help(result.stdout) == EXPECTED


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("command", ["deploy", "rollback", "predict", "serve", "serve-container", "ui", "endpoints"])
def test_deployment_commands_answer_help_under_every_entry_point(entry: str, command: str, tmp_path: Path) -> None:
    result = run([*ENTRY_POINTS[entry], command, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_user_mistake_is_one_line_and_exit_code_under_every_entry_point(entry: str, tmp_path: Path) -> None:
    result = run([*ENTRY_POINTS[entry], "get-model", "no-such-model"], tmp_path)
    assert result.returncode == 3
    assert result.stderr == "error: model 'no-such-model' is not registered\n"
    assert result.stdout == ""
