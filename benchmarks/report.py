"""The benchmark's output: two plain-text (Markdown) tables, their column names, and the JSON results file.

The README's performance section shows these tables as printed; ``tests/test_readme_performance.py`` checks it
against the column names and row labels defined here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.measurements import BIG, CONCURRENT, LIST, PROMOTE, RAW_BIG, REGISTER, RESOLVE, Measurement
from benchmarks.settings import Settings

NONE = "–"
MET, MISSED = "yes", "NO"

MLFLOW_TITLE = "Our registry vs MLflow's model registry (sqlite store, local artifacts)"
MLFLOW_COLUMNS: tuple[str, ...] = (
    "operation",
    "ours (local)",
    "ours (GCS)",
    "MLflow",
    "MLflow ÷ ours (local)",
    "target",
    "GCS requests/op",
    "GCS budget",
    "met",
)
RAW_TITLE = "Our registry vs doing it by hand"
RAW_COLUMNS: tuple[str, ...] = (
    "operation",
    "baseline",
    "ours (local)",
    "baseline (local)",
    "ours vs baseline (local)",
    "ours (GCS)",
    "baseline (GCS)",
    "ours vs baseline (GCS)",
    "GCS requests (ours / baseline)",
    "target",
    "met",
)

# Targets of issue 5 and the GCS request budget of DESIGN.md.
REGISTER_FASTER, RESOLVE_FASTER, LIST_FASTER = 4.0, 10.0, 5.0
RESOLVE_REQUESTS, LIST_REQUESTS, PROMOTE_REQUESTS = 2, 2, 3
BIG_MAX_RATIO = 1.3
COLD_START_MAX_EXTRA = 0.35


@dataclass(frozen=True)
class BenchResults:
    """Everything one run measured.

    Attributes:
        settings: The workload.
        mlflow_version: MLflow's version.
        systems: "ours_local", "ours_gcs" and "mlflow" -> operation -> measurement.
        cold_starts: "cli_local", "cli_gcs" and "bare" -> median seconds.
        elapsed_seconds: Wall time of the whole run.
        load: The machine's 1-minute load average before and after the run (other work skews the times).
    """

    settings: Settings
    mlflow_version: str
    systems: dict[str, dict[str, Measurement]]
    cold_starts: dict[str, float]
    elapsed_seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


def mlflow_labels(settings: Settings) -> list[str]:
    """Return the row labels (first column) of the MLflow table."""
    return [
        "register a 1 MB version (5 files)",
        "promote to production",
        "resolve the production version",
        f"list {settings.versions} versions",
        f"{settings.processes}×{settings.per_process} concurrent registrations (wall)",
    ]


def raw_labels(settings: Settings) -> list[str]:
    """Return the row labels (first column) of the raw-baseline table."""
    return [f"register a {settings.big_mb} MB version (5 files)", "`model-registry list-models` cold start"]


def seconds_text(seconds: float) -> str:
    """Format a duration with 3 significant digits: "0.153 ms", "45.0 ms", "2.31 s"."""
    if seconds >= 1:
        return f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s"
    milliseconds = seconds * 1000
    return f"{milliseconds:.3g} ms" if milliseconds >= 1 else f"{milliseconds:.3f} ms"


def ratio_text(ratio: float) -> str:
    """Format a ratio: "6.2×"."""
    return f"{ratio:.3g}×" if ratio < 100 else f"{ratio:.0f}×"


def requests_text(requests: float | None) -> str:
    """Format a request count per operation (whole numbers without decimals)."""
    if requests is None:
        return NONE
    return f"{requests:.0f}" if float(requests).is_integer() else f"{requests:.1f}"


def _met(*checks: bool) -> str:
    return MET if all(checks) else MISSED


def mlflow_rows(results: BenchResults) -> list[list[str]]:
    """Return the rows of the MLflow table: per operation, times, the ratio, targets and GCS requests."""
    local, gcs, mlflow = (results.systems[k] for k in ("ours_local", "ours_gcs", "mlflow"))
    # operation -> (minimum speed-up over MLflow, GCS request budget)
    targets: dict[str, tuple[float | None, int | None]] = {
        REGISTER: (REGISTER_FASTER, None),
        PROMOTE: (None, PROMOTE_REQUESTS),
        RESOLVE: (RESOLVE_FASTER, RESOLVE_REQUESTS),
        LIST: (LIST_FASTER, LIST_REQUESTS),
        CONCURRENT: (None, None),
    }
    rows = []
    for label, (operation, (faster, budget)) in zip(mlflow_labels(results.settings), targets.items(), strict=True):
        ratio = mlflow[operation].seconds / local[operation].seconds
        requests = gcs[operation].requests
        checks = [ratio >= faster] if faster is not None else []
        checks += [requests is not None and requests <= budget] if budget is not None else []
        rows.append([
            label,
            seconds_text(local[operation].seconds),
            seconds_text(gcs[operation].seconds),
            seconds_text(mlflow[operation].seconds),
            ratio_text(ratio),
            f"≥ {faster:g}×" if faster is not None else NONE,
            requests_text(requests),
            f"≤ {budget}" if budget is not None else NONE,
            _met(*checks) if checks else NONE,
        ])  # fmt: skip
    return rows


def raw_rows(results: BenchResults) -> list[list[str]]:
    """Return the rows of the raw-baseline table: the big registration and the CLI's cold start."""
    local, gcs = results.systems["ours_local"], results.systems["ours_gcs"]
    big_local = local[BIG].seconds / local[RAW_BIG].seconds
    big_gcs = gcs[BIG].seconds / gcs[RAW_BIG].seconds
    cold = results.cold_starts
    extra_local, extra_gcs = cold["cli_local"] - cold["bare"], cold["cli_gcs"] - cold["bare"]
    labels = raw_labels(results.settings)
    return [
        [
            labels[0], "`cp -r` + `sha256sum` (local), raw blob uploads (GCS)",
            seconds_text(local[BIG].seconds), seconds_text(local[RAW_BIG].seconds), ratio_text(big_local),
            seconds_text(gcs[BIG].seconds), seconds_text(gcs[RAW_BIG].seconds), ratio_text(big_gcs),
            f"{requests_text(gcs[BIG].requests)} / {requests_text(gcs[RAW_BIG].requests)}",
            f"≤ {BIG_MAX_RATIO:g}×", _met(big_local <= BIG_MAX_RATIO, big_gcs <= BIG_MAX_RATIO),
        ],
        [
            labels[1], "`python -c pass`",
            seconds_text(cold["cli_local"]), seconds_text(cold["bare"]), f"+{extra_local:.2f} s",
            seconds_text(cold["cli_gcs"]), seconds_text(cold["bare"]), f"+{extra_gcs:.2f} s",
            NONE, f"≤ +{COLD_START_MAX_EXTRA:g} s (local)", _met(extra_local <= COLD_START_MAX_EXTRA),
        ],
    ]  # fmt: skip


def format_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a Markdown table with padded columns (readable as plain text, pasteable into the README)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def parse_table(text: str) -> tuple[list[str], list[list[str]]]:
    """Parse the first Markdown table in `text` into its header and rows (the inverse of format_table)."""
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    header, _separator, *rows = table
    return header, rows


def render(results: BenchResults) -> str:
    """Return the whole printed report: the workload and both tables."""
    s = results.settings
    workload = (
        f"Workload: one model; {s.versions} versions of ~1 MB (5 files) registered one after another; "
        f"{s.promotions} promotions to production; {s.resolves} resolves of the production version; "
        f"{s.lists} listings of all versions; {s.processes} processes × {s.per_process} concurrent registrations; "
        f"one {s.big_mb} MB version. Times are medians per operation (the big registration and its baseline: "
        f"the faster of {s.big_rounds} alternating rounds; cold starts: median of {s.cold_runs} runs). "
        f"MLflow {results.mlflow_version}. {os.cpu_count()} CPUs, load average {results.load[0]:.1f} before and "
        f"{results.load[1]:.1f} after; the whole run took {results.elapsed_seconds:.0f} s."
    )
    parts = [
        workload,
        "",
        MLFLOW_TITLE,
        "",
        format_table(MLFLOW_COLUMNS, mlflow_rows(results)),
        "",
        RAW_TITLE,
        "",
        format_table(RAW_COLUMNS, raw_rows(results)),
    ]
    return "\n".join(parts)


def to_json(results: BenchResults) -> dict[str, Any]:
    """Return the results (raw measurements and the tables as printed) as a JSON-ready dict."""
    return {
        "settings": results.settings.as_dict(),
        "mlflow_version": results.mlflow_version,
        "systems": {name: {op: m.as_dict() for op, m in ops.items()} for name, ops in results.systems.items()},
        "cold_starts": results.cold_starts,
        "elapsed_seconds": results.elapsed_seconds,
        "load_average": list(results.load),
        "tables": [
            {"title": MLFLOW_TITLE, "columns": list(MLFLOW_COLUMNS), "rows": mlflow_rows(results)},
            {"title": RAW_TITLE, "columns": list(RAW_COLUMNS), "rows": raw_rows(results)},
        ],
    }


def write_json(results: BenchResults, path: Path) -> None:
    """Write `to_json(results)` to `path` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n")
