"""Write the published component specs, ``components/specs/<name>.yaml``, from the component code (`make specs`).

Each spec is the component compiled on its own, loadable with ``kfp.components.load_component_from_file`` into any
KFP v2 pipeline. The repo's copies run in the default image (a test keeps them in sync with the code); write your
own with ``python -m pipelines.specs --image REF --output DIR`` to pin your build of the image.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

SPECS_DIR = Path(__file__).resolve().parent.parent / "components" / "specs"


def spec_components() -> dict[str, Any]:
    """Return the published components by spec name (the synthetic-data generator is an example, not published)."""
    from components import (
        deploy_model,
        promote_model,
        register_model,
        rollback_model,
        train_model,
        validate_data,
        validate_model,
    )

    return {
        "train": train_model,
        "register": register_model,
        "validate": validate_model,
        "validate_data": validate_data,
        "promote": promote_model,
        "deploy": deploy_model,
        "rollback": rollback_model,
    }


def write_specs(output: Path = SPECS_DIR, *, image: str | None = None) -> list[Path]:
    """Compile each published component to ``output/<name>.yaml`` with `image` pinned; return the paths.

    Args:
        output: The folder to write into (created if missing).
        image: The image to pin; None: the default image (not $REGISTRY_IMAGE: the repo's copies must not depend
            on who generated them).
    """
    from kfp import compiler

    from pipelines.image import DEFAULT_IMAGE, pin_image, resolve_image

    pinned = resolve_image(image) if image is not None else DEFAULT_IMAGE
    output.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, component in spec_components().items():
            compiled = Path(scratch) / f"{name}.yaml"
            compiler.Compiler().compile(component, str(compiled))
            path = output / f"{name}.yaml"
            path.write_text(pin_image(compiled.read_text(encoding="utf-8"), pinned), encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Write the specs (``--output DIR``, ``--image REF``) and print their paths."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.specs", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=SPECS_DIR, help="folder to write into")
    parser.add_argument("--image", default=None, help="image reference to pin (default: the default image)")
    arguments = parser.parse_args(argv)
    for path in write_specs(arguments.output, image=arguments.image):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
