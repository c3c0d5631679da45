"""What ``make bench-scale`` measures, read from ``BENCH_SCALE_*`` environment variables (README "Performance")."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.settings import BENCH_DIR, DEFAULT_MLFLOW_PYTHON, env_int

RESULTS_PATH = BENCH_DIR / "results" / "scale-latest.json"
SYSTEMS = ("ours_local", "ours_gcs", "mlflow")


def _sizes(text: str) -> tuple[int, ...]:
    sizes = sorted({int(part.replace("_", "")) for part in text.replace(" ", "").split(",") if part})
    if not sizes or sizes[0] < 2:
        msg = f"BENCH_SCALE_SIZES must list version counts of at least 2, got {text!r}"
        raise ValueError(msg)
    return tuple(sizes)


def _systems(text: str) -> tuple[str, ...]:
    chosen = tuple(part for part in text.replace(" ", "").split(",") if part)
    unknown = sorted(set(chosen) - set(SYSTEMS))
    if unknown or not chosen:
        msg = f"BENCH_SCALE_SYSTEMS must name some of {', '.join(SYSTEMS)}, got {text!r}"
        raise ValueError(msg)
    return tuple(s for s in SYSTEMS if s in chosen)


@dataclass(frozen=True)
class ScaleSettings:
    """The scale workload.

    Attributes:
        sizes: Version counts the one model is grown to, measured at each (200 is where the issue's comparisons
            with MLflow are set).
        systems: Which of "ours_local", "ours_gcs" and "mlflow" run.
        rounds: Measurement rounds per size; the systems take turns, in alternating order, ``os.sync()`` before
            each. A round registers two versions (4 KB and 1 MB), promotes one, and runs one new-process probe of
            each read.
        reads: At most this many calls of each in-process read (warm, fresh) per round...
        read_seconds: ...and no more once they took this long (at least one call).
        max_grow_minutes: A system stops before a size if growing it there would take longer than this,
            extrapolated from its growth so far (on the one-document layout growth is quadratic in the size).
        big_mb: Size of the big registration compared with ``cp -r`` + ``sha256sum`` (0: not measured).
        big_rounds: Alternating rounds of the big registration and its baseline (the fastest of each counts).
        mlflow_python: The interpreter of MLflow's own virtual environment.
        results_path: Where the JSON results go.
    """

    sizes: tuple[int, ...] = (100, 200, 1_000, 10_000)
    systems: tuple[str, ...] = SYSTEMS
    rounds: int = 5
    reads: int = 10
    read_seconds: float = 1.0
    max_grow_minutes: float = 20.0
    big_mb: int = 500
    big_rounds: int = 3
    mlflow_python: str = str(DEFAULT_MLFLOW_PYTHON)
    results_path: str = str(RESULTS_PATH)

    @classmethod
    def from_environment(cls) -> ScaleSettings:
        """Read ``BENCH_SCALE_SIZES`` (e.g. "100,1000"), ``BENCH_SCALE_SYSTEMS`` and the other ``BENCH_SCALE_*``."""
        default = cls()
        return cls(
            sizes=_sizes(os.environ.get("BENCH_SCALE_SIZES", ",".join(map(str, default.sizes)))),
            systems=_systems(os.environ.get("BENCH_SCALE_SYSTEMS", ",".join(default.systems))),
            rounds=env_int("BENCH_SCALE_ROUNDS", default.rounds),
            reads=env_int("BENCH_SCALE_READS", default.reads),
            read_seconds=float(os.environ.get("BENCH_SCALE_READ_SECONDS", default.read_seconds)),
            max_grow_minutes=float(os.environ.get("BENCH_SCALE_MAX_GROW_MINUTES", default.max_grow_minutes)),
            big_mb=env_int("BENCH_SCALE_BIG_MB", default.big_mb, minimum=0),
            big_rounds=env_int("BENCH_SCALE_BIG_ROUNDS", default.big_rounds),
            mlflow_python=os.environ.get("BENCH_MLFLOW_PYTHON", default.mlflow_python),
            results_path=os.environ.get("BENCH_SCALE_RESULTS", default.results_path),
        )

    def as_dict(self) -> dict[str, object]:
        """Return the settings as a JSON-ready dict."""
        return asdict(self)

    @property
    def results_file(self) -> Path:
        """`results_path` as a Path."""
        return Path(self.results_path)
