"""`model-registry get-model NAME --profile`, run as users type it: the training data feature by feature."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry_core import ModelRegistry, NotFoundError
from registry_core.integration import register_trained_model
from registry_core.monitoring.profile import profile_rows

CLI = str(Path(sys.executable).parent / "model-registry")
ROWS = [
    {"width": None if i == 0 else 130.0 + i, "shape": ["oval", "round", "square", "heart"][i % 4], "pairs": i % 3}
    for i in range(20)
]


def cli(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MODEL_REGISTRY_ROOT": str(root), "COLUMNS": "200"}
    return subprocess.run([CLI, *argv], capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A registry with m v1 (registered with a profile of ROWS, in staging) and v2 (without one)."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"model bytes")
    registry = ModelRegistry.from_uri(str(tmp_path / "registry"))
    register_trained_model(folder, "m", registry=registry, data_profile=profile_rows(ROWS, name="train"))
    registry.promote_model("m", "v1", "validation")
    registry.promote_model("m", "v1", "staging")
    registry.register_model("m", folder)
    return tmp_path / "registry"


def test_the_profile_prints_as_a_table_of_features(root: Path) -> None:
    result = cli(root, "get-model", "m", "--stage", "staging", "--profile")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "m v1: training data of 20 examples, 3 features"
    assert lines[1].split() == [
        "feature", "type", "count", "missing", "min", "mean", "std", "median", "max", "top", "values", "allowed",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[3:]}
    assert rows["width"].split()[:9] == ["width", "FLOAT", "19", "1", "131", "140", "5.477", "140", "149"]
    assert rows["width"].endswith("[131, 149], in >= 95.0%")
    assert "4 values: heart 25%, oval 25%, round 25%, square 25%" in rows["shape"]
    assert rows["shape"].endswith("4 categories, required")
    assert rows["pairs"].endswith("[0, 2], required")


def test_the_profile_as_json_names_the_version_and_every_feature(root: Path) -> None:
    result = cli(root, "--json", "get-model", "m", "-v", "v1", "--profile")
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert (view["model"], view["version"], view["summary"]["num_examples"]) == ("m", "v1", 20)
    assert [f["feature"] for f in view["features"]] == ["width", "shape", "pairs"]
    width = view["features"][0]
    assert (width["count"], width["missing"], width["min"], width["max"]) == (19, 1, 131.0, 149.0)
    assert view["features"][1]["top_values"][0] == {"value": "heart", "count": 5, "share": 0.25}
    assert view["features"][1]["domain"]["values"] == ["heart", "oval", "round", "square"]


def test_a_version_without_a_profile_is_one_line_and_the_not_found_code(root: Path) -> None:
    result = cli(root, "get-model", "m", "--profile")  # the latest, v2
    assert result.returncode == NotFoundError.exit_code
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: m v2 has no data profile (it was registered without data_profile/statistics.pb)"
    )
    assert "(--profile: each feature)" in cli(root, "get-model", "m", "-v", "v1").stdout
