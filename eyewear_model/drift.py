"""Knobs that make the synthetic data drift from the training distribution (for monitoring demos and tests)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eyewear_model.schema import FACE_SHAPES, PREFERRED_STYLES

MEASUREMENTS: tuple[str, ...] = (
    "face_width_mm",
    "face_height_mm",
    "bridge_width_mm",
    "temple_length_mm",
    "pupillary_distance_mm",
)
"""The features a measurement shift or scale applies to."""


class DataDrift(BaseModel):
    """How generated data departs from the training distribution; the defaults change nothing.

    Measurement changes act like a differently calibrated scanner: they apply to the recorded values after the
    labels were drawn, so the labels do not change. Category weights change who the customers are: the face shape
    (or style) is drawn from them, and the measurements and labels follow it through the usual rule; a shape the
    rule does not know gets no offset and no affinity.

    Attributes:
        measurement_shift_mm: Added to every measurement (`MEASUREMENTS`), in millimetres.
        measurement_scale: Every measurement is multiplied by it (before the shift).
        face_shape_weights: Face shape to relative weight, replacing the usual mix; names outside FACE_SHAPES
            are new categories. None keeps the usual mix.
        preferred_style_weights: The same for the preferred style (PREFERRED_STYLES).
        label_noise: Share of examples whose label is replaced by a uniformly drawn frame style (0-1).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    measurement_shift_mm: float = 0.0
    measurement_scale: float = Field(default=1.0, gt=0)
    face_shape_weights: dict[str, float] | None = None
    preferred_style_weights: dict[str, float] | None = None
    label_noise: float = Field(default=0.0, ge=0, le=1)

    @field_validator("measurement_shift_mm", "measurement_scale")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            msg = f"must be a finite number, got {value}"
            raise ValueError(msg)
        return value

    @field_validator("face_shape_weights", "preferred_style_weights")
    @classmethod
    def _weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        if not value or any(not name for name in value):
            msg = "weights need at least one non-empty category name"
            raise ValueError(msg)
        if any(not math.isfinite(w) or w < 0 for w in value.values()) or sum(value.values()) <= 0:
            msg = "weights must be non-negative finite numbers with a positive sum"
            raise ValueError(msg)
        return value

    @property
    def is_none(self) -> bool:
        """Whether the knobs leave the data as it is (the default)."""
        return self == DataDrift()

    @property
    def new_categories(self) -> bool:
        """Whether the data gets face shapes or styles outside the schema's vocabularies."""
        shapes = set(self.face_shape_weights or ()) - set(FACE_SHAPES)
        styles = set(self.preferred_style_weights or ()) - set(PREFERRED_STYLES)
        return bool(shapes or styles)
