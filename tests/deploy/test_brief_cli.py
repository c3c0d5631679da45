"""The project brief's seven CLI examples, run as written (``python -m registry_core.cli ...``) on the local default.

The brief names the model ``eyewear_recommender`` with semantic labels v1.1.0, v1.2.0 and v1.3.0 and the endpoint
``eyewear-recommender-endpoint``; the setup registers and promotes those through the same CLI, so that every example
has something to act on: v1.1.0 served in production before v1.2.0 replaced it, which the rollback brings back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deploy_support import REPO, Exports

MODEL = "eyewear_recommender"
ENDPOINT = "eyewear-recommender-endpoint"
APPROVER = "john.smith@example.com"


class Cli:
    """`python -m registry_core.cli` in a subprocess, on the embedded default registry of a fresh home."""

    def __init__(self, home: Path) -> None:
        self.env = os.environ | {"XDG_DATA_HOME": str(home), "MODEL_REGISTRY_USER": "alice", "COLUMNS": "200"}
        self.env.pop("MODEL_REGISTRY_ROOT", None)
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), self.env.get("PYTHONPATH", "")) if p)

    def __call__(self, *args: str, expect: int = 0) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "registry_core.cli", *args],
            capture_output=True, text=True, env=self.env, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == expect, f"{args}: {result.stderr}"
        assert result.stderr == "" or expect != 0, result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self("--json", *args))


@pytest.fixture
def cli(tmp_path: Path, exports: Exports) -> Cli:
    cli = Cli(tmp_path / "home")
    for label, folder in (("v1.1.0", exports.v1), ("v1.2.0", exports.v2), ("v1.3.0", exports.v1)):
        cli("register", MODEL, str(folder), "--versioning", "semantic", "--version", label,
            "-m", f"accuracy=0.{label[-3]}{label[-1]}", "--framework", "tensorflow")  # fmt: skip
    for label in ("v1.1.0", "v1.2.0"):
        cli("promote", MODEL, label, "validation")
        cli("promote", MODEL, label, "staging")
    cli("promote", MODEL, "v1.1.0", "production", "--approved-by", APPROVER)
    cli("deploy", MODEL, "--version", "v1.1.0", "--endpoint-name", ENDPOINT)
    return cli


def test_the_briefs_cli_examples_work_as_written(cli: Cli, tmp_path: Path) -> None:
    # List all models
    assert cli("list-models").split() == [MODEL]
    # List versions of a specific model
    listing = cli("list-versions", MODEL)
    assert [line.split()[0] for line in listing.splitlines()[3:]] == ["v1.1.0", "v1.2.0", "v1.3.0"]
    # Get detailed information about a model version
    assert "v1.2.0" in cli("get-model", MODEL, "--version", "v1.2.0")
    # Promote a model to a new stage
    out = cli("promote", MODEL, "v1.2.0", "production", "--approved-by", APPROVER)
    assert out == f"{MODEL} v1.2.0 is now in production\n"
    # Deploy a model to an endpoint
    out = cli("deploy", MODEL, "--version", "v1.2.0", "--endpoint-name", ENDPOINT)
    assert out.startswith(f"deployed {MODEL} v1.2.0 to {ENDPOINT} (local): {MODEL} v1.2.0=100%")
    # Compare multiple model versions
    comparison = cli("compare", MODEL, "v1.1.0", "v1.2.0", "v1.3.0")
    assert comparison.splitlines()[1].split() == ["metric", "v1.1.0", "v1.2.0", "v1.3.0"]
    # Rollback to a previous version
    out = cli("rollback", MODEL, "v1.1.0", "--endpoint-name", ENDPOINT)
    assert out == f"{MODEL} v1.1.0 is back in production and serves 100% of {ENDPOINT}\n"

    endpoint = cli.json("endpoints", "describe", ENDPOINT)
    serving = [d for d in endpoint["deployments"] if endpoint["traffic"].get(d["id"]) == 100]
    assert [d["version"] for d in serving] == ["v1.1.0"]
    production = cli.json("get-model", MODEL, "--stage", "production")
    assert production["version"] == "v1.1.0"
    assert (tmp_path / "home" / "model-registry").is_dir()  # the embedded default, nothing configured
