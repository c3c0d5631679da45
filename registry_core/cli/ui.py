"""The `ui` command: run the web UI and REST API (needs the [ui] extra, imported only when the command runs)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Optional

import typer

from registry_core.cli._context import registry_uri
from registry_core.cli._output import echo
from registry_core.errors import DependencyMissingError

commands = typer.Typer()


@commands.command("ui")
def ui(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    config: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option("--config", "-c", help="TOML or JSON settings (default: $MODEL_REGISTRY_UI_CONFIG)."),
    ] = None,
) -> None:
    """Run the web UI and REST API: browse, compare, approve, promote and roll back in a browser."""
    from registry_core.config import current_user
    from registry_core.web.config import WebConfig

    settings = WebConfig.load(config)
    if registry_uri() is not None:
        settings = settings.model_copy(update={"registry": registry_uri()})
    if settings.base_url == WebConfig.model_fields["base_url"].default and (host, port) != ("127.0.0.1", 8080):
        settings = settings.model_copy(update={"base_url": f"http://{host}:{port}"})
    note = ""
    if settings.auth_mode == "token" and not settings.all_tokens():
        token = secrets.token_urlsafe(18)  # local use without a config: one token, printed once, for this run
        settings = settings.model_copy(update={"tokens": {token: current_user()}})
        note = f"sign in as {current_user()} with the token {token} (configure tokens to add other users)"
    try:
        import uvicorn

        from registry_core.web.app import create_app
    except ImportError as exc:
        msg = f"the web UI needs its extra: pip install 'registry-core[ui]' ({exc.name} is missing)"
        raise DependencyMissingError(msg) from exc
    web_app = create_app(settings)
    echo(f"model registry UI on http://{host}:{port} (registry {web_app.state.web.registry.storage.uri})")
    if note:
        echo(note)
    # Client addresses count wrong tokens; uvicorn takes them from X-Forwarded-For only when it comes from a proxy
    # in FORWARDED_ALLOW_IPS (default: 127.0.0.1), so a client cannot pick its own.
    uvicorn.run(web_app, host=host, port=port, log_level="info", proxy_headers=True)
