"""Write a small registry in the one-document layout (models/<name>.json), with the code of a release that wrote it.

Run it with the code of a release of the old layout (a checkout of it first on PYTHONPATH, and TensorFlow, for the
SavedModels the endpoint deploys), never with this one: it refuses when the registry it wrote has other folders than
artifacts/, endpoints/ and models/. From the root of this repository:

    rm -rf tests/testdata/legacy-registry
    PYTHONPATH=/path/to/old/checkout python tests/testdata/make_legacy_registry.py tests/testdata/legacy-registry

tests/testdata/legacy-registry/ was written so, by the main branch before issue 12 (commit bd96f0d), and is what
tests/contract/test_migration.py migrates. What it holds, and why:

* ``churn`` (auto-increment), 64 versions registered by alice, so that a migration leaves versions outside the
  working set (state files, index rows) and seals history into segments: productions approved by bob and moved by
  carol, a rollback, a validation that passed and one that failed, annotations with added metrics, an approval
  without a promotion, a pending promotion request and a rejected one on old versions in staging, and two old
  versions (tiny TensorFlow SavedModels) deployed in turn to the endpoint ``churn-online``.
* ``fraud`` (semantic), 27 versions: major, minor and patch bumps, then an older line patched 21 times after a
  newer major (so the latest label is not the last registered, and the highest label in validation, v2.1.0, is
  registered long before the other version there), one in production, one in staging, two archived.
* ``ranker`` (auto-increment), 2 versions never changed since registration.

Artifacts are a few hundred bytes each (the SavedModels about 11 KB).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from registry_core import ModelRegistry, RegistryConfig  # noqa: E402
from registry_core.quality import ValidationDecision  # noqa: E402

ALICE, BOB, CAROL = "alice", "bob", "carol"  # registers, approves, operates
CHURN_VERSIONS = 64
SERVABLE = (3, 8)  # churn versions whose artifacts are SavedModels, deployed to churn-online in turn


def main(out: Path) -> None:
    """Write the registry into `out` (which must not exist)."""
    if out.exists():
        sys.exit(f"{out} exists; remove it first")
    work = Path(tempfile.mkdtemp(prefix="legacy-registry-"))
    os.environ["MODEL_REGISTRY_CACHE"] = str(work / "cache")
    os.environ["MODEL_REGISTRY_USER"] = "default-user"
    root = work / "registry"
    churn(ModelRegistry(RegistryConfig(root=str(root))), work)
    fraud(ModelRegistry(RegistryConfig(root=str(root), versioning="semantic")), work)
    ranker(ModelRegistry(RegistryConfig(root=str(root))), work)
    shutil.rmtree(root / ".locks", ignore_errors=True)  # the local backend's own files, not part of the registry
    found = sorted(p.relative_to(root).parts[0] for p in root.iterdir())
    if found != ["artifacts", "endpoints", "models"]:
        sys.exit(f"the registry written has {found}: run this with a release of the one-document layout")
    shutil.copytree(root, out)
    shutil.rmtree(work)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size // 1024} KB)")


def artifact(work: Path, name: str, n: int) -> Path:
    """A tiny artifact folder: a config file and a weights file in a subfolder."""
    folder = work / "in" / f"{name}-{n}"
    (folder / "variables").mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"model": name, "n": n, "layers": [8, 4, 1]}))
    (folder / "variables" / "weights.bin").write_bytes(bytes((n * 7 + i) % 256 for i in range(256)))
    return folder


def saved_model(work: Path, n: int) -> Path:
    """A tiny TensorFlow SavedModel whose serving_default doubles its input, so the local target deploys it."""
    import tensorflow as tf

    class Doubler(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = tf.Variable(float(n))

        @tf.function(input_signature=[{"x": tf.TensorSpec([None], tf.float32, name="x")}])
        def serve(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            return {"y": features["x"] * self.weight}

    folder = work / "in" / f"servable-{n}"
    module = Doubler()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def register_churn(registry: ModelRegistry, work: Path, n: int) -> None:
    folder = saved_model(work, n) if n in SERVABLE else artifact(work, "churn", n)
    registry.register_model(
        "churn",
        folder,
        metrics={"auc": round(0.70 + n * 0.003, 4), "loss": round(0.9 - n * 0.01, 4)},
        params={"learning_rate": 0.01, "epochs": n, "optimizer": "adam", "dropout": None, "early_stop": n % 2 == 0},
        description=f"Churn model trained on week {n}. " + "Gradient-boosted features, calibrated. " * (n % 8),
        tags=["churn", f"week-{n}", *(["nightly"] if n % 3 else [])],
        framework="tensorflow" if n in SERVABLE else "sklearn",
        lineage={
            "training_data_uris": [f"gs://data/churn/week-{n}.parquet"],
            "pipeline_run": f"churn-training-{n:04d}",
            "code_version": f"abc{n:04x}",
            "parent_version": f"v{n - 1}" if n > 1 else None,
            "extra": {"team": "retention"},
        },
        registered_by=ALICE,
        idempotency_key=f"churn-task-{n}" if n % 10 == 0 else None,
    )


def to_production(registry: ModelRegistry, name: str, version: str) -> None:
    registry.promote_model(name, version, "staging", actor=CAROL, reason="looks good")
    registry.promote_model(name, version, "production", approved_by=BOB, actor=CAROL, reason="release")


def churn(registry: ModelRegistry, work: Path) -> None:
    for n in range(1, CHURN_VERSIONS + 1):
        register_churn(registry, work, n)
        label = f"v{n}"
        if n == 3:
            decision = ValidationDecision(passed=True, reason="beats the baseline", metrics={"auc": 0.71})
            registry.record_validation("churn", label, decision, actor=CAROL)
            to_production(registry, "churn", label)
            registry.deploy_model("churn", label, endpoint_name="churn-online", actor=CAROL, reason="first")
        elif n == 8:
            registry.promote_model("churn", label, "validation", actor=CAROL)
            to_production(registry, "churn", label)
            registry.deploy_model("churn", label, endpoint_name="churn-online", traffic_percent=20, actor=CAROL)
            registry.deploy_model("churn", label, endpoint_name="churn-online", traffic_percent=100, actor=CAROL)
        elif n == 12:
            registry.promote_model("churn", label, "validation", actor=CAROL)
            to_production(registry, "churn", label)
            registry.rollback("churn", reason="v12 drops recall on new users", actor=CAROL)
        elif n == 15:
            decision = ValidationDecision(
                passed=False, reason="auc below the champion", metrics={"auc": 0.6}, champion_version="v8",
                champion_metrics={"auc": 0.72},
            )  # fmt: skip
            registry.record_validation("churn", label, decision, actor=CAROL)
        elif n == 18:
            registry.annotate("churn", label, {"reviewed": "yes", "ticket": "ML-118"}, actor=BOB,
                              metrics={"holdout_recall": 0.66})  # fmt: skip
        elif n == 20:
            registry.promote_model("churn", label, "validation", actor=CAROL)
            registry.approve("churn", label, "production", BOB, comment="ok once staged")
        elif n == 22:
            registry.promote_model("churn", label, "validation", actor=CAROL)
            registry.promote_model("churn", label, "staging", actor=CAROL)
            registry.request_promotion("churn", label, "production", requested_by=CAROL, comment="weekly release")
            registry.reject("churn", label, "production", BOB, comment="wait for the holdout run")
        elif n == 25:
            registry.promote_model("churn", label, "validation", actor=CAROL)
            registry.promote_model("churn", label, "staging", actor=CAROL)
            registry.request_promotion("churn", label, "production", requested_by=CAROL, comment="weekly release")
        elif n == 30:
            registry.archive_model("churn", label, reason="trained on a broken extract", actor=CAROL)
        elif n == 60:
            registry.promote_model("churn", label, "validation", actor=CAROL)
            registry.promote_model("churn", label, "staging", actor=CAROL)


def fraud(registry: ModelRegistry, work: Path) -> None:
    def register(n: int, **kwargs: object) -> str:
        metadata = registry.register_model(
            "fraud", artifact(work, "fraud", n), metrics={"precision": 0.8 + n / 100}, registered_by=ALICE,
            framework="xgboost", **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip
        return metadata.version

    first = register(1)  # v1.0.0
    register(2, bump="patch")  # v1.0.1
    second = register(3, bump="minor")  # v1.1.0
    register(4, bump="major")  # v2.0.0
    register(5, version="v1.1.1", description="hotfix of the 1.1 line")  # an older line, after a newer major
    registry.promote_model("fraud", first, "validation", actor=CAROL)
    to_production(registry, "fraud", first)
    registry.promote_model("fraud", second, "validation", actor=CAROL)
    to_production(registry, "fraud", second)  # archives v1.0.0
    registry.promote_model("fraud", "v1.1.1", "validation", actor=CAROL)
    registry.promote_model("fraud", "v1.1.1", "staging", actor=CAROL)
    register(6, bump="minor")  # v2.1.0
    registry.archive_model("fraud", "v1.0.1", actor=CAROL)
    registry.promote_model("fraud", "v2.1.0", "validation", actor=CAROL)
    register(7, bump="patch")  # v2.1.1, the latest label from here on
    for patch in range(2, 22):  # the 1.1 line lives on: v1.1.2 ... v1.1.21, labels below the latest
        register(6 + patch, version=f"v1.1.{patch}", description="maintenance of the 1.1 line")
    registry.promote_model("fraud", "v1.1.20", "validation", actor=CAROL)  # validation: v2.1.0 is still the highest


def ranker(registry: ModelRegistry, work: Path) -> None:
    for n in (1, 2):
        registry.register_model("ranker", artifact(work, "ranker", n), registered_by=ALICE, metrics={"ndcg": 0.5})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUTPUT_FOLDER")
    main(Path(sys.argv[1]).resolve())
