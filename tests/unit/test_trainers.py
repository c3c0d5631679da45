"""Trainers: found by their config's type, checked before training, and any kind trains, registers and validates.

The majority-label trainer (tests/support/majority_trainer.py) is a second kind of model beside the eyewear one: the
core must serve it without importing either. No eyewear_model here: these tests also run where it cannot be imported
(`make test-py313` has no NumPy); tests/model/test_integration.py finds the eyewear trainer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.majority_trainer import MajorityConfig, MajorityTrainer, write_examples

from registry_core import DependencyMissingError, InvalidInputError, ModelRegistry, ModelStage
from registry_core.integration import train_and_register_model
from registry_core.quality import ValidationPolicy
from registry_core.trainers import TRAINER_GROUP, find_trainer

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry.from_uri(str(tmp_path / "registry"))


@pytest.fixture
def splits(tmp_path: Path) -> dict[str, list[str]]:
    return {
        "train": [write_examples(tmp_path / "train.jsonl", ["round", "round", "square"])],
        "test": [write_examples(tmp_path / "test.jsonl", ["round", "square", "round", "round"])],
    }


def test_a_config_that_no_installed_trainer_takes_is_refused_naming_the_entry_point_group() -> None:
    wanted = f"no installed trainer takes a config of type MajorityConfig.*{TRAINER_GROUP}"
    with pytest.raises(DependencyMissingError, match=wanted):
        find_trainer(MajorityConfig())


def test_a_config_of_another_type_than_the_trainer_takes_is_refused_before_training(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    refused = "config is of type dict; this trainer takes MajorityConfig"
    with pytest.raises(InvalidInputError, match=refused):
        train_and_register_model(
            ["never-read.jsonl"], "majority", config={"label": "x"}, registry=registry, trainer=MajorityTrainer()
        )

    assert not (tmp_path / "registry").exists()


def test_any_kind_of_trainer_trains_registers_and_validates_into_staging(
    registry: ModelRegistry, splits: dict[str, list[str]]
) -> None:
    model, metadata = train_and_register_model(
        splits, "majority", config=MajorityConfig(default_label="oval"), tags=["baseline"],
        promote_to_staging=True, registry=registry, registered_by="alice", trainer=MajorityTrainer(),
        policy=ValidationPolicy(thresholds={"accuracy": 0.7}),
    )  # fmt: skip

    assert model == "round"
    assert metadata.stage is ModelStage.STAGING
    assert metadata.metrics.accuracy == pytest.approx(2 / 3)  # on the training files: there is no validation split
    assert metadata.metrics.extra["holdout_accuracy"] == 0.75
    assert metadata.params == {"default_label": "oval"}
    assert metadata.lineage.training_data_uris == tuple(splits["train"])
    folder = registry.artifact_path("majority", metadata.version)
    assert (folder / "majority.json").read_text() == '{"label": "round"}'


def test_without_a_config_the_trainer_trains_with_its_default_one(
    registry: ModelRegistry, splits: dict[str, list[str]]
) -> None:
    _, metadata = train_and_register_model(splits["train"], "majority", registry=registry, trainer=MajorityTrainer())

    assert metadata.params == {"default_label": "none"}
    assert metadata.stage is ModelStage.DEVELOPMENT


def test_a_champion_the_trainer_cannot_evaluate_is_left_out_of_the_decision(
    registry: ModelRegistry, splits: dict[str, list[str]], tmp_path: Path
) -> None:
    other_kind = tmp_path / "other-kind"
    other_kind.mkdir()
    (other_kind / "weights.bin").write_bytes(b"\x00" * 8)
    champion = registry.register_model("majority", other_kind, registered_by="alice").version
    for stage in (ModelStage.VALIDATION, ModelStage.STAGING):
        registry.promote_model("majority", champion, stage)
    registry.approve("majority", champion, ModelStage.PRODUCTION, approver="bob")
    registry.promote_model("majority", champion, ModelStage.PRODUCTION)

    _, metadata = train_and_register_model(
        splits, "majority", promote_to_staging=True, registry=registry, trainer=MajorityTrainer()
    )

    assert metadata.stage is ModelStage.STAGING
    assert "champion_accuracy" not in metadata.metrics.extra


def test_the_core_trains_registers_and_validates_without_importing_a_model_package(tmp_path: Path) -> None:
    script = f"""
import sys
from support.majority_trainer import MajorityTrainer, write_examples
from registry_core import ModelRegistry
from registry_core.integration import train_and_register_model

data = write_examples(__import__("pathlib").Path({str(tmp_path / "data.jsonl")!r}), ["a", "a", "b"])
registry = ModelRegistry.from_uri({str(tmp_path / "registry")!r})
_, metadata = train_and_register_model(
    [data], "majority", promote_to_staging=True, registry=registry, trainer=MajorityTrainer()
)
print(metadata.stage.value, sorted(m for m in sys.modules if m.split(".")[0] in ("eyewear_model", "tensorflow")))
"""
    pythonpath = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    env = os.environ | {"PYTHONPATH": pythonpath}

    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["staging", "[]"]
