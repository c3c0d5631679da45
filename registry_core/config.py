"""RegistryConfig: where the registry lives and which policies it enforces."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from registry_core.metadata import ModelStage
from registry_core.versioning import VersioningStrategy

ROOT_ENV = "MODEL_REGISTRY_ROOT"
USER_ENV = "MODEL_REGISTRY_USER"


def default_root() -> str:
    """Return the embedded default root: $MODEL_REGISTRY_ROOT, else a folder in the user's data directory."""
    if os.environ.get(ROOT_ENV):
        return os.environ[ROOT_ENV]
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(data_home) / "model-registry")


class RegistryConfig(BaseModel):
    """Settings of one registry.

    Attributes:
        root: Where the registry lives: a local folder, ``file://...`` or ``gs://bucket/prefix``.
            Unset: ``gs://bucket_name/prefix`` when `bucket_name` is set, else the local default.
        project_id: Google Cloud project (GCS and Vertex).
        bucket_name: GCS bucket, for the seed's ``RegistryConfig(project_id=..., bucket_name=...)`` form.
        prefix: Folder inside the bucket when `bucket_name` is used.
        location: Google Cloud region for Vertex AI.
        versioning: How labels of new models are issued.
        approval_required_stages: Stages that need an approval.
        enforce_four_eyes: Refuse approvals by the person who registered the version.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: str | None = None
    project_id: str | None = None
    bucket_name: str | None = None
    prefix: str = "model-registry"
    location: str = "us-central1"
    versioning: VersioningStrategy = VersioningStrategy.AUTO_INCREMENT
    approval_required_stages: frozenset[ModelStage] = Field(default=frozenset({ModelStage.PRODUCTION}))
    enforce_four_eyes: bool = True

    @field_validator("versioning", mode="before")
    @classmethod
    def _parse_versioning(cls, value: object) -> object:
        return VersioningStrategy.parse(value) if isinstance(value, str) else value

    @field_validator("approval_required_stages", mode="before")
    @classmethod
    def _parse_stages(cls, value: object) -> object:
        if isinstance(value, str | ModelStage):
            value = [value]
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(ModelStage.parse(s) for s in value)
        return value

    @model_validator(mode="after")
    def _one_root(self) -> Self:
        if self.root and self.bucket_name:
            msg = "give either root or bucket_name, not both"
            raise ValueError(msg)
        return self

    @property
    def root_uri(self) -> str:
        """The resolved root URI or path."""
        if self.root:
            return self.root
        if self.bucket_name:
            return f"gs://{self.bucket_name}/{self.prefix.strip('/')}".rstrip("/")
        return default_root()

    @property
    def uses_default_root(self) -> bool:
        """True when no root was configured (the embedded default, created on demand)."""
        return not self.root and not self.bucket_name


def current_user() -> str:
    """Return who is acting: $MODEL_REGISTRY_USER, else the login name."""
    user = os.environ.get(USER_ENV)
    if user:
        return user
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
