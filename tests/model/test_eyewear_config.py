"""EyewearModelConfig: defaults, validation and the JSON round trip."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from eyewear_model import EyewearModelConfig


def test_defaults() -> None:
    config = EyewearModelConfig()
    assert config.hidden_units == (32, 16)
    assert config.epochs == 3
    assert config.batch_size == 64
    assert config.embedding_dim == 4
    assert config.learning_rate == pytest.approx(1e-2)
    assert 0 <= config.dropout < 1
    assert config.seed == 0


def test_dict_and_json_round_trip() -> None:
    config = EyewearModelConfig(hidden_units=(8,), dropout=0.0, learning_rate=0.05, epochs=2, seed=7)
    as_dict = config.to_dict()
    assert as_dict["hidden_units"] == [8]
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert EyewearModelConfig.from_dict(as_dict) == config
    assert EyewearModelConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    "bad",
    [
        {"learning_rate": -0.01},
        {"learning_rate": 0.0},
        {"learning_rate": math.nan},
        {"learning_rate": 2.0},
        {"epochs": 0},
        {"epochs": -1},
        {"batch_size": 0},
        {"embedding_dim": 0},
        {"dropout": 1.0},
        {"dropout": -0.1},
        {"dropout": math.nan},
        {"hidden_units": ()},
        {"hidden_units": (32, 0)},
        {"seed": -1},
        {"epochs": "three"},
        {"optimizer": "sgd"},
    ],
)
def test_rejects_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EyewearModelConfig(**bad)


def test_rejects_bad_json() -> None:
    with pytest.raises(ValidationError):
        EyewearModelConfig.from_json('{"epochs": 0}')
    with pytest.raises(ValidationError):
        EyewearModelConfig.from_json("not json")


def test_frozen() -> None:
    config = EyewearModelConfig()
    with pytest.raises(ValidationError):
        config.epochs = 5  # type: ignore[misc]
