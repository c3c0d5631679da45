"""The README's library walk-through (examples/quickstart.py) runs as a new user would run it, twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


def test_the_quickstart_registers_promotes_and_compares_on_the_default_registry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MODEL_REGISTRY_ROOT"} | {"XDG_DATA_HOME": str(tmp_path)}

    first = subprocess.run([sys.executable, str(QUICKSTART)], env=env, capture_output=True, text=True, timeout=120)
    second = subprocess.run([sys.executable, str(QUICKSTART)], env=env, capture_output=True, text=True, timeout=120)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert f"registry: {(tmp_path / 'model-registry').as_uri()}" in first.stdout
    assert "v1 is now in production" in first.stdout
    assert "champion v1 vs challenger v2" in second.stdout
