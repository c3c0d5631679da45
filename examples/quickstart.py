"""A walk through the registry on the embedded local default: register, validate, stage, approve, promote, compare.

Run it again and it registers the next version, promotes it over the current production one and compares both.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from registry_core import ModelRegistry, ModelStage, VersionNotFoundError

MODEL = "eyewear-recommender"
DATA_SCIENTIST = "alice"
REVIEWER = "bob"


def write_artifacts(folder: Path, seed: int) -> dict[str, float]:
    """Write a small model folder (weights and config) and return its evaluation metrics."""
    rng = random.Random(seed)
    weights = [rng.gauss(0, 1) for _ in range(2048)]
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "weights.json").write_text(json.dumps(weights))
    (folder / "config.json").write_text(json.dumps({"layers": [64, 32], "seed": seed}))
    return {
        "accuracy": round(0.80 + rng.random() * 0.15, 4),
        "auc": round(0.85 + rng.random() * 0.1, 4),
        "loss": round(0.2 + rng.random() * 0.3, 4),
    }


def main() -> None:
    registry = ModelRegistry()
    print(f"registry: {registry.storage.uri}")
    seed = len(registry.list_versions(MODEL)) if MODEL in registry.list_models() else 0
    with tempfile.TemporaryDirectory() as scratch:
        metrics = write_artifacts(Path(scratch) / "model", seed)
        new = registry.register_model(
            MODEL,
            Path(scratch) / "model",
            metrics=metrics,
            params={"layers": "64,32", "seed": seed},
            description="walkthrough model",
            tags=["example"],
            registered_by=DATA_SCIENTIST,
            lineage={"training_data_uris": ["synthetic://eyewear"], "code_version": "examples/quickstart.py"},
        )
    print(f"registered {MODEL} {new.version} by {new.registered_by}: {new.metrics.as_dict()}")

    registry.promote_model(MODEL, new.version, ModelStage.VALIDATION, reason="metrics recorded", actor=DATA_SCIENTIST)
    registry.promote_model(MODEL, new.version, ModelStage.STAGING, reason="validation passed", actor=DATA_SCIENTIST)
    print(f"{new.version}: development -> validation -> staging")

    try:
        champion = registry.get_model_metadata(MODEL, stage=ModelStage.PRODUCTION)
    except VersionNotFoundError:  # the first run has no production version yet
        champion = None

    if champion is not None:
        comparison = registry.compare_models(MODEL, [champion.version, new.version])
        width = max(len(m) for m in comparison.metrics)
        print(f"champion {champion.version} vs challenger {new.version} (* = best):")
        print(f"  {'metric'.ljust(width)}  " + "  ".join(v.ljust(10) for v in comparison.versions))
        for row in comparison.rows():
            print(f"  {row[0].ljust(width)}  " + "  ".join(cell.ljust(10) for cell in row[1:]))
        if comparison.best.get("accuracy") != new.version:
            print(f"{new.version} does not beat {champion.version} on accuracy: it stays in staging")
            _summary(registry)
            return

    registry.approve(MODEL, new.version, ModelStage.PRODUCTION, approver=REVIEWER, comment="looks good")
    promoted = registry.promote_model(
        MODEL, new.version, ModelStage.PRODUCTION, reason="approved by review", actor=REVIEWER
    )
    print(f"{REVIEWER} approved; {promoted.version} is now in {promoted.stage.value}")

    if champion is not None:
        print(f"previous production version {champion.version} was archived in the same step")
    else:
        print("first run: run again to register the next version and compare it with this one")
    _summary(registry)


def _summary(registry: ModelRegistry) -> None:
    print("versions:", ", ".join(f"{v.version}={v.stage.value}" for v in registry.list_versions(MODEL)))
    print(f"try: model-registry list-versions {MODEL}   |   model-registry history {MODEL}")


if __name__ == "__main__":
    main()
