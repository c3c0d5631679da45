"""The serving benchmark's load and rounds, read from ``BENCH_SERVE_*`` environment variables."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

GOAL = 1.2
"""Issue 13: the local endpoint within 1.2x of the floor, on throughput and on p50 and p99 latency."""
MODEL_CACHE = Path(tempfile.gettempdir()) / "registry-core-bench-serve" / "eyewear-savedmodel"
"""Where the trained eyewear model is kept between runs (training it takes seconds; reusing it, none)."""


def _number(name: str, default: float, *, minimum: float, integer: bool) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        msg = f"{name} must be {'an integer' if integer else 'a number'}, got {raw!r}"
        raise ValueError(msg) from None
    if not value >= minimum:
        msg = f"{name} must be at least {minimum:g}, got {raw!r}"
        raise ValueError(msg)
    return value


@dataclass(frozen=True)
class ServeSettings:
    """What the serving benchmark does; the defaults take about two and a half minutes.

    Attributes:
        clients: Concurrent clients, each on one keep-alive connection, sending its next request when the last one
            is answered.
        seconds: Length of one measured round against one server.
        instances: Instances per predict request.
        rounds: Measured rounds per server, the two servers taking turns (ours, floor, floor, ours, ...).
        warmup: Seconds of load on each server before the first round (not measured).
        model: A SavedModel folder to serve instead of the trained eyewear model (None: train it once, keep it in
            `MODEL_CACHE`).
    """

    clients: int = 8
    seconds: float = 20.0
    instances: int = 1
    rounds: int = 3
    warmup: float = 3.0
    model: str | None = None

    @classmethod
    def from_environment(cls) -> ServeSettings:
        """Read ``BENCH_SERVE_CLIENTS``, ``_SECONDS``, ``_INSTANCES``, ``_ROUNDS``, ``_WARMUP`` and ``_MODEL``."""
        default = cls()
        return cls(
            clients=int(_number("BENCH_SERVE_CLIENTS", default.clients, minimum=1, integer=True)),
            seconds=_number("BENCH_SERVE_SECONDS", default.seconds, minimum=0.1, integer=False),
            instances=int(_number("BENCH_SERVE_INSTANCES", default.instances, minimum=1, integer=True)),
            rounds=int(_number("BENCH_SERVE_ROUNDS", default.rounds, minimum=1, integer=True)),
            warmup=_number("BENCH_SERVE_WARMUP", default.warmup, minimum=0, integer=False),
            model=os.environ.get("BENCH_SERVE_MODEL") or None,
        )

    def as_dict(self) -> dict[str, object]:
        """Return the settings as a JSON-ready dict."""
        return asdict(self)
