"""A second, TensorFlow-free kind of model for `registry_core.integration`: it predicts the most frequent label.

Data files hold one JSON object with a "label" per line; an exported model is a folder with `majority.json`. It
imports nothing of `registry_core` or `eyewear_model`, like any model package that plugs into the registry.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "majority.json"


@dataclass(frozen=True)
class MajorityConfig:
    """The one setting: what to predict when there is no data."""

    default_label: str = "none"

    def to_dict(self) -> dict[str, Any]:
        """Return the settings, recorded as the version's params."""
        return asdict(self)


class MajorityTrainer:
    """Trains, exports and evaluates majority-label models."""

    config_type = MajorityConfig

    def train(
        self, train_paths: Sequence[str], validation_paths: Sequence[str], config: MajorityConfig
    ) -> tuple[str, dict[str, float]]:
        """Return the most frequent training label and its accuracy on the validation (else training) files."""
        counts = Counter(_labels(train_paths))
        label = counts.most_common(1)[0][0] if counts else config.default_label
        return label, {"accuracy": _accuracy(label, validation_paths or train_paths)}

    def export(self, model: str, folder: Path) -> Path:
        """Write the label into `folder`."""
        folder.mkdir(parents=True)
        (folder / MODEL_FILE).write_text(json.dumps({"label": model}))
        return folder

    def evaluate(self, folder: Path, paths: Sequence[str]) -> dict[str, float]:
        """Return the accuracy of the exported label on `paths`; ValueError for a folder it did not export."""
        model_file = Path(folder) / MODEL_FILE
        if not model_file.is_file():
            msg = f"{folder} holds no {MODEL_FILE}"
            raise ValueError(msg)
        return {"accuracy": _accuracy(json.loads(model_file.read_text())["label"], paths)}


def write_examples(path: Path, labels: Sequence[str]) -> str:
    """Write one data file with these labels; return its path."""
    path.write_text("".join(json.dumps({"label": label}) + "\n" for label in labels))
    return str(path)


def _labels(paths: Sequence[str]) -> list[str]:
    return [json.loads(line)["label"] for path in paths for line in Path(path).read_text().splitlines()]


def _accuracy(label: str, paths: Sequence[str]) -> float:
    labels = _labels(paths)
    return sum(1 for seen in labels if seen == label) / len(labels) if labels else 0.0
