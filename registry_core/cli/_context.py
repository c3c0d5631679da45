"""What the global options chose for this invocation (registry root, JSON output), and the registry they open."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry_core.registry import ModelRegistry


class _State:
    registry_uri: str | None = None
    as_json: bool = False


state = _State()


def registry_uri() -> str | None:
    """Return the --registry option (None: $MODEL_REGISTRY_ROOT, else the local default)."""
    return state.registry_uri


def open_registry() -> ModelRegistry:
    """Open the registry that --registry names."""
    from registry_core.config import RegistryConfig
    from registry_core.registry import ModelRegistry

    return ModelRegistry(RegistryConfig(root=state.registry_uri))
