"""What `pipeline submit` checks and prepares before it sends anything: a gs:// registry, a published image."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from registry_core.config import ROOT_ENV
from registry_core.errors import InvalidInputError
from registry_core.text import one_line

_GCS_ROOT = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](?:/.*)?$")
_REMOTE = re.compile(r"^(?:gs|https?)://", re.IGNORECASE)


def vertex_registry_root(option: str | None, parameter: object = None) -> str:
    """Return the registry a Vertex AI run uses: --registry, else a registry_root --param, else $MODEL_REGISTRY_ROOT.

    Every task runs in its own container, so only a ``gs://`` registry is shared by them and outlives them.

    Raises:
        InvalidInputError: none is given, two disagree, or it is not ``gs://bucket[/path]``.
    """
    if option and parameter not in (None, "") and parameter != option:
        msg = one_line(f"--registry {option} and --param registry_root={parameter} disagree; give one")
        raise InvalidInputError(msg)
    root = option or parameter or os.environ.get(ROOT_ENV, "")
    if not root:
        msg = f"a Vertex AI run needs a gs:// registry: give --registry gs://BUCKET/PATH or set {ROOT_ENV}"
        raise InvalidInputError(msg)
    if not isinstance(root, str) or not _GCS_ROOT.match(root):
        msg = one_line(f"a Vertex AI run needs a gs:// registry (each task runs in its own container), got {root!r}")
        raise InvalidInputError(msg)
    return root


def prepare_submission(
    values: dict[str, Any], *, registry: str | None, image: str | None, template: str | Path | None, scratch: Path
) -> tuple[Path | str, dict[str, Any]]:
    """Check a run (or a schedule of runs) and return the template to send and its values (with registry_root).

    Raises:
        InvalidInputError: no gs:// registry, a malformed or unpublished image, an unreadable template.
    """
    values = values | {"registry_root": vertex_registry_root(registry, values.get("registry_root"))}
    return prepare_template(image=image, template=template, scratch=scratch), values


def prepare_template(*, image: str | None, template: str | Path | None, scratch: Path) -> Path | str:
    """Return the compiled pipeline to send to Vertex AI: its tasks must run in a published image.

    Without `template`, the pipeline is compiled into `scratch` with `image` (or $REGISTRY_IMAGE). A local
    `template` is sent as it is, or re-pinned to `image` if one is given; a remote one (``gs://``, ``https://``)
    as it is. Nothing is sent if the tasks would run in the unpublished default image.

    Raises:
        InvalidInputError: a malformed or unpublished image, an unreadable template.
    """
    from pipelines.compile import compile_pipeline
    from pipelines.image import check_published, executor_images, resolve_image

    if template is None:
        pinned = resolve_image(image)
        check_published([pinned])
        return compile_pipeline(scratch / "pipeline.yaml", image=pinned)
    if _REMOTE.match(str(template)):
        if image is not None:
            msg = "--image cannot re-pin a remote template: compile it with --image instead"
            raise InvalidInputError(msg)
        return str(template)
    spec = _read_template(Path(template))
    if image is not None:
        pinned = resolve_image(image)
        _pin_executors(spec, pinned)
        path = scratch / "pipeline.yaml"
        path.write_text(_dump(spec), encoding="utf-8")
        return path
    check_published(executor_images(spec))
    return Path(template)


def _read_template(template: Path) -> dict[str, Any]:
    import yaml

    try:
        spec = yaml.safe_load(template.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"the pipeline template {template} does not exist (compile the pipeline first)"
        raise InvalidInputError(msg) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        msg = one_line(f"cannot read the pipeline template {template}: {exc}")
        raise InvalidInputError(msg) from exc
    if not isinstance(spec, dict):
        msg = f"the pipeline template {template} is not a compiled pipeline"
        raise InvalidInputError(msg)
    return spec


def _pin_executors(spec: dict[str, Any], image: str) -> None:
    executors = (spec.get("pipelineSpec", spec).get("deploymentSpec") or {}).get("executors") or {}
    for executor in executors.values():
        if isinstance(executor, dict) and "container" in executor:
            executor["container"]["image"] = image


def _dump(spec: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(spec, sort_keys=False))
