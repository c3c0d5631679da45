"""Server-rendered pages (Jinja2) and their form actions (post, then redirect with a flash message).

Every form carries the session's CSRF token in a hidden field; a post without it is refused with 403. Actions
call the same functions as the API, so a refused action (four-eyes, transition table, stale page) comes back as
a flash message naming the rule.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from registry_core.console import pipeline_run_url
from registry_core.errors import RegistryError
from registry_core.metadata import HistoryAction, ModelStage
from registry_core.text import one_line
from registry_core.web import charts, monitoring, profiles, services
from registry_core.web.auth import CSRF_FIELD, Identity
from registry_core.web.deps import (
    API_PREFIX,
    CSRFError,
    NotAuthenticatedError,
    client_of,
    identity_of,
    session_of,
    state_of,
)
from registry_core.web.middleware import REPORT_POLICY

router = APIRouter(include_in_schema=False)

STAGE_ORDER = list(ModelStage)


# ------------------------------------------------------------------------------------------------- rendering


def _identity_or_none(request: Request) -> Identity | None:
    try:
        return identity_of(request)
    except NotAuthenticatedError:
        return None


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the shared context (identity, CSRF token, flash messages, settings)."""
    state = state_of(request)
    session = session_of(request)
    identity = _identity_or_none(request)
    shared = {
        "identity": identity,
        "may_approve": services.may_approve(state.config, identity),
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf,
        "flashes": session.pop_flashes(),
        "auth_mode": state.config.auth_mode,
        "stages": STAGE_ORDER,
        "path": request.url.path,
        "registry_uri": state.registry.storage.uri,
    }
    return state.templates.TemplateResponse(request, template, shared | context, status_code=status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """Return the error page."""
    titles = {400: "Bad request", 401: "Sign in needed", 403: "Not allowed", 404: "Not found", 409: "Conflict",
              413: "Too large", 422: "Bad request", 429: "Too many attempts"}  # fmt: skip
    return render(request, "error.html", status, title=titles.get(status, "Error"), message=one_line(message))


def sign_in_needed(request: Request, message: str) -> Response:
    """Send a browser without identity to the login form (token mode) or explain (iap mode)."""
    if state_of(request).config.auth_mode == "token" and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={urllib.parse.quote(target)}", status_code=303)
    return error_page(request, 401, message)


def _safe_next(target: str | None, default: str = "/models") -> str:
    """Return `target` if it is a path on this site, else `default` (no open redirects).

    Browsers drop tabs and line breaks anywhere in a URL and read a backslash as a slash, so "/<tab>/evil.com"
    leads to evil.com: judge what is left once those are dropped, and refuse backslashes and anything unprintable.
    """
    cleaned = re.sub(r"[\t\n\r]", "", target or "")
    if not cleaned.startswith("/") or cleaned.startswith("//") or "\\" in cleaned or not cleaned.isprintable():
        return default
    return cleaned


def _stage_or_none(value: str | None) -> ModelStage | None:
    return ModelStage.parse(value) if value else None


def _version_url(name: str, version: str) -> str:
    return f"/models/{urllib.parse.quote(name)}/versions/{urllib.parse.quote(version)}"


# ------------------------------------------------------------------------------------------------ identities


def page_reader(request: Request) -> Identity | None:
    """Allow a page view if the caller may read."""
    identity = identity_of(request)
    if identity is None and not state_of(request).config.allow_anonymous_read:
        raise NotAuthenticatedError
    return identity


def form_writer(request: Request, csrf_token: Annotated[str, Form()] = "") -> Identity:
    """Return the caller of a form post; refuse a post without the session's CSRF token."""
    if not session_of(request).csrf_matches(csrf_token):
        msg = "this form expired or came from another site (missing or wrong CSRF token); reload the page and retry"
        raise CSRFError(msg)
    identity = identity_of(request)
    if identity is None:
        raise NotAuthenticatedError
    return identity


PageReader = Annotated[Identity | None, Depends(page_reader)]
FormWriter = Annotated[Identity, Depends(form_writer)]


def _act(request: Request, action: Callable[[], services.ActionResult], back: str) -> RedirectResponse:
    session = session_of(request)
    try:
        session.flash("ok", action().message)
    except RegistryError as exc:
        session.flash("error", str(exc))
    return RedirectResponse(back, status_code=303)


# ------------------------------------------------------------------------------------------------------ pages


@router.get("/")
def home() -> RedirectResponse:
    """Go to the models."""
    return RedirectResponse("/models", status_code=303)


@router.get("/models")
def models_page(request: Request, _: PageReader, q: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    """The models, with their latest version per stage."""
    models = services.list_models(state_of(request).registry, q)
    return render(request, "models.html", title="Models", models=models, q=q)


@router.get("/models/{name}")
def model_page(
    request: Request,
    name: str,
    _: PageReader,
    stage: str = "",
    tag: str = "",
    registered_by: str = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """A model: its versions with stage badges, metrics, tags and who registered them."""
    registry = state_of(request).registry
    detail = services.model_detail(registry, name)
    shown = services.filter_versions(
        detail.versions, stage=_stage_or_none(stage), tag=tag or None, registered_by=registered_by or None, query=q
    )
    endpoints = [e.name for e in registry.list_endpoints() if any(d.model_name == name for d in e.deployments)]
    return render(
        request, "model.html", title=name, model=detail, versions=shown,
        metrics=services.metric_names(detail.versions, 4),
        filters={"stage": stage, "tag": tag, "registered_by": registered_by, "q": q},
        registrants=sorted({m.registered_by for m in detail.versions}), endpoints=endpoints,
    )  # fmt: skip


@router.get("/models/{name}/versions/{version}")
def version_page(request: Request, name: str, version: str, _: PageReader) -> HTMLResponse:
    """One version: metadata, lineage, training data, manifest, approvals, requests, deployments, history, actions."""
    state = state_of(request)
    registry = state.registry
    metadata = registry.get_model_metadata(name, version)
    history = [e for e in registry.history(name) if e.version == metadata.version]
    targets = services.allowed_targets(metadata)
    gated = set(state.registry.config.approval_required_stages)
    pending = [r for r in metadata.promotion_requests if r.status == "pending"]
    return render(
        request, "version.html", title=f"{name} {metadata.version}", m=metadata, history=list(reversed(history)),
        targets=targets, gated=gated, pending=pending, request_targets=[t for t in targets if t in gated],
        approve_targets=[t for t in targets if t in gated], run_url=pipeline_run_url(metadata.lineage.pipeline_run),
        profile=profiles.profile_section(registry, metadata),
    )  # fmt: skip


@router.get("/models/{name}/compare")
def compare_page(
    request: Request, name: str, _: PageReader, versions: Annotated[list[str] | None, Query()] = None
) -> HTMLResponse:
    """Compare 2-5 versions: a metrics table and a chart."""
    registry = state_of(request).registry
    all_versions = list(reversed(registry.list_versions(name)))
    wanted = [v for v in versions or [] if v]
    context: dict[str, Any] = {"title": f"Compare {name}", "name": name, "all_versions": all_versions,
                               "selected": wanted, "comparison": None, "chart": None, "problem": None}  # fmt: skip
    if wanted:
        try:
            chosen = services.compare_versions(wanted)
            comparison = registry.compare_models(name, chosen)
        except RegistryError as exc:
            context["problem"] = str(exc)
        else:
            by_label = {m.version: m for m in all_versions}
            context |= {"comparison": comparison, "chart": charts.comparison_chart(comparison),
                        "chosen": [by_label[v] for v in comparison.versions if v in by_label]}  # fmt: skip
    return render(request, "compare.html", **context)


@router.get("/models/{name}/history")
def model_history_page(
    request: Request, name: str, reader: PageReader, action: str = "", version: str = ""
) -> Response:
    """A model's history timeline."""
    return history_page(request, reader, model=name, action=action, version=version)


@router.get("/history")
def history_page(request: Request, _: PageReader, model: str = "", action: str = "", version: str = "") -> Response:
    """The history timeline of every model (newest first)."""
    registry = state_of(request).registry
    kind = HistoryAction(action) if action in {a.value for a in HistoryAction} else None
    entries = services.timeline(registry, model=model or None, version=version or None, action=kind, limit=300)
    return render(
        request, "history.html", title=f"History of {model}" if model else "History", entries=entries,
        model=model, action=action, version=version, actions=[a.value for a in HistoryAction],
        models=registry.list_models(),
    )  # fmt: skip


@router.get("/approvals")
def approvals_page(request: Request, _: PageReader) -> HTMLResponse:
    """Promotion requests waiting for an approver."""
    found = services.pending(state_of(request).registry)
    return render(request, "approvals.html", title="Pending approvals", pending=found)


@router.get("/endpoints")
def endpoints_page(request: Request, _: PageReader) -> HTMLResponse:
    """Endpoints: what serves and the traffic split."""
    records = state_of(request).registry.list_endpoints()
    rows = []
    for record in records:
        labels = {d.id: f"{d.model_name} {d.version}" for d in record.deployments}
        rows.append((record, charts.traffic_bar(record, labels), labels))
    return render(request, "endpoints.html", title="Endpoints", rows=rows)


@router.get("/endpoints/{endpoint}")
def endpoint_page(request: Request, endpoint: str, _: PageReader) -> HTMLResponse:
    """One endpoint: deployments, traffic and history."""
    record = state_of(request).registry.get_endpoint(endpoint)
    labels = {d.id: f"{d.model_name} {d.version}" for d in record.deployments}
    bar = charts.traffic_bar(record, labels, 480)
    return render(
        request, "endpoint.html", title=f"Endpoint {record.name}", e=record, bar=bar, labels=labels,
        history=list(reversed(record.history)),
    )  # fmt: skip


@router.get("/endpoints/{endpoint}/monitoring")
def monitoring_page(request: Request, endpoint: str, _: PageReader) -> HTMLResponse:
    """An endpoint's monitoring: the latest verdict, drift per feature, charts over time, each run's report."""
    registry = state_of(request).registry
    runs = monitoring.endpoint_runs(registry, endpoint)
    page = monitoring.monitoring_page(runs)
    return render(request, "monitoring.html", title=f"Monitoring {endpoint}", endpoint=endpoint, page=page)


@router.get("/endpoints/{endpoint}/monitoring/reports/{name}")
def monitoring_report(request: Request, endpoint: str, name: str, _: PageReader) -> HTMLResponse:
    """One monitoring run's HTML report, as the monitor wrote it."""
    page = monitoring.read_report(state_of(request).registry, endpoint, name)
    return HTMLResponse(page, headers={"content-security-policy": REPORT_POLICY})


@router.get("/api")
def api_page(request: Request, _: PageReader) -> HTMLResponse:
    """The REST API's routes (the OpenAPI schema is at /api/v1/openapi.json)."""
    schema = request.app.openapi()
    routes = [
        (method.upper(), path, operation.get("summary", ""), (operation.get("description") or "").split("\n")[0])
        for path, operations in schema.get("paths", {}).items()
        for method, operation in operations.items()
    ]
    return render(request, "api.html", title="REST API", routes=routes, schema_url=f"{API_PREFIX}/openapi.json")


# ------------------------------------------------------------------------------------------------ sign in


@router.get("/login")
def login_page(request: Request, next: str = "/models") -> HTMLResponse:  # noqa: A002 - the usual parameter name
    """The token form (token mode) or who IAP says you are (iap mode)."""
    return render(request, "login.html", title="Sign in", next=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=4096)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/models",  # noqa: A002 - the usual parameter name
) -> Response:
    """Check the token and start a session (a sign-in the server holds, tied to this token)."""
    state, session = state_of(request), session_of(request)
    if not session.csrf_matches(csrf_token):
        msg = "the sign-in form expired; reload the page and retry"
        raise CSRFError(msg)
    user = state.auth.sign_in(token.strip(), session, client_of(request))
    if user is None:
        session.flash("error", "unknown token")
        return render(request, "login.html", 401, title="Sign in", next=_safe_next(next))
    session.flash("ok", f"signed in as {user}")
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    """End the session on the server, so that copies of its cookie end too."""
    session = session_of(request)
    if not session.csrf_matches(csrf_token):
        msg = "the sign-out form expired; reload the page and retry"
        raise CSRFError(msg)
    state_of(request).auth.sign_out(session)
    session.flash("ok", "signed out")
    return RedirectResponse("/login", status_code=303)


# ------------------------------------------------------------------------------------------------ actions


def _stage_form(action: services.StageAction) -> Callable[..., RedirectResponse]:
    """Return the form action of one stage decision; it goes back to `next` (a path here) or the version."""

    def decide(
        request: Request,
        name: str,
        version: str,
        identity: FormWriter,
        stage: Annotated[str, Form()] = "",
        comment: Annotated[str, Form(max_length=2000)] = "",
        next: Annotated[str, Form()] = "",  # noqa: A002 - the usual parameter name
    ) -> RedirectResponse:
        state = state_of(request)

        def act() -> services.ActionResult:
            body = services.StageBody(stage=ModelStage.parse(stage), comment=comment)
            return action(state.registry, state.config, identity, name, version, body)

        return _act(request, act, _safe_next(next, _version_url(name, version)))

    return decide


for _path, _action in (("request-promotion", services.request_promotion), ("approve", services.approve),
                       ("reject", services.reject)):  # fmt: skip
    router.post(f"/models/{{name}}/versions/{{version}}/{_path}", name=f"{_action.__name__}_form")(_stage_form(_action))


@router.post("/models/{name}/versions/{version}/promote")
def promote_form(
    request: Request,
    name: str,
    version: str,
    identity: FormWriter,
    stage: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    expected_stage: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Move a version to a stage."""
    registry = state_of(request).registry
    return _act(
        request,
        lambda: services.promote(
            registry, identity, name, version, ModelStage.parse(stage), reason, _stage_or_none(expected_stage)
        ),  # fmt: skip
        _version_url(name, version),
    )


@router.post("/models/{name}/rollback")
def rollback_form(
    request: Request,
    name: str,
    identity: FormWriter,
    to_version: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    endpoint_name: Annotated[str, Form(max_length=128)] = "",
) -> RedirectResponse:
    """Roll production back."""
    registry = state_of(request).registry
    body = services.RollbackBody(to_version=to_version or None, reason=reason, endpoint_name=endpoint_name or None)
    back = f"/models/{urllib.parse.quote(name)}"
    return _act(request, lambda: services.rollback(registry, identity, name, body), back)
