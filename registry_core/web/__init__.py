"""The web UI and REST API of the registry (`model-registry ui`); needs the [ui] extra.

Importing this package imports nothing heavy: ``create_app`` loads FastAPI on first use, and
``registry_core.web.config`` (WebConfig) needs only pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_core.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from registry_core.web.app import create_app

        return create_app
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
