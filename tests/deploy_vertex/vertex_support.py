"""Names and helpers shared by the Vertex AI target tests (the stand-in, a GCS registry, small registered versions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.vertex_standin import VertexStandIn

from registry_core import ModelRegistry

PROJECT = "test-project"
REGION = "us-central1"
MODEL = "eyewear"


def on_vertex(standin: VertexStandIn, **extra: Any) -> dict[str, Any]:
    """The deploy settings of the Vertex target on the stand-in."""
    return {"target": "vertex", "project": PROJECT, "location": REGION, "api_endpoint": standin.url, **extra}


def register_versions(registry: ModelRegistry, tmp_path: Path, count: int) -> list[str]:
    """Register `count` small versions of MODEL (files, not SavedModels: the stand-in never loads them)."""
    versions = []
    for i in range(1, count + 1):
        folder = tmp_path / f"export-{i}"
        (folder / "variables").mkdir(parents=True)
        (folder / "saved_model.pb").write_text(f"not really a SavedModel: weights {i}")
        (folder / "variables" / "variables.index").write_text(f"weights {i}")
        versions.append(registry.register_model(MODEL, folder, registered_by="alice").version)
    return versions
