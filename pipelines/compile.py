"""Compile the train-and-register pipeline to the YAML that Vertex AI Pipelines (or any KFP cluster) runs."""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUTPUT = "eyewear-train-and-register.yaml"


def compile_pipeline(output: str | Path = DEFAULT_OUTPUT, *, image: str | None = None) -> Path:
    """Write the compiled pipeline to `output` and return its path.

    Args:
        output: Where to write the YAML (parent folders are created).
        image: The image every task runs in, pinned as given; None: $REGISTRY_IMAGE, else the default image
            (which only local runs can use: see `pipelines.image`).

    Raises:
        InvalidImageError: `image` is not an image reference.
    """
    from kfp import compiler

    from pipelines.image import pin_image, resolve_image
    from pipelines.train_and_register import train_and_register

    pinned = resolve_image(image)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func=train_and_register, package_path=str(path))
    path.write_text(pin_image(path.read_text(encoding="utf-8"), pinned), encoding="utf-8")
    return path
