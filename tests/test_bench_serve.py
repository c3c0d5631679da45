"""`make bench-serve` (benchmarks/serve) runs end to end in a tiny configuration: 2 clients, one 1 s round each.

The full run (8 clients, three 20 s rounds per server) is not part of the suite. This one trains the eyewear model
into its own temporary folder (the benchmark keeps it there for later runs), starts both servers as processes and
loads them from a third, so every part of the harness runs; the numbers it measures mean nothing at this size.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `benchmarks` is a top-level folder of the repo, not an installed package

from benchmarks.report import parse_table  # noqa: E402
from benchmarks.serve.__main__ import turns  # noqa: E402
from benchmarks.serve.report import COLUMNS, FAILED, LABELS, MISS, PASS, percentile  # noqa: E402

pytestmark = pytest.mark.needs_tensorflow

_DURATION = re.compile(r"^([\d.]+) (ms|s)$")


def test_a_tiny_run_prints_both_servers_numbers_their_ratios_and_verdicts(tmp_path: Path) -> None:
    env = os.environ | {
        "PYTHONPATH": str(REPO),
        "TMPDIR": str(tmp_path),  # the trained model's cache: trained here, not taken from an earlier run
        "BENCH_SERVE_CLIENTS": "2",
        "BENCH_SERVE_SECONDS": "1",
        "BENCH_SERVE_ROUNDS": "1",
        "BENCH_SERVE_WARMUP": "0.5",
        "BENCH_SERVE_INSTANCES": "3",
    }
    completed = subprocess.run(  # noqa: S603 - our own benchmark
        [sys.executable, "-m", "benchmarks.serve"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "2 clients" in completed.stdout
    assert "3 instances" in completed.stdout
    assert "CPUs shared by the server under load, the idle one and the load generator" in completed.stdout
    header, rows = parse_table(completed.stdout)
    assert tuple(header) == COLUMNS
    assert [row[0] for row in rows] == list(LABELS)
    throughput, p50, p99, failed = rows
    assert float(throughput[1]) > 0
    assert float(throughput[2]) > 0
    for row in (p50, p99):
        for cell in row[1:3]:
            found = _DURATION.match(cell)
            assert found, cell
            assert float(found.group(1)) > 0
    for row in (throughput, p50, p99):
        assert float(row[3].rstrip("×")) > 0
        assert row[4] == "≤ 1.2×"
        assert row[5] in (PASS, MISS)
    assert failed == [FAILED, "0", "0", "–", "0", PASS]
    assert any(path.name == "saved_model.pb" for path in tmp_path.rglob("saved_model.pb"))  # kept for the next run


def test_the_servers_take_turns_each_going_first_as_often() -> None:
    assert turns(1) == ["ours", "floor"]
    assert turns(3) == ["ours", "floor", "floor", "ours", "ours", "floor"]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
