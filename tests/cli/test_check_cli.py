"""`model-registry check --gc` as typed: it names each broken rule and each upload it keeps, and exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "model-registry"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MODEL_REGISTRY_ROOT": str(tmp_path / "registry"), "MODEL_REGISTRY_USER": "alice"}
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, encoding="utf-8", env=env, timeout=60, check=False
    )


def test_check_gc_keeps_the_uploads_of_a_model_with_two_v1_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights").write_text("w")
    for _ in range(2):
        assert run(tmp_path, "register", "churn", str(tmp_path / "model")).returncode == 0
    document = tmp_path / "registry" / "models" / "churn.json"
    record = json.loads(document.read_text())
    record["versions"][1]["version"] = "v1"
    record["history"] = [e for e in record["history"] if e["version"] != "v2"]
    document.write_text(json.dumps(record))
    leftover = tmp_path / "registry" / "artifacts" / "churn" / "20240101T000000-0123456789ab"
    leftover.mkdir()
    (leftover / "weights").write_text("half an upload")  # unreferenced, but the document cannot be trusted
    uploads = sorted((tmp_path / "registry" / "artifacts" / "churn").iterdir())

    checked = run(tmp_path, "check", "--gc")

    assert checked.returncode == 1, checked.stderr
    lines = checked.stdout.splitlines()
    assert "invalid_record: models/churn.json: version 'v1' appears 2 times" in lines
    kept = "kept_upload: artifacts/churn/20240101T000000-0123456789ab: not removed, it may be in use"
    assert any(line.startswith(kept) for line in lines)
    assert lines[-1] == "problems found"
    assert sorted((tmp_path / "registry" / "artifacts" / "churn").iterdir()) == uploads
