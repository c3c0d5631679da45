"""Fixtures of the Vertex AI target tests."""

from __future__ import annotations

import pytest

from registry_core import ModelRegistry, RegistryConfig


@pytest.fixture
def registry(gcs_bucket: str) -> ModelRegistry:
    """An empty registry on a fresh bucket of the GCS emulator (Vertex AI reads artifacts from gs:// only)."""
    return ModelRegistry(RegistryConfig(root=f"gs://{gcs_bucket}/registry"))
