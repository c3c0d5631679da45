"""registry_core: a model registry for ML teams on Google Cloud (local folder or GCS, Vertex AI serving).

Quick start::

    from registry_core import ModelRegistry, ModelStage
    registry = ModelRegistry()                      # the embedded local registry
    v = registry.register_model("churn", "export/saved_model", metrics={"accuracy": 0.91})
    registry.promote_model("churn", v.version, ModelStage.VALIDATION)
"""

from registry_core.comparison import ModelComparison
from registry_core.config import RegistryConfig
from registry_core.deploy import DeployedModel, DeploymentTarget, EndpointList, EndpointRecord, Prediction
from registry_core.deploy.canary import CanaryContext, HealthCheck, HealthReport
from registry_core.documents import AsOf, VersionList, VersionSummary
from registry_core.endpoints import CanaryResult, ReconcileResult
from registry_core.errors import (
    ApprovalError,
    ApprovalRequiredError,
    ArtifactIntegrityError,
    ConcurrentModificationError,
    ConflictError,
    CorruptRecordError,
    DependencyMissingError,
    DeploymentError,
    EndpointNotFoundError,
    IntegrityError,
    InvalidInputError,
    InvalidNameError,
    InvalidStageError,
    InvalidTransitionError,
    InvalidVersionError,
    LifecycleError,
    ModelNotFoundError,
    NotFoundError,
    NotServingError,
    OverLimitError,
    PredictionError,
    RegionMismatchError,
    RegistryError,
    RegistryRootNotFoundError,
    ServingImageMissingError,
    StorageError,
    VersionConflictError,
    VersionNotFoundError,
)
from registry_core.lifecycle.stages import ALLOWED_TRANSITIONS
from registry_core.maintenance import CheckReport
from registry_core.metadata import (
    Approval,
    FileEntry,
    HistoryAction,
    HistoryEntry,
    HistoryList,
    Lineage,
    ModelMetadata,
    ModelPerformance,
    ModelStage,
    StageChange,
    VersionDeployment,
)
from registry_core.registry import ModelRegistry
from registry_core.version import __version__ as __version__
from registry_core.versioning import VersioningStrategy

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Approval",
    "ApprovalError",
    "ApprovalRequiredError",
    "ArtifactIntegrityError",
    "AsOf",
    "CanaryContext",
    "CanaryResult",
    "CheckReport",
    "ConcurrentModificationError",
    "ConflictError",
    "CorruptRecordError",
    "DependencyMissingError",
    "DeployedModel",
    "DeploymentError",
    "DeploymentTarget",
    "EndpointList",
    "EndpointNotFoundError",
    "EndpointRecord",
    "FileEntry",
    "HealthCheck",
    "HealthReport",
    "HistoryAction",
    "HistoryEntry",
    "HistoryList",
    "IntegrityError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidStageError",
    "InvalidTransitionError",
    "InvalidVersionError",
    "LifecycleError",
    "Lineage",
    "ModelComparison",
    "ModelMetadata",
    "ModelNotFoundError",
    "ModelPerformance",
    "ModelRegistry",
    "ModelStage",
    "NotFoundError",
    "NotServingError",
    "OverLimitError",
    "Prediction",
    "PredictionError",
    "ReconcileResult",
    "RegionMismatchError",
    "RegistryConfig",
    "RegistryError",
    "RegistryRootNotFoundError",
    "ServingImageMissingError",
    "StageChange",
    "StorageError",
    "VersionConflictError",
    "VersionDeployment",
    "VersionList",
    "VersionNotFoundError",
    "VersionSummary",
    "VersioningStrategy",
]
