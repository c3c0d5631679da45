"""One version of the scale workload: a 4 KB artifact folder and realistic metadata, the same for every system.

Only the standard library is imported here: MLflow's worker, in MLflow's own virtual environment, uses it too.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

# Three files like a tiny SavedModel; 4,096 bytes in all.
TINY_LAYOUT: tuple[tuple[str, int], ...] = (
    ("saved_model.pb", 2_600),
    ("variables/variables.index", 400),
    ("variables/variables.data-00000-of-00001", 1_096),
)
MODEL_NAME = "bench"
REGISTRANT = "trainer"  # registers every version
APPROVER = "reviewer"  # approves production (four-eyes: not the registrant)
OPERATOR = "operator"  # promotes
PRODUCTION = "production"  # our stage, MLflow's alias


def write_tiny_folder(folder: Path, seed: int) -> Path:
    """Write a 4 KB folder of 3 files whose bytes are unique to `seed`."""
    for index, (relative, size) in enumerate(TINY_LAYOUT):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"{seed}:{index}:".encode()
        path.write_bytes(header + os.urandom(size - len(header)))
    return folder


def version_fields(index: int) -> dict[str, Any]:
    """Return the metadata of version number `index` (1-based), as a nightly training pipeline would register it.

    8 metrics, 10 params, 3 tags, lineage (training data, pipeline run, code version, parent version) and a
    description, all varying with `index` so that no two versions are alike.

    Returns:
        ``metrics``, ``params``, ``tags``, ``lineage`` (a dict of Lineage's fields) and ``description``.
    """
    wobble = (index * 7919 % 1000) / 100_000  # deterministic, different per version
    commit = hashlib.sha1(str(index).encode()).hexdigest()
    day = f"2025-{1 + index // 28 % 12:02d}-{1 + index % 28:02d}"
    return {
        "metrics": {
            "accuracy": 0.91 + wobble, "precision": 0.88 + wobble, "recall": 0.86 + wobble, "auc": 0.95 + wobble,
            "loss": 0.23 - wobble, "f1_score": 0.87 + wobble, "ndcg_at_10": 0.42 + wobble,
            "latency_p95_ms": 12.5 + index % 7,
        },
        "params": {
            "learning_rate": 0.001 * (1 + index % 5), "batch_size": 256, "epochs": 10 + index % 3,
            "optimizer": "adam", "embedding_dim": 64, "dropout": 0.2, "l2_regularization": 1e-5,
            "hidden_units": "256,128,64", "num_train_examples": 1_000_000 + index, "seed": index,
        },
        "tags": ["recommender", "eyewear", f"week-{index % 52 + 1}"],
        "lineage": {
            "training_data_uris": [f"gs://eyewear-data/training/{day}/part-00000-of-00004.tfrecord"],
            "pipeline_run": f"projects/eyewear-ml/locations/us-central1/pipelineJobs/train-and-register-{index:06d}",
            "code_version": commit,
            "parent_version": f"v{index - 1}" if index > 1 else None,
        },
        "description": f"Nightly retrain {index} on the data of {day}",
    }  # fmt: skip
