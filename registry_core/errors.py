"""Exceptions raised by registry_core, and what each face makes of them.

Every error the library raises on purpose derives from ``RegistryError``, so callers can catch one class. Each class
carries its CLI exit code and its HTTP status (a subclass inherits both unless it sets its own): the CLI
exits with ``exit_code``, the web UI/API and the prediction server answer ``http_status`` with `error_body`,
``{"error": {"code": <HTTP status>, "type": <class name>, "message": <one line>}}``. Messages quote what a caller
passed with ``text.shown``, and are never longer than ``MAX_ERROR_MESSAGE`` characters (a longer one is cut when
the error is made).

    class                                                             exit  HTTP
    RegistryError                                                     1     500
    ├─ InvalidInputError                                              2     400
    │  ├─ InvalidNameError, InvalidStageError                         2     400
    │  ├─ OverLimitError (more than a server takes an hour)           2     429
    │  └─ InvalidVersionError (no version has that label)             2     404
    ├─ NotFoundError                                                  3     404
    │  └─ ModelNotFoundError, VersionNotFoundError,
    │     RegistryRootNotFoundError, EndpointNotFoundError            3     404
    ├─ ConflictError                                                  4     409
    │  └─ VersionConflictError, ConcurrentModificationError           4     409
    ├─ LifecycleError                                                 5     409
    │  ├─ InvalidTransitionError, ApprovalRequiredError               5     409
    │  └─ ApprovalError (four-eyes, not an approver)                  5     403
    ├─ IntegrityError                                                 6     500
    │  └─ ArtifactIntegrityError, CorruptRecordError                  6     500
    ├─ StorageError (the backend's error chained with ``from``)       7     503
    ├─ DependencyMissingError (an extra such as [tf] is missing)      8     501
    └─ DeploymentError (a deployment target failed)                   9     502
       ├─ RegionMismatchError                                         9     502
       ├─ ServingImageMissingError (no default serving image)         9     502
       ├─ NotServingError (nothing can serve the request)             9     503
       └─ PredictionError (the model failed on valid input)           9     500

Refusals that are not registry errors use the same body with these types: "HTTPError" (a route, method or
protocol refused), "ContentTooLarge" (413), "InternalError" (500, an unexpected failure; details go to the log) and,
in the web UI, "NotAuthenticated" (401), "CSRFError" (403), "RequestValidationError" (422), "TooManyAttempts" (429).
"""

from __future__ import annotations

from typing import Any

from registry_core.text import one_line

MAX_ERROR_MESSAGE = 1000


def error_body(status: int, kind: str, message: object) -> dict[str, Any]:
    """Return the JSON error body every HTTP face answers with (the message on one bounded line).

    Args:
        status: The HTTP status, repeated in the body.
        kind: The error's class name (or one of the types named in this module's docstring).
        message: What went wrong, for a person.
    """
    return {"error": {"code": status, "type": kind, "message": one_line(message)}}


class RegistryError(Exception):
    """Root of every error raised by registry_core."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, *args: object) -> None:
        # The last guard of the bound: messages that embed a backend's or a document's text may still grow.
        if len(args) == 1 and isinstance(args[0], str) and len(args[0]) > MAX_ERROR_MESSAGE:
            args = (one_line(args[0], MAX_ERROR_MESSAGE),)
        super().__init__(*args)


class InvalidInputError(RegistryError, ValueError):
    """An argument is malformed (name, version, stage, metric, path...)."""

    exit_code = 2
    http_status = 400


class InvalidNameError(InvalidInputError):
    """A model or endpoint name does not match the allowed pattern."""


class OverLimitError(InvalidInputError):
    """More than a server keeps per hour (feedback items over its hourly cap): send the rest in a later hour."""

    http_status = 429


class InvalidVersionError(InvalidInputError):
    """A version label is malformed or does not fit the model's versioning strategy."""

    http_status = 404


class InvalidStageError(InvalidInputError):
    """A stage name is not one of the lifecycle stages."""


class NotFoundError(RegistryError, LookupError):
    """Something that was asked for does not exist."""

    exit_code = 3
    http_status = 404


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
    http_status = 409


class VersionConflictError(ConflictError):
    """The requested version label is already taken."""


class ConcurrentModificationError(ConflictError):
    """A compare-and-swap kept losing to other writers until the retry budget ran out."""


class LifecycleError(RegistryError):
    """A lifecycle rule refused the operation."""

    exit_code = 5
    http_status = 409


class InvalidTransitionError(LifecycleError):
    """The stage change is not in the transition table."""


class ApprovalRequiredError(LifecycleError):
    """The target stage needs an approval that the version does not have."""


class ApprovalError(LifecycleError):
    """An approval was refused (e.g. the approver registered the version)."""

    http_status = 403


class IntegrityError(RegistryError):
    """Stored data does not match what was recorded."""

    exit_code = 6
    http_status = 500


class ArtifactIntegrityError(IntegrityError):
    """An artifact file is missing, extra or differs from its manifest digest."""


class CorruptRecordError(IntegrityError):
    """A metadata record cannot be parsed or fails validation."""


class StorageError(RegistryError):
    """The storage backend failed (I/O error, permission, network)."""

    exit_code = 7
    http_status = 503


class DependencyMissingError(RegistryError):
    """An optional dependency needed for this operation is not installed."""

    exit_code = 8
    http_status = 501


class DeploymentError(RegistryError):
    """A deployment target failed or cannot serve the request."""

    exit_code = 9
    http_status = 502


class RegionMismatchError(DeploymentError):
    """A resource is in a region the operation cannot use (e.g. model artifacts outside the Vertex AI region)."""


class ServingImageMissingError(DeploymentError):
    """The project's serving image, which a deploy would use by default, is not published where it would be pulled."""


class NotServingError(DeploymentError):
    """Nothing can serve the request: no deployed model gets traffic, or the one chosen could not be loaded."""

    http_status = 503


class PredictionError(DeploymentError):
    """A served model failed on valid input."""

    http_status = 500
