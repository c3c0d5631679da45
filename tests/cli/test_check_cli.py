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
    root = tmp_path / "registry"
    version_file = root / "versions" / "churn" / "v2.json"  # a version file that says it is another version
    facts = json.loads(version_file.read_text())
    facts["version"] = "v1"
    version_file.write_text(json.dumps(facts))
    head_file = root / "heads" / "churn.json"
    head = json.loads(head_file.read_text())
    head["tail"] = [e for e in head["tail"] if e["version"] != "v2"]
    head_file.write_text(json.dumps(head))
    leftover = root / "artifacts" / "churn" / "20240101T000000-0123456789ab"
    leftover.mkdir()
    (leftover / "weights").write_text("half an upload")  # unreferenced, but the model cannot be trusted
    uploads = sorted((root / "artifacts" / "churn").iterdir())

    looked = run(tmp_path, "check")  # without --gc, what gc would keep is one line, not one per file
    assert looked.returncode == 1, looked.stderr
    assert "kept_upload: 1 artifact folder(s) of models whose records are damaged" in looked.stdout
    assert "kept_upload: artifacts/" not in looked.stdout

    checked = run(tmp_path, "check", "--gc")

    assert checked.returncode == 1, checked.stderr
    lines = checked.stdout.splitlines()
    assert "invalid_record: heads/churn.json: version 'v1' appears 2 times" in lines
    assert "invalid_record: versions/churn/v2.json: it is the version file of v2, but says version v1" in lines
    kept = "kept_upload: artifacts/churn/20240101T000000-0123456789ab: not removed, it may be in use"
    assert any(line.startswith(kept) for line in lines)
    assert lines[-1] == "problems found"
    assert sorted((root / "artifacts" / "churn").iterdir()) == uploads
