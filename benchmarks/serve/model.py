"""The model both servers serve: the eyewear recommender, trained once and kept, registered and deployed locally."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.serve.settings import MODEL_CACHE

MODEL_NAME = "eyewear"
ENDPOINT = "bench-serve"
_TRAIN_EXAMPLES = 2000
_COMPLETE = ".complete"  # written last: a folder without it is a training run that did not finish


def trained_model(folder: Path = MODEL_CACHE) -> Path:
    """Return a SavedModel of the eyewear model in its default architecture, training and exporting it if needed.

    The model is what `make run` trains (default `EyewearModelConfig`, fewer examples and one epoch: the serving
    cost depends on the architecture, not on how well it learned). It is exported to a scratch folder first and
    moved into place, so an interrupted run never leaves a half-written model to reuse.
    """
    if (folder / _COMPLETE).is_file():
        return folder
    from eyewear_model import EyewearModelConfig, export_saved_model, generate_dataset, train

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="train-", dir=folder.parent) as scratch:
        data = generate_dataset(f"{scratch}/data", num_train=_TRAIN_EXAMPLES, num_validation=1, num_test=1, shards=1)
        result = train(data.train, None, EyewearModelConfig(epochs=1))
        exported = export_saved_model(result.model, Path(scratch) / "model")
        (exported / _COMPLETE).touch()
        shutil.rmtree(folder, ignore_errors=True)
        exported.rename(folder)
    return folder


def deployed_registry(root: Path, saved_model: Path) -> str:
    """Register `saved_model` in a new local registry at `root` and deploy it to the local endpoint `ENDPOINT`.

    Returns:
        The registry's root, for ``model-registry --registry ROOT serve ENDPOINT``.
    """
    from registry_core import ModelRegistry

    artifacts = root / "artifacts"
    # the marker file is the benchmark's, not the model's: register exactly the SavedModel
    shutil.copytree(saved_model, artifacts, ignore=shutil.ignore_patterns(_COMPLETE))
    registry = ModelRegistry.from_uri(str(root / "registry"))
    version = registry.register_model(MODEL_NAME, artifacts, registered_by="bench", framework="tensorflow")
    registry.deploy_model(MODEL_NAME, version.version, endpoint_name=ENDPOINT, actor="bench")
    return str(root / "registry")


def instances(count: int) -> list[dict[str, Any]]:
    """Return `count` raw eyewear examples without their label, as a JSON client sends them (the same every run)."""
    import numpy as np

    from eyewear_model.data import simulate_examples
    from eyewear_model.schema import LABEL_KEY

    examples = simulate_examples(count, np.random.default_rng(13))
    return [{key: value for key, value in example.items() if key != LABEL_KEY} for example in examples]
