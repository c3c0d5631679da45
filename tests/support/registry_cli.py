"""The CLI as users type it, `python -m registry_core --registry ROOT ...`, run in a subprocess as carol."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class RegistryCli:
    """Run commands on one registry root; each call checks the exit code and returns the finished process.

    Args:
        root: The registry root passed as ``--registry``.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.env = os.environ | {"MODEL_REGISTRY_USER": "carol", "COLUMNS": "250"}
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), self.env.get("PYTHONPATH", "")) if p)

    def __call__(
        self, *args: str, expect: int = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "registry_core", "--registry", self.root, *args],
            capture_output=True, text=True, env=env or self.env, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == expect, f"{args}: {result.stdout}{result.stderr}"
        return result
