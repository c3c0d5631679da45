"""The artifact folders of the workload: written once, then registered by every system (the same bytes)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Five files like a small TensorFlow SavedModel; sizes add up to about 1 MB.
SMALL_LAYOUT: tuple[tuple[str, int], ...] = (
    ("saved_model.pb", 180_000),
    ("fingerprint.pb", 20_000),
    ("variables/variables.index", 40_000),
    ("variables/variables.data-00000-of-00001", 740_000),
    ("assets/vocab.txt", 20_000),
)
_BIG_FILES = 5
_BLOCK = 16 << 20  # one random block, written over and over with a counter in front (fast, never deduplicable)


@dataclass(frozen=True)
class Workload:
    """The folders to register.

    Attributes:
        sequential: One folder per version registered one after another.
        concurrent: Folders of the concurrent registrations, one list per process.
        big: The one big model.
    """

    sequential: list[Path]
    concurrent: list[list[Path]]
    big: Path


def write_small_folder(folder: Path, seed: int) -> Path:
    """Write a ~1 MB folder of 5 files whose bytes are unique to `seed`."""
    for index, (relative, size) in enumerate(SMALL_LAYOUT):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"{seed}:{index}:".encode()
        path.write_bytes(header + os.urandom(size - len(header)))
    return folder


def write_big_folder(folder: Path, megabytes: int) -> Path:
    """Write a folder of 5 files that add up to `megabytes` MB, fast (one random block repeated, each copy tagged)."""
    block = os.urandom(_BLOCK)
    per_file = megabytes * 1_000_000 // _BIG_FILES
    counter = 0
    for index in range(_BIG_FILES):
        path = folder / ("variables" if index else "") / f"part-{index}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            left = per_file
            while left > 0:
                chunk = counter.to_bytes(8, "big") + block
                handle.write(memoryview(chunk)[: min(left, len(chunk))])
                left -= len(chunk)
                counter += 1
    return folder


def write_workload(root: Path, versions: int, processes: int, per_process: int, big_mb: int) -> Workload:
    """Write every folder of the workload under `root`."""
    sequential = [write_small_folder(root / "small" / f"v{i:04d}", i) for i in range(versions)]
    concurrent = [
        [write_small_folder(root / "concurrent" / f"p{p}-{k}", 100_000 + p * 1_000 + k) for k in range(per_process)]
        for p in range(processes)
    ]
    return Workload(sequential, concurrent, write_big_folder(root / "big", big_mb))
