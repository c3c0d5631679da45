"""The scale benchmark's output: a table per size, a table of the issue's targets, and the JSON results file."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.report import MET, MISSED, NONE, format_table, ratio_text, requests_text, seconds_text
from benchmarks.scale.operations import (
    CLI_GET,
    FRESH,
    LIST,
    PROCESS,
    PROMOTE,
    READS,
    REGISTER,
    REGISTER_1MB,
    RESOLVE_LABEL,
    RESOLVE_STAGE,
    WARM,
    WAYS,
    read_op,
)
from benchmarks.scale.samples import Sample, median_seconds, most
from benchmarks.scale.settings import ScaleSettings

SIZE_COLUMNS: tuple[str, ...] = (
    "operation",
    "ours (local)",
    "ours (GCS)",
    "MLflow",
    "MLflow ÷ ours (local)",
    "GCS requests/op",
    "GCS KB/op",
)
TARGETS_TITLE = "Targets of issue 12"
TARGET_COLUMNS: tuple[str, ...] = ("target", "at", "measured", "target value", "met")
NOT_MEASURED = "not measured"

# Targets of issue 12.
REGISTER_GROWTH = 1.5  # register at the largest size ÷ register at 100
PROCESS_RESOLVE_SECONDS = 0.005  # resolve a stage or a label in a new process, local, at the largest size
RESOLVE_REQUESTS, RESOLVE_KB = 2, 64  # the same on GCS
LIST_SECONDS = 0.1  # list every version with stage and metrics, local, fresh reader, at the largest size
PROMOTE_REQUESTS = 3
COMPARISON_SIZE = 200  # where the fresh reader and the 1 MB registration are compared with MLflow
FRESH_RESOLVE_FASTER, FRESH_LIST_FASTER, REGISTER_1MB_FASTER = 5.0, 10.0, 4.0
BIG_MAX_RATIO = 1.3
CONCURRENCY_TEST = "tests/reliability/test_load.py"

SYSTEM_NAMES = {"ours_local": "ours (local)", "ours_gcs": "ours (GCS)", "mlflow": "MLflow"}
_WAY_TEXT = {
    WARM: "warm (one registry object / client)",
    FRESH: "fresh reader (new registry object / client per call)",
    PROCESS: "new process (timed after imports)",
}
_READ_TEXT = {RESOLVE_STAGE: "resolve production", RESOLVE_LABEL: "resolve a label", LIST: "list every version"}


def operation_labels() -> dict[str, str]:
    """Row labels (first column) of a size's table, by operation key, in table order."""
    labels = {
        REGISTER: "register a 4 KB version",
        REGISTER_1MB: "register a 1 MB version (5 files)",
        PROMOTE: "promote to production",
    }
    for read in READS:
        for way in WAYS:
            labels[read_op(read, way)] = f"{_READ_TEXT[read]}, {_WAY_TEXT[way]}"
    labels[CLI_GET] = "`model-registry get-model --stage production` (wall)"
    return labels


@dataclass
class SizeResult:
    """What one size measured.

    Attributes:
        size: Versions of the model when the measurement began (each round adds two).
        samples: system -> operation -> samples of every round.
        grow_seconds: system -> seconds it took to grow from the previous size to this one.
        metadata_bytes: system -> bytes of its metadata on disk (ours: all but artifacts; MLflow: the sqlite file).
    """

    size: int
    samples: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)
    grow_seconds: dict[str, float] = field(default_factory=dict)
    metadata_bytes: dict[str, int | None] = field(default_factory=dict)

    def seconds(self, system: str, operation: str) -> float | None:
        """The median seconds of an operation, or None if the system did not run it."""
        found = self.samples.get(system, {}).get(operation)
        return median_seconds(found) if found else None

    def most(self, system: str, operation: str, key: str) -> float | None:
        """The largest count ("requests", "downloaded") of an operation's samples, or None."""
        found = self.samples.get(system, {}).get(operation)
        return most(found, key) if found else None


@dataclass
class ScaleResults:
    """Everything one run measured.

    Attributes:
        settings: The workload.
        mlflow_version: MLflow's version ("" if MLflow did not run).
        sizes: Per size, in growing order.
        skipped: Systems that stopped growing: {"size": ..., "system": ..., "estimate_minutes": ...}, the size they
            stopped before and how long growing there would have taken (extrapolated).
        growth: system -> (a, b) of seconds = a + b·versions per registration, fitted to all its growth.
        big: "ours" and "baseline" seconds of the big registration (None: not measured).
        elapsed_seconds: Wall time of the whole run.
        load: The machine's 1-minute load average before and after the run.
    """

    settings: ScaleSettings
    mlflow_version: str = ""
    sizes: list[SizeResult] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    growth: dict[str, tuple[float, float]] = field(default_factory=dict)
    big: dict[str, list[float]] | None = None
    elapsed_seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)

    def at(self, size: int) -> SizeResult | None:
        """The result of `size`, if measured."""
        return next((s for s in self.sizes if s.size == size), None)


def _time(value: float | None) -> str:
    return seconds_text(value) if value is not None else NONE


def bytes_text(size: float) -> str:
    """Format a byte count: "950 B", "12.3 KB", "1.2 MB" (powers of 1000)."""
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:.0f} B"


def _kb(value: float | None) -> str:
    if value is None:
        return NONE
    kb = value / 1000
    return f"{kb:,.0f}" if kb >= 100 else f"{kb:.3g}"


def size_rows(result: SizeResult) -> list[list[str]]:
    """Rows of one size's table."""
    rows = []
    for operation, label in operation_labels().items():
        local = result.seconds("ours_local", operation)
        mlflow = result.seconds("mlflow", operation)
        rows.append([
            label, _time(local), _time(result.seconds("ours_gcs", operation)), _time(mlflow),
            ratio_text(mlflow / local) if local and mlflow else NONE,
            requests_text(result.most("ours_gcs", operation, "requests")),
            _kb(result.most("ours_gcs", operation, "downloaded")),
        ])  # fmt: skip
    return rows


def size_heading(result: SizeResult, rounds: int) -> str:
    """The title and notes of one size's table."""
    names = SYSTEM_NAMES
    grown = ", ".join(f"{names[s]} {seconds_text(v)}" for s, v in result.grow_seconds.items())
    stored = ", ".join(
        f"{names[s]} {bytes_text(v)}" for s, v in result.metadata_bytes.items() if v is not None
    )  # fmt: skip
    return (
        f"{result.size:,} versions (measured from {result.size:,} to {result.size + 2 * rounds:,}; grown from the "
        f"previous size in: {grown}; metadata on disk: {stored or NONE})"
    )


@dataclass(frozen=True)
class _Target:
    label: str
    at: str
    measured: str
    target: str
    met: str


def _check(label: str, at: str, value: float | None, text: Callable[[float], str], target: str, ok: bool) -> _Target:
    if value is None:
        return _Target(label, at, NOT_MEASURED, target, NONE)
    return _Target(label, at, text(value), target, MET if ok else MISSED)


def target_rows(results: ScaleResults) -> list[list[str]]:
    """Rows of the targets table: each of issue 12's targets, where it was measured, the value and whether it is met."""
    checks: list[_Target] = []
    smallest = results.at(100)
    largest = results.sizes[-1] if results.sizes else None
    top = f"{largest.size:,}" if largest else NONE
    for system, where in (("ours_local", "local"), ("ours_gcs", "GCS")):
        base = smallest.seconds(system, REGISTER) if smallest else None
        end = largest.seconds(system, REGISTER) if largest else None
        ratio = end / base if base and end else None
        checks.append(_check(
            f"register a 4 KB version, at {top} ÷ at 100 ({where})", f"100, {top}", ratio, ratio_text,
            f"≤ {REGISTER_GROWTH:g}×", ratio is not None and ratio <= REGISTER_GROWTH,
        ))  # fmt: skip
    for read in (RESOLVE_STAGE, RESOLVE_LABEL):
        operation = read_op(read, PROCESS)
        local = largest.seconds("ours_local", operation) if largest else None
        checks.append(_check(
            f"{_READ_TEXT[read]} in a new process (local)", top, local, seconds_text,
            f"< {seconds_text(PROCESS_RESOLVE_SECONDS)}", local is not None and local < PROCESS_RESOLVE_SECONDS,
        ))  # fmt: skip
        requests = largest.most("ours_gcs", operation, "requests") if largest else None
        downloaded = largest.most("ours_gcs", operation, "downloaded") if largest else None
        both = None if requests is None or downloaded is None else (requests, downloaded)
        checks.append(_Target(
            f"{_READ_TEXT[read]} in a new process (GCS requests / KB downloaded)", top,
            f"{requests_text(both[0])} / {_kb(both[1])} KB" if both else NOT_MEASURED,
            f"≤ {RESOLVE_REQUESTS} / ≤ {RESOLVE_KB} KB",
            NONE if both is None else (MET if both[0] <= RESOLVE_REQUESTS and both[1] <= RESOLVE_KB * 1000 else MISSED),
        ))  # fmt: skip
    listing = largest.seconds("ours_local", read_op(LIST, FRESH)) if largest else None
    checks.append(_check(
        "list every version with stage and metrics, fresh reader (local)", top, listing, seconds_text,
        f"< {seconds_text(LIST_SECONDS)}", listing is not None and listing < LIST_SECONDS,
    ))  # fmt: skip
    for result in results.sizes:
        versions = result.size + 2 * results.settings.rounds
        budget = math.ceil(versions / 1000) + 2
        requests = max(
            (r for way in WAYS if (r := result.most("ours_gcs", read_op(LIST, way), "requests")) is not None),
            default=None,
        )  # fmt: skip
        checks.append(_check(
            "list every version (GCS requests, any reader)", f"{result.size:,}", requests, requests_text,
            f"≤ {budget} (ceil(N/1000) + 2)", requests is not None and requests <= budget,
        ))  # fmt: skip
    promotions = [r for s in results.sizes if (r := s.most("ours_gcs", PROMOTE, "requests")) is not None]
    checks.append(_check(
        "promote to production (GCS requests)", "every size", max(promotions) if promotions else None,
        requests_text, f"≤ {PROMOTE_REQUESTS}", bool(promotions) and max(promotions) <= PROMOTE_REQUESTS,
    ))  # fmt: skip
    at = results.at(COMPARISON_SIZE)
    for operation, label, faster in (
        (read_op(RESOLVE_STAGE, FRESH), "resolve production, fresh reader: MLflow ÷ ours (local)",
         FRESH_RESOLVE_FASTER),
        (read_op(LIST, FRESH), "list every version, fresh reader: MLflow ÷ ours (local)", FRESH_LIST_FASTER),
        (REGISTER_1MB, "register a 1 MB version: MLflow ÷ ours (local)", REGISTER_1MB_FASTER),
    ):  # fmt: skip
        ours, mlflow = (at.seconds(s, operation) if at else None for s in ("ours_local", "mlflow"))
        ratio = mlflow / ours if ours and mlflow else None
        checks.append(_check(
            label, f"{COMPARISON_SIZE}", ratio, ratio_text, f"≥ {faster:g}×", ratio is not None and ratio >= faster
        ))  # fmt: skip
    big = results.big
    ratio = min(big["ours"]) / min(big["baseline"]) if big else None
    checks.append(_check(
        f"register a {results.settings.big_mb or 'big'} MB version ÷ (`cp -r` + `sha256sum` of the copy), local", "–",
        ratio, ratio_text, f"≤ {BIG_MAX_RATIO:g}×", ratio is not None and ratio <= BIG_MAX_RATIO,
    ))  # fmt: skip
    return [[c.label, c.at, c.measured, c.target, c.met] for c in checks]


def render(results: ScaleResults) -> str:
    """The whole printed report: the workload, a table per size, the skipped sizes and the targets."""
    s = results.settings
    systems = ", ".join(s.systems)
    mlflow = f" (MLflow {results.mlflow_version}: sqlite store, local artifacts)" if results.mlflow_version else ""
    rounds = f"{s.rounds} round{'s' if s.rounds > 1 else ''}"
    parts = [
        f"Workload: one model grown through the public API to {', '.join(f'{n:,}' for n in s.sizes)} versions, each "
        f"4 KB (3 files) with 8 metrics, 10 params, 3 tags, lineage and a description; systems: {systems}{mlflow}. "
        f"At each size, {rounds}, the systems taking turns in alternating order, os.sync() before each turn; a "
        f"turn registers a 4 KB and a 1 MB version, promotes the 4 KB one, and reads. Warm: one registry object "
        f"(MLflow: one client) for every call; fresh reader: a new one per call, as each CLI call and pipeline step "
        f"makes; both up to {s.reads} calls (or {s.read_seconds:g} s) per turn, the objects that existed before "
        f"the turn frozen (gc.freeze), so no system pays for collecting another's. New process: one call per turn in "
        f"a new Python process, timed after its imports and a first request (ours: list-models; MLflow: "
        f"search_registered_models). Times are medians; GCS counts are the most any one call sent (requests) or "
        f"downloaded (KB), counted on the client's session. {os.cpu_count()} CPUs, load average "
        f"{results.load[0]:.1f} before and {results.load[1]:.1f} after; the whole run took "
        f"{results.elapsed_seconds:.0f} s.",
    ]
    for result in results.sizes:
        parts += ["", size_heading(result, s.rounds), "", format_table(SIZE_COLUMNS, size_rows(result))]
    for skipped in results.skipped:
        parts += ["", (
            f"{int(skipped['size']):,} versions and more: {SYSTEM_NAMES[skipped['system']]} skipped; growing there "
            f"would take about {skipped['estimate_minutes']:.0f} min (extrapolated from its growth so far), more than "
            f"BENCH_SCALE_MAX_GROW_MINUTES={s.max_grow_minutes:g}: raise it to measure this size."
        )]  # fmt: skip
    if results.growth:
        fits = "; ".join(
            f"{SYSTEM_NAMES[name]} {a * 1000:.3g} ms + {b * 1e6:.3g} ms per 1,000 versions"
            for name, (a, b) in results.growth.items()
        )  # fmt: skip
        parts += ["", f"Registration cost while growing (least-squares fit): {fits}."]
    parts += [
        "",
        TARGETS_TITLE,
        "",
        format_table(TARGET_COLUMNS, target_rows(results)),
        "",
        f"Concurrent registration (32 processes × 20, nothing lost) is checked by {CONCURRENCY_TEST}, not here.",
    ]
    return "\n".join(parts)


def to_json(results: ScaleResults) -> dict[str, Any]:
    """The results (every sample, and the tables as printed) as a JSON-ready dict."""
    return {
        "settings": results.settings.as_dict(),
        "mlflow_version": results.mlflow_version,
        "sizes": [
            {
                "size": r.size,
                "grow_seconds": r.grow_seconds,
                "metadata_bytes": r.metadata_bytes,
                "samples": r.samples,
                "table": {
                    "title": size_heading(r, results.settings.rounds),
                    "columns": list(SIZE_COLUMNS),
                    "rows": size_rows(r),
                },
            }  # fmt: skip
            for r in results.sizes
        ],
        "skipped": results.skipped,
        "growth_fit": {name: {"seconds": a, "seconds_per_version": b} for name, (a, b) in results.growth.items()},
        "big": results.big,
        "targets": {"title": TARGETS_TITLE, "columns": list(TARGET_COLUMNS), "rows": target_rows(results)},
        "elapsed_seconds": results.elapsed_seconds,
        "load_average": list(results.load),
    }


def write_json(results: ScaleResults, path: Path) -> None:
    """Write `to_json(results)` to `path` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n")
