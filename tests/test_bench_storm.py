"""`make bench-concurrency` (benchmarks/storm.py) runs and reports, at a size the suite affords: 3 processes × 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_storm_reports_nothing_lost() -> None:
    env = os.environ | {"STORM_PROCESSES": "3", "STORM_PER_PROCESS": "2", "STORM_BACKENDS": "local"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run(  # noqa: S603 - our own benchmark
        [sys.executable, "-m", "benchmarks.storm"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    header, rule, row = result.stdout.strip().splitlines()
    assert [cell.strip() for cell in header.strip("|").split("|")][:2] == ["backend", "processes × registrations"]
    assert set(rule) <= {"|", "-"}
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:2] == ["local", "3 × 2"]
    assert cells[-2:] == ["0", "ok"]
