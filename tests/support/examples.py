"""Example inputs shared by the tests of the eyewear model and of serving it."""

from __future__ import annotations

from typing import Any

EYEWEAR_INSTANCE: dict[str, Any] = {
    "face_width_mm": 141.5,
    "face_height_mm": 186.0,
    "bridge_width_mm": 18.0,
    "temple_length_mm": 140.0,
    "pupillary_distance_mm": 63.0,
    "face_shape": "round",
    "preferred_style": "sporty",
    "budget_usd": 150.0,
    "prescription_strength": -1.25,
    "wears_daily": 1,
}
"""One valid raw example without its label, as a JSON client sends it."""
