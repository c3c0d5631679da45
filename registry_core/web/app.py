"""The web application: FastAPI with server-rendered pages and a JSON API under /api/v1.

`create_app(config, registry)` wires the registry, the authenticator, the session cookie (with its CSRF token),
the notifier, the routes and the middleware that settles identity and caps bodies before a route reads one
(`middleware`). Registry calls block (files, GCS), so routes are plain functions that FastAPI runs in its thread
pool.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry_core import errors
from registry_core.errors import error_body
from registry_core.notifications.notifier import Notifier, Watcher
from registry_core.registry import ModelRegistry
from registry_core.text import MAX_SHOWN, one_line
from registry_core.web import api, pages
from registry_core.web.auth import Authenticator
from registry_core.web.config import WebConfig
from registry_core.web.deps import API_PREFIX, CSRFError, NotAuthenticatedError, WebState, load_templates, state_of
from registry_core.web.middleware import BodyLimit, RequestGate
from registry_core.web.ratelimit import TooManyAttemptsError
from registry_core.web.sessions import SessionCodec

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

_LISTED_PROBLEMS = 20  # validation problems listed in an error body


def create_app(config: WebConfig | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    """Return the web application.

    Args:
        config: The UI's settings; default: WebConfig.load() (file named by $MODEL_REGISTRY_UI_CONFIG, variables).
        registry: The registry; default: the one `config.registry` names (else the default root).
    """
    config = config or WebConfig.load()
    if registry is None:
        from registry_core.config import RegistryConfig

        registry = ModelRegistry(RegistryConfig(root=config.registry))
    notifier = Notifier(config)
    registry.subscribe(notifier.on_entry)
    state = WebState(
        config=config, registry=registry, auth=Authenticator(config),
        codec=SessionCodec(config.session_secret, config.session_max_age_seconds), notifier=notifier,
        templates=load_templates(),
    )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        notifier.start()
        watcher = None
        if config.watch_interval_seconds > 0 and notifier.sinks:
            watcher = Watcher(registry, notifier, config.watch_interval_seconds)
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()
            notifier.stop(config.drain_timeout_seconds)

    app = FastAPI(
        title="Model registry",
        version="1",
        description="Browse, compare, approve, promote and roll back model versions.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN; the /api page lists the routes instead
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.web = state
    # The last one added runs first: identity (401/429) before the body's size (413), both before a body is read.
    app.add_middleware(BodyLimit, max_bytes=config.max_request_bytes, refuse=refuse)
    app.add_middleware(RequestGate, codec=state.codec, auth=state.auth, refuse=refuse,
                       secure_cookies=config.secure_cookies)  # fmt: skip
    _add_error_handlers(app)

    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def refuse(request: Request, status: int, kind: str, message: str, headers: dict[str, str]) -> Response:
    """Return an error response: the JSON error body under /api/, else the error page (or the sign-in form)."""
    if _wants_json(request):
        if status == 401:
            scheme = "Bearer" if state_of(request).config.auth_mode == "token" else "IAP"
            headers = {**headers, "WWW-Authenticate": f'{scheme} realm="model-registry"'}
        return JSONResponse(error_body(status, kind, message), status_code=status, headers=headers)
    response = pages.sign_in_needed(request, message) if status == 401 else pages.error_page(request, status, message)
    response.headers.update(headers)
    return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.RegistryError)
    async def registry_error(request: Request, exc: errors.RegistryError) -> Response:
        status = exc.http_status
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
        if _wants_json(request):
            return JSONResponse(error_body(status, type(exc).__name__, str(exc)), status_code=status)
        return pages.error_page(request, status, str(exc))

    @app.exception_handler(NotAuthenticatedError)
    async def not_authenticated(request: Request, exc: NotAuthenticatedError) -> Response:
        return refuse(request, 401, "NotAuthenticated", str(exc), {})

    @app.exception_handler(TooManyAttemptsError)
    async def too_many_attempts(request: Request, exc: TooManyAttemptsError) -> Response:
        return refuse(request, 429, "TooManyAttempts", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(CSRFError)
    async def csrf_error(request: Request, exc: CSRFError) -> Response:
        if _wants_json(request):
            return JSONResponse(error_body(403, "CSRFError", str(exc)), status_code=403)
        return pages.error_page(request, 403, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = "ContentTooLarge" if exc.status_code == 413 else "HTTPError"
        return refuse(request, exc.status_code, kind, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        message = one_line(exc)
        if _wants_json(request):
            body = error_body(422, "RequestValidationError", message)
            body["detail"] = _jsonable_errors(exc.errors())
            return JSONResponse(body, status_code=422)
        return pages.error_page(request, 422, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        if _wants_json(request):
            return JSONResponse(error_body(500, "InternalError", "internal error; see the server log"), 500)
        return pages.error_page(request, 500, "internal error; see the server log")


def _jsonable_errors(problems: Any) -> list[dict[str, Any]]:
    return [
        {"loc": [one_line(p, MAX_SHOWN) for p in problem.get("loc", ())], "msg": one_line(problem.get("msg", "")),
         "type": one_line(problem.get("type", ""), MAX_SHOWN)}
        for problem in problems[:_LISTED_PROBLEMS]
    ]  # fmt: skip
