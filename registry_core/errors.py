"""Exceptions raised by registry_core.

Every error the library raises on purpose derives from ``RegistryError``, so callers
can catch one class; the CLI turns each into a one-line message and an exit code.
Messages quote what a caller passed with ``text.shown``, and are never longer than
``MAX_ERROR_MESSAGE`` characters (a longer one is cut when the error is made).

* RegistryError
  * InvalidInputError           - InvalidNameError, InvalidVersionError, InvalidStageError
  * NotFoundError               - ModelNotFoundError, VersionNotFoundError, RegistryRootNotFoundError,
                                  EndpointNotFoundError
  * ConflictError               - VersionConflictError, ConcurrentModificationError
  * LifecycleError              - InvalidTransitionError, ApprovalRequiredError, ApprovalError
  * IntegrityError              - ArtifactIntegrityError, CorruptRecordError
  * StorageError                (backend failures; the SDK error is chained with ``from``)
  * DependencyMissingError      (an optional extra such as [tf] is not installed)
  * DeploymentError             - RegionMismatchError
"""

from __future__ import annotations

from registry_core.text import one_line

MAX_ERROR_MESSAGE = 1000


class RegistryError(Exception):
    """Root of every error raised by registry_core."""

    exit_code: int = 1

    def __init__(self, *args: object) -> None:
        # The last guard of the bound: messages that embed a backend's or a document's text may still grow.
        if len(args) == 1 and isinstance(args[0], str) and len(args[0]) > MAX_ERROR_MESSAGE:
            args = (one_line(args[0], MAX_ERROR_MESSAGE),)
        super().__init__(*args)


class InvalidInputError(RegistryError, ValueError):
    """An argument is malformed (name, version, stage, metric, path...)."""

    exit_code = 2


class InvalidNameError(InvalidInputError):
    """A model or endpoint name does not match the allowed pattern."""


class InvalidVersionError(InvalidInputError):
    """A version label is malformed or does not fit the model's versioning strategy."""


class InvalidStageError(InvalidInputError):
    """A stage name is not one of the lifecycle stages."""


class NotFoundError(RegistryError, LookupError):
    """Something that was asked for does not exist."""

    exit_code = 3


class ModelNotFoundError(NotFoundError):
    """No model with this name is registered."""


class VersionNotFoundError(NotFoundError):
    """The model exists but has no such version (or no version in that stage)."""


class RegistryRootNotFoundError(NotFoundError):
    """The registry root (folder or bucket) does not exist."""


class EndpointNotFoundError(NotFoundError):
    """No endpoint with this name has a record."""


class ConflictError(RegistryError):
    """A conditional write lost: the target exists or changed since it was read."""

    exit_code = 4


class VersionConflictError(ConflictError):
    """The requested version label is already taken."""


class ConcurrentModificationError(ConflictError):
    """A compare-and-swap kept losing to other writers until the retry budget ran out."""


class LifecycleError(RegistryError):
    """A lifecycle rule refused the operation."""

    exit_code = 5


class InvalidTransitionError(LifecycleError):
    """The stage change is not in the transition table."""


class ApprovalRequiredError(LifecycleError):
    """The target stage needs an approval that the version does not have."""


class ApprovalError(LifecycleError):
    """An approval was refused (e.g. the approver registered the version)."""


class IntegrityError(RegistryError):
    """Stored data does not match what was recorded."""

    exit_code = 6


class ArtifactIntegrityError(IntegrityError):
    """An artifact file is missing, extra or differs from its manifest digest."""


class CorruptRecordError(IntegrityError):
    """A metadata record cannot be parsed or fails validation."""


class StorageError(RegistryError):
    """The storage backend failed (I/O error, permission, network)."""

    exit_code = 7


class DependencyMissingError(RegistryError):
    """An optional dependency needed for this operation is not installed."""

    exit_code = 8


class DeploymentError(RegistryError):
    """A deployment target failed or cannot serve the request."""

    exit_code = 9


class RegionMismatchError(DeploymentError):
    """A resource is in a region the operation cannot use (e.g. model artifacts outside the Vertex AI region)."""
