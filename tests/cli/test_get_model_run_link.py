"""`get-model` links a version trained in a Vertex AI pipeline run to the run's page in the Cloud console."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core import ModelRegistry
from registry_core.cli import main
from registry_core.console import pipeline_run_url

RUN = "projects/my-project/locations/us-east1/pipelineJobs/eyewear-train-and-register-20261129120000-ab12cd34"
URL = (
    "https://console.cloud.google.com/vertex-ai/locations/us-east1/pipelines/runs/"
    "eyewear-train-and-register-20261129120000-ab12cd34?project=my-project"
)


def test_a_vertex_job_resource_name_has_a_console_link() -> None:
    assert pipeline_run_url(RUN) == URL


@pytest.mark.parametrize(
    "run", [None, "", "eyewear-train-and-register-2026-11-29-12-00-00-000000", "projects/p/pipelineJobs/x", f"{RUN}/x"]
)
def test_anything_else_has_none(run: str | None) -> None:
    assert pipeline_run_url(run) is None


def test_get_model_prints_the_console_link_of_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "registry")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w")
    registry = ModelRegistry.from_uri(root)
    registry.register_model("eyewear", folder, lineage={"pipeline_run": RUN}, registered_by="alice")
    registry.register_model("eyewear", tmp_path / "model" / "weights.bin", lineage={"pipeline_run": "local-run"})

    assert main(["--registry", root, "get-model", "eyewear", "--version", "v1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:3] == ["run", "in", "console"] and line.split()[-1] == URL for line in lines)

    assert main(["--registry", root, "get-model", "eyewear", "--version", "v2"]) == 0
    assert "console" not in capsys.readouterr().out
