"""Fixtures of the SageMaker target tests: moto's server behind `sagemaker_standin`, and a registry of two versions.

The versions' artifacts are small files, not SavedModels: the stand-in never runs a container, it keeps what the
target asks for (models, endpoint configs, endpoints, the model.tar.gz in S3).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sagemaker_support import BUCKET, MODEL
from support.sagemaker_standin import SageMakerStandIn, sagemaker_standin

from registry_core import ModelRegistry, RegistryConfig


@pytest.fixture(scope="session")
def sagemaker_server() -> Iterator[SageMakerStandIn]:
    """moto's server and the proxy, for the whole session (stopped at its end)."""
    with sagemaker_standin() as standin:
        yield standin


@pytest.fixture
def sagemaker(sagemaker_server: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch) -> SageMakerStandIn:
    """The stand-in, emptied, with boto3 pointed at it (fake credentials) and the bucket BUCKET created."""
    import boto3

    sagemaker_server.reset()
    for key, value in sagemaker_server.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("REGISTRY_SERVING_IMAGE", raising=False)
    boto3.session.Session().client("s3").create_bucket(Bucket=BUCKET)
    return sagemaker_server


def _artifacts(folder: Path, content: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_text(f"not really a SavedModel: {content}")
    (folder / "variables").mkdir()
    (folder / "variables" / "variables.index").write_text(content)
    return folder


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    """A local registry with v1 and v2 of MODEL, registered by alice."""
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    for i in (1, 2):
        registry.register_model(MODEL, _artifacts(tmp_path / f"v{i}", f"weights {i}"), registered_by="alice")
    return registry
