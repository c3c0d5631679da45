"""EyewearModelConfig: the validated hyperparameters of the eyewear recommender."""

from __future__ import annotations

import math
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

PositiveInt = Annotated[int, Field(gt=0)]


class EyewearModelConfig(BaseModel):
    """Hyperparameters of the model and its training run.

    Attributes:
        hidden_units: Widths of the hidden ReLU layers, input side first (at least one layer).
        dropout: Dropout rate after each hidden layer, in [0, 1).
        learning_rate: Adam learning rate, positive and at most 1.
        epochs: Passes over the training data.
        batch_size: Examples per training step.
        embedding_dim: Size of the embeddings of `face_shape` and `preferred_style`.
        seed: Seed of weight initialization, dropout and shuffling.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden_units: tuple[PositiveInt, ...] = Field(default=(32, 16), min_length=1)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    learning_rate: float = Field(default=1e-2, gt=0.0, le=1.0)
    epochs: PositiveInt = 3
    batch_size: PositiveInt = 64
    embedding_dim: PositiveInt = 4
    seed: int = Field(default=0, ge=0)

    @field_validator("dropout", "learning_rate")
    @classmethod
    def _finite(cls, value: float) -> float:
        # NaN passes every ge/gt bound (all comparisons are False), so reject it explicitly
        if not math.isfinite(value):
            msg = "must be a finite number"
            raise ValueError(msg)
        return value

    def to_dict(self) -> dict[str, Any]:
        """Return the config as JSON-compatible types (tuples become lists), e.g. for registry params."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """Return the config as a JSON object."""
        return self.model_dump_json()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build a validated config from `to_dict` output (or any subset of the fields).

        Raises:
            pydantic.ValidationError: a value is out of range or a key is unknown.
        """
        return cls.model_validate(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Build a validated config from `to_json` output.

        Raises:
            pydantic.ValidationError: the JSON is malformed, a value is out of range or a key is unknown.
        """
        return cls.model_validate_json(text)
