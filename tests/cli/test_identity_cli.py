"""On a gs:// registry the actor is the authenticated Google principal; a name given instead acts on its behalf.

The CLI runs as a user types it, against the GCS emulator, with a service account key (Application Default
Credentials) whose token endpoint is a local stand-in: the same path a pipeline task on Vertex AI takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.google_auth_standin import TokenServer

ROBOT = "pipeline@my-project.iam.gserviceaccount.com"
BIN = Path(sys.executable).parent / "model-registry"


@pytest.fixture
def cli(tmp_path: Path, gcs_bucket: str) -> Any:
    tokens = TokenServer().__enter__()
    key = tokens.service_account_key(tmp_path, ROBOT)
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_REGISTRY_USER", "MODEL_REGISTRY_ROOT")}
    env |= {"GOOGLE_APPLICATION_CREDENTIALS": str(key), "MODEL_REGISTRY_CACHE": str(tmp_path / "cache")}
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"weights")

    def run(*args: str, as_json: bool = True) -> Any:
        result = subprocess.run(
            [str(BIN), "--registry", f"gs://{gcs_bucket}/registry", *(["--json"] if as_json else []), *args],
            capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp_path, encoding="utf-8",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if as_json else result.stdout

    yield run
    tokens.__exit__(None, None, None)


def test_the_principal_is_the_default_actor_on_gcs(cli: Any) -> None:
    registered = cli("register", "churn", "model")
    assert registered["registered_by"] == ROBOT
    (entry,) = cli("history", "churn")
    assert (entry["actor"], entry["principal"]) == (ROBOT, "")


def test_a_name_given_explicitly_is_recorded_with_the_principal_acting_on_its_behalf(cli: Any) -> None:
    cli("register", "churn", "model", "--registered-by", "alice@example.com")
    cli("promote", "churn", "v1", "validation")
    cli("promote", "churn", "v1", "staging", "--actor", "bob@example.com")
    cli("approve", "churn", "v1", "production", "--approver", "carol@example.com")
    history = cli("history", "churn")
    assert [(e["action"], e["actor"], e["principal"]) for e in history] == [
        ("registered", "alice@example.com", ROBOT),
        ("stage_changed", ROBOT, ""),
        ("stage_changed", "bob@example.com", ROBOT),
        ("approved", "carol@example.com", ROBOT),
    ]
    assert cli("get-model", "churn")["registered_by"] == "alice@example.com"
    shown = cli("history", "churn", as_json=False)
    assert f"alice@example.com (via {ROBOT})" in shown
    assert f"{ROBOT} (via" not in shown
