"""Rows for the monitoring tests: a numeric and a categorical feature drawn with fixed seeds."""

from __future__ import annotations

from typing import Any

import numpy as np

SHAPES = ("oval", "round", "square")
SHAPE_PROBS = (0.5, 0.3, 0.2)


def sample_rows(
    count: int, seed: int, *, shift: float = 0.0, probs: tuple[float, ...] = SHAPE_PROBS
) -> list[dict[str, Any]]:
    """Rows with ``width`` ~ N(140 + shift, 6), ``shape`` ~ `probs` over SHAPES, and ``flag`` ~ Bernoulli(0.3)."""
    rng = np.random.default_rng(seed)
    width = rng.normal(140.0 + shift, 6.0, count)
    shape = rng.choice(len(probs), size=count, p=probs)
    flag = (rng.random(count) < 0.3).astype(int)
    return [
        {"width": float(width[i]), "shape": (SHAPES + ("heart",))[shape[i]], "flag": int(flag[i])} for i in range(count)
    ]
