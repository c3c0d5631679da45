"""The JSON REST API under /api/v1 (its OpenAPI schema: /api/v1/openapi.json).

Reads need an identity unless ``allow_anonymous_read`` is on; changes always do: ``Authorization: Bearer TOKEN``
(token mode) or the ``x-goog-iap-jwt-assertion`` header that IAP adds (iap mode). A browser calling with its
session cookie instead must send the session's CSRF token in ``X-CSRF-Token``. Bodies are JSON only, which a
cross-site form cannot send. Errors are ``{"error": {"code", "type", "message"}}`` with a 4xx status for anything
the caller can fix.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from registry_core.arguments import NAME_PATTERN
from registry_core.comparison import ModelComparison
from registry_core.deploy import EndpointRecord
from registry_core.documents import VersionSummary
from registry_core.metadata import HistoryAction, HistoryEntry, ModelMetadata, ModelStage
from registry_core.monitoring.profile_view import ProfileView, profile_view
from registry_core.web import monitoring, services
from registry_core.web.auth import CSRF_HEADER, Identity
from registry_core.web.config import IAP_HEADER
from registry_core.web.deps import CSRFError, NotAuthenticatedError, identity_of, session_of, state_of

_bearer = HTTPBearer(auto_error=False, description="Token mode: a configured token.")
_iap = APIKeyHeader(name=IAP_HEADER, auto_error=False, description="IAP mode: the assertion IAP adds.")


class ErrorDetail(BaseModel):
    """What went wrong.

    Attributes:
        code: HTTP status.
        type: Error class, e.g. "InvalidTransitionError".
        message: One line for a person.
    """

    code: int
    type: str
    message: str


class ErrorBody(BaseModel):
    """An error answer.

    Attributes:
        error: The error.
    """

    model_config = ConfigDict(extra="allow")

    error: ErrorDetail


class WhoAmI(BaseModel):
    """The caller.

    Attributes:
        name: Identity recorded on changes.
        via: "iap", "bearer" or "session".
        may_approve: Whether the configured approvers include the caller.
    """

    name: str
    via: str
    may_approve: bool


class Health(BaseModel):
    """Service health.

    Attributes:
        status: "ok".
        notifications: Counters of queued, delivered, failed and dropped notifications.
    """

    status: str
    notifications: dict[str, int]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def reader(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    _assertion: Annotated[str | None, Security(_iap)],
) -> Identity | None:
    """Allow the request if it may read; return the caller (None when anonymous reading is on)."""
    identity = identity_of(request)
    if identity is None and not state_of(request).config.allow_anonymous_read:
        raise NotAuthenticatedError
    return identity


def caller(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    _assertion: Annotated[str | None, Security(_iap)],
) -> Identity:
    """Return the caller of a read that needs an identity."""
    identity = identity_of(request)
    if identity is None:
        raise NotAuthenticatedError
    return identity


def writer(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    _assertion: Annotated[str | None, Security(_iap)],
) -> Identity:
    """Return the caller of a change; a browser session must also send its CSRF token in X-CSRF-Token."""
    identity = identity_of(request)
    if identity is None:
        raise NotAuthenticatedError
    if identity.via == "session" and not session_of(request).csrf_matches(request.headers.get(CSRF_HEADER)):
        msg = f"missing or wrong {CSRF_HEADER} header"
        raise CSRFError(msg)
    return identity


Reader = Annotated[Identity | None, Depends(reader)]
Caller = Annotated[Identity, Depends(caller)]
Writer = Annotated[Identity, Depends(writer)]

ModelName = Annotated[str, Path(pattern=f"^{NAME_PATTERN.pattern}$", max_length=63, description="Model name.")]
VersionLabel = Annotated[
    str, Path(pattern=f"^{services.VERSION_PATTERN}$", description="Version label, e.g. v3 or v1.2.0.")
]
ModelFilter = Annotated[str | None, Query(pattern=f"^{NAME_PATTERN.pattern}$", description="Only this model.")]
EndpointName = Annotated[str, Path(pattern=f"^{NAME_PATTERN.pattern}$", max_length=63, description="Endpoint name.")]

router = APIRouter(responses=_errors(400, 401, 404, 413, 422, 429))


@router.get("/health", response_model=Health, tags=["service"])
def health(request: Request) -> Health:
    """Say the service is up (no identity needed)."""
    state = state_of(request)
    counts = {key: state.notifier.stats.get(key, 0) for key in ("queued", "delivered", "failed", "dropped")}
    return Health(status="ok", notifications=counts)


@router.get("/whoami", response_model=WhoAmI, tags=["service"])
def whoami(request: Request, identity: Caller) -> WhoAmI:
    """Return the caller's identity."""
    return WhoAmI(
        name=identity.name, via=identity.via, may_approve=services.may_approve(state_of(request).config, identity)
    )


@router.get("/models", response_model=list[services.ModelSummary], tags=["models"])
def list_models(
    request: Request, _: Reader, q: Annotated[str, Query(max_length=200, description="Search text.")] = ""
) -> list[services.ModelSummary]:
    """List models with their latest version per stage (optionally only those matching `q`)."""
    return services.list_models(state_of(request).registry, q)


@router.get("/models/{name}", response_model=services.ModelDetail, tags=["models"])
def get_model(request: Request, name: ModelName, _: Reader) -> services.ModelDetail:
    """Return a model with every version, newest first."""
    return services.model_detail(state_of(request).registry, name)


@router.get("/models/{name}/versions", response_model=list[VersionSummary], tags=["models"])
def list_versions(
    request: Request,
    name: ModelName,
    _: Reader,
    stage: ModelStage | None = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    registered_by: Annotated[str | None, Query(max_length=256)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> list[VersionSummary]:
    """List a model's versions (ordered by label), filtered by stage, tag, registrant or text."""
    versions = state_of(request).registry.list_versions(name)
    return services.filter_versions(versions, stage=stage, tag=tag, registered_by=registered_by, query=q)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, tags=["models"])
def get_version(request: Request, name: ModelName, version: VersionLabel, _: Reader) -> ModelMetadata:
    """Return one version's metadata: metrics, lineage, manifest, approvals, requests, deployments."""
    return state_of(request).registry.get_model_metadata(name, version)


@router.get("/models/{name}/versions/{version}/data-profile", response_model=ProfileView, tags=["models"])
def data_profile(request: Request, name: ModelName, version: VersionLabel, _: Reader) -> ProfileView:
    """Return the profile of the data a version was trained on: a summary and a row per feature.

    Each row has the feature's type, counts, statistics (numbers: min, mean, std, median, max, histogram; strings:
    distinct values and the 5 most frequent with their shares) and what the schema allows. 404 if the version was
    registered without a profile.
    """
    registry = state_of(request).registry
    return profile_view(registry.get_data_profile(name, version), model=name, version=version)


@router.get("/models/{name}/history", response_model=list[HistoryEntry], tags=["history"])
def model_history(
    request: Request,
    name: ModelName,
    _: Reader,
    version: Annotated[str | None, Query(max_length=64)] = None,
    action: HistoryAction | None = None,
) -> list[HistoryEntry]:
    """Return a model's history, oldest first (optionally of one version or one kind of action)."""
    entries = state_of(request).registry.history(name)
    return [e for e in entries if (version is None or e.version == version) and (action is None or e.action is action)]


@router.get("/models/{name}/compare", response_model=ModelComparison, tags=["models"])
def compare(
    request: Request,
    name: ModelName,
    _: Reader,
    versions: Annotated[
        list[str],
        Query(
            description="Two to five distinct versions.",
            min_length=2,
            max_length=5,
            json_schema_extra={"uniqueItems": True},
        ),
    ],
    metrics: Annotated[list[str] | None, Query(description="Only these metrics.", max_length=50)] = None,
) -> ModelComparison:
    """Compare the metrics of 2-5 versions side by side (the best value of each metric is named)."""
    registry = state_of(request).registry
    chosen = services.compare_versions(versions)
    return registry.compare_models(name, chosen, metrics or None)


@router.get("/history", response_model=list[services.TimelineEntry], tags=["history"])
def history(
    request: Request,
    _: Reader,
    model: ModelFilter = None,
    action: HistoryAction | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[services.TimelineEntry]:
    """Return the newest history entries of every model (or one), newest first."""
    return services.timeline(state_of(request).registry, model=model or None, action=action, limit=limit)


@router.get("/approvals/pending", response_model=list[services.PendingRequest], tags=["approvals"])
def pending(request: Request, _: Reader, model: ModelFilter = None) -> list[services.PendingRequest]:
    """Return the promotion requests waiting for an approver, oldest first."""
    return services.pending(state_of(request).registry, model or None)


@router.get("/endpoints", response_model=list[EndpointRecord], tags=["endpoints"])
def endpoints(request: Request, _: Reader) -> list[EndpointRecord]:
    """Return every endpoint: deployments, traffic split and history."""
    return state_of(request).registry.list_endpoints()


@router.get("/endpoints/{endpoint}", response_model=EndpointRecord, tags=["endpoints"])
def endpoint(request: Request, endpoint: EndpointName, _: Reader) -> EndpointRecord:
    """Return one endpoint."""
    return state_of(request).registry.get_endpoint(endpoint)


@router.get("/endpoints/{endpoint}/monitoring", response_model=list[monitoring.RunSummary], tags=["monitoring"])
def endpoint_monitoring(
    request: Request,
    endpoint: EndpointName,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=monitoring.MAX_RUNS, description="The newest this many runs.")] = (
        monitoring.DEFAULT_RUNS
    ),
) -> list[monitoring.RunSummary]:
    """Return the summaries of an endpoint's monitoring runs, oldest first (`model-registry monitor --json`).

    A summary that cannot be read is left out.
    """
    return monitoring.endpoint_runs(state_of(request).registry, endpoint, limit)


# ----------------------------------------------------------------------------------------------------- changes

_CHANGE_ERRORS = _errors(403, 409)


# The three stage decisions share their route: (path, the view doing it, the operation's description).
_STAGE_ACTIONS: list[tuple[str, services.StageAction, str]] = [
    ("promotion-requests", services.request_promotion,
     "Ask for a promotion; approval-gated stages wait for an approver, others are promoted to at once."),
    ("approvals", services.approve,
     "Approve a version for a stage (not your own: four-eyes); a pending request then proceeds."),
    ("rejections", services.reject, "Reject the pending request to move a version to a stage."),
]  # fmt: skip


def _stage_route(path: str, action: services.StageAction, description: str) -> None:
    """Add the POST route of one stage decision (named after its view, as its operation id and summary are)."""

    def decide(
        request: Request, name: ModelName, version: VersionLabel, body: services.StageBody, identity: Writer
    ) -> services.ActionResult:
        state = state_of(request)
        return action(state.registry, state.config, identity, name, version, body)

    router.post(
        f"/models/{{name}}/versions/{{version}}/{path}", response_model=services.ActionResult, tags=["approvals"],
        responses=_CHANGE_ERRORS, name=action.__name__, description=description,
    )(decide)  # fmt: skip


for _path, _action, _description in _STAGE_ACTIONS:
    _stage_route(_path, _action, _description)


@router.post(
    "/models/{name}/versions/{version}/promote",
    response_model=services.ActionResult, tags=["lifecycle"], responses=_CHANGE_ERRORS,
)  # fmt: skip
def promote(
    request: Request, name: ModelName, version: VersionLabel, body: services.PromoteBody, identity: Writer
) -> services.ActionResult:
    """Move a version to a stage (the transition table applies; approval-gated stages need an approval)."""
    return services.promote(
        state_of(request).registry, identity, name, version, body.stage, body.reason, body.expected_stage
    )


@router.post("/models/{name}/rollback", response_model=services.ActionResult, tags=["lifecycle"],
             responses=_CHANGE_ERRORS)  # fmt: skip
def rollback(request: Request, name: ModelName, body: services.RollbackBody, identity: Writer) -> services.ActionResult:
    """Put production back on the previous (or given) version, and on an endpoint's traffic if named."""
    return services.rollback(state_of(request).registry, identity, name, body)
