"""The workload's sizes and counts, the same for every system, read from ``BENCH_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "benchmarks"
RESULTS_PATH = BENCH_DIR / "results" / "latest.json"
DEFAULT_MLFLOW_PYTHON = BENCH_DIR / ".mlflow-venv" / "bin" / "python"
MODEL_NAME = "bench"


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """The whole number in environment variable `name` (`default` when unset); ValueError below `minimum`."""
    value = int(os.environ.get(name, default))
    if value < minimum:
        msg = f"{name} must be at least {minimum}, got {value}"
        raise ValueError(msg)
    return value


@dataclass(frozen=True)
class Settings:
    """What the benchmark does; defaults fit a 2-core machine in a few minutes.

    Attributes:
        versions: N, versions registered one after another (each a ~1 MB folder of 5 files).
        resolves: R, how often the PRODUCTION version is resolved.
        lists: L, how often all versions are listed.
        promotions: How many versions are promoted to PRODUCTION (each promotion archives the previous holder).
        processes: P, processes registering at the same time.
        per_process: K, registrations per process.
        big_mb: Size of the one big model, in MB (5 files).
        big_rounds: Rounds of the big registration and its baseline (alternating; the fastest counts).
        cold_runs: Runs of each command in the cold-start comparison (the median counts).
        mlflow_python: The interpreter of MLflow's own virtual environment.
    """

    versions: int = 200
    resolves: int = 200
    lists: int = 20
    promotions: int = 5
    processes: int = 4
    per_process: int = 8
    big_mb: int = 500
    big_rounds: int = 3
    cold_runs: int = 7
    mlflow_python: str = str(DEFAULT_MLFLOW_PYTHON)

    @classmethod
    def from_environment(cls) -> Settings:
        """Read the ``BENCH_*`` variables named in the README (e.g. ``BENCH_VERSIONS``, ``BENCH_BIG_MB``)."""
        default = cls()
        versions = env_int("BENCH_VERSIONS", default.versions)
        return cls(
            versions=versions,
            resolves=env_int("BENCH_RESOLVES", default.resolves),
            lists=env_int("BENCH_LISTS", default.lists),
            promotions=min(env_int("BENCH_PROMOTIONS", default.promotions), versions),
            processes=env_int("BENCH_PROCESSES", default.processes),
            per_process=env_int("BENCH_PER_PROCESS", default.per_process),
            big_mb=env_int("BENCH_BIG_MB", default.big_mb),
            big_rounds=env_int("BENCH_BIG_ROUNDS", default.big_rounds),
            cold_runs=env_int("BENCH_COLD_RUNS", default.cold_runs),
            mlflow_python=os.environ.get("BENCH_MLFLOW_PYTHON", default.mlflow_python),
        )

    def as_dict(self) -> dict[str, object]:
        """Return the settings as a JSON-ready dict."""
        return asdict(self)
