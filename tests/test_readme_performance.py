"""The README's performance tables are `make bench` output: same titles, columns, rows and cell formats.

The column names, row labels and formatting come from ``benchmarks/report.py`` (imported, not run), so renaming a
column or changing the workload without updating the README fails here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `benchmarks` is a top-level folder of the repo, not an installed package

from benchmarks.report import (  # noqa: E402
    MET,
    MISSED,
    MLFLOW_COLUMNS,
    MLFLOW_TITLE,
    NONE,
    RAW_COLUMNS,
    RAW_TITLE,
    format_table,
    mlflow_labels,
    parse_table,
    raw_labels,
)
from benchmarks.settings import Settings  # noqa: E402

DURATION = re.compile(r"^(\d+(?:\.\d+)?) (ms|s)$")
RATIO = re.compile(r"^(\d+(?:\.\d+)?)×$")
TARGET_RATIO = re.compile(r"^≥ (\d+(?:\.\d+)?)×$")


def _section() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"^## Performance\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Performance' section"
    return match.group(1)


def _table_after(section: str, title: str) -> tuple[str, list[str], list[list[str]]]:
    """Return the verbatim table that follows `title`, its header and its rows."""
    assert title in section, f"the performance section lacks the table title {title!r}"
    rest = section[section.index(title) + len(title) :]
    lines = rest.strip("\n").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)
    header, rows = parse_table("\n".join(block))
    return "\n".join(block), header, rows


def _seconds(cell: str) -> float:
    match = DURATION.match(cell)
    assert match, f"{cell!r} is not a duration as the benchmark prints them"
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def test_mlflow_table_matches_the_benchmark_output() -> None:
    block, header, rows = _table_after(_section(), MLFLOW_TITLE)
    assert tuple(header) == MLFLOW_COLUMNS
    assert [row[0] for row in rows] == mlflow_labels(Settings())
    assert block == format_table(header, rows), "the table is not laid out as the benchmark prints it"
    column = {name: index for index, name in enumerate(MLFLOW_COLUMNS)}
    for row in rows:
        ours, mlflow = _seconds(row[column["ours (local)"]]), _seconds(row[column["MLflow"]])
        _seconds(row[column["ours (GCS)"]])
        ratio = RATIO.match(row[column["MLflow ÷ ours (local)"]])
        assert ratio, row
        assert float(ratio.group(1)) == pytest.approx(mlflow / ours, rel=0.03), f"ratio does not fit the times: {row}"
        requests = row[column["GCS requests/op"]]
        assert re.fullmatch(r"\d+(\.\d)?", requests), row
        assert row[column["met"]] in (MET, MISSED, NONE)
        target = TARGET_RATIO.match(row[column["target"]])
        if target:
            met = float(ratio.group(1)) >= float(target.group(1))
            budget = row[column["GCS budget"]]
            if budget != NONE:
                met = met and float(requests) <= float(budget.removeprefix("≤ "))
            assert row[column["met"]] == (MET if met else MISSED), f"'met' does not fit the numbers: {row}"


def test_raw_table_matches_the_benchmark_output() -> None:
    block, header, rows = _table_after(_section(), RAW_TITLE)
    assert tuple(header) == RAW_COLUMNS
    assert [row[0] for row in rows] == raw_labels(Settings())
    assert block == format_table(header, rows), "the table is not laid out as the benchmark prints it"
    column = {name: index for index, name in enumerate(RAW_COLUMNS)}
    for row in rows:
        for name in ("ours (local)", "baseline (local)", "ours (GCS)", "baseline (GCS)"):
            _seconds(row[column[name]])
        assert row[column["met"]] in (MET, MISSED)
    big, cold = rows
    for side in ("local", "GCS"):
        ratio = RATIO.match(big[column[f"ours vs baseline ({side})"]])
        assert ratio, big
        expected = _seconds(big[column[f"ours ({side})"]]) / _seconds(big[column[f"baseline ({side})"]])
        assert float(ratio.group(1)) == pytest.approx(expected, rel=0.03), big
        extra = re.fullmatch(r"\+(-?\d+\.\d\d) s", cold[column[f"ours vs baseline ({side})"]])
        assert extra, cold
        expected = _seconds(cold[column[f"ours ({side})"]]) - _seconds(cold[column[f"baseline ({side})"]])
        assert float(extra.group(1)) == pytest.approx(expected, abs=0.011), cold


def test_readme_says_how_to_reproduce() -> None:
    assert "make bench" in _section()


def test_readme_says_how_to_run_the_scale_benchmark() -> None:
    section = _section()
    assert "make bench-scale" in section
    assert "BENCH_SCALE_SIZES" in section


def test_table_format_round_trips() -> None:
    rows = [["a", "1.00 ms"], ["longer label", "2 s"]]
    header, parsed = parse_table(format_table(("operation", "time"), rows))
    assert header == ["operation", "time"]
    assert parsed == rows


def test_serving_table_matches_the_benchmark_output() -> None:
    from benchmarks.serve.report import COLUMNS, LABELS

    section = _section()
    assert "make bench-serve" in section
    _, header, rows = _table_after(section, "    make bench-serve\n")
    assert tuple(header) == COLUMNS
    assert [row[0] for row in rows] == list(LABELS)
    assert all(row[-1] in ("PASS", "MISS") for row in rows[:-1])
