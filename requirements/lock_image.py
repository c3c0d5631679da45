"""Write the image's dependency lock (``name==version --hash=sha256:...``) from a ``pip install --report`` file.

Run by `make lock`: pip resolves pyproject's [all] extra (plus the build backend) on this Linux x86_64 machine with
Python 3.11, the platform of the image, and this script keeps what it would install, leaving out the project.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HEADER = """\
# The image's dependencies: pyproject.toml's [all] extra plus setuptools and wheel, resolved for Linux x86_64 and
# Python 3.11 (the image's platform), with the hash of each file. Written by `make lock`; do not edit by hand.
"""


def lock_lines(report: dict[str, object]) -> list[str]:
    """Return one ``name==version --hash=sha256:HEX`` line per package the report installs (not local folders)."""
    lines = []
    for item in report["install"]:  # type: ignore[attr-defined]
        download = item["download_info"]
        if "dir_info" in download:  # the project itself: the Dockerfile installs it from its source
            continue
        digest = download["archive_info"]["hashes"]["sha256"]
        name = re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower()  # the normalized name (PEP 503)
        lines.append(f"{name}=={item['metadata']['version']} --hash=sha256:{digest}")
    return sorted(lines)


def main(argv: list[str]) -> int:
    """Read the report at argv[0] and write the lock to argv[1]."""
    report_path, lock_path = (Path(a) for a in argv)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    lock_path.write_text(HEADER + "\n".join(lock_lines(report)) + "\n", encoding="utf-8")
    print(f"wrote {lock_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
