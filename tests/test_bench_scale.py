"""`make bench-scale` (benchmarks/scale) runs end to end at tiny sizes, so the harness cannot rot unnoticed.

The full run (sizes up to 10,000, MLflow beside us) takes many minutes and is not part of the suite; this one grows
our registry on both backends to 5 and then 10 versions, one round each, with a 2 MB big registration, no MLflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `benchmarks` is a top-level folder of the repo, not an installed package

from benchmarks.report import MET, MISSED, NONE, parse_table  # noqa: E402
from benchmarks.scale.__main__ import grow_estimate  # noqa: E402
from benchmarks.scale.operations import READS, WAYS, read_op  # noqa: E402
from benchmarks.scale.report import (  # noqa: E402
    SIZE_COLUMNS,
    TARGET_COLUMNS,
    TARGETS_TITLE,
    ScaleResults,
    operation_labels,
    render,
)
from benchmarks.scale.settings import ScaleSettings  # noqa: E402


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every Markdown table of `text`, parsed."""
    blocks, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(parse_table("\n".join(current)))
            current = []
    return blocks


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    results = tmp_path_factory.mktemp("bench-scale") / "scale.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BENCH_SCALE_SIZES": "5,10",
        "BENCH_SCALE_ROUNDS": "1",
        "BENCH_SCALE_READS": "3",
        "BENCH_SCALE_SYSTEMS": "ours_local,ours_gcs",
        "BENCH_SCALE_BIG_MB": "2",
        "BENCH_SCALE_BIG_ROUNDS": "1",
        "BENCH_SCALE_RESULTS": str(results),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout, json.loads(results.read_text())


def test_tiny_run_prints_a_table_per_size_with_every_operation(tiny_run: tuple[str, dict[str, object]]) -> None:
    stdout, _ = tiny_run
    tables = _tables(stdout)
    assert len(tables) == 3  # sizes 5 and 10, then the targets
    column = {name: index for index, name in enumerate(SIZE_COLUMNS)}
    for header, rows in tables[:2]:
        assert tuple(header) == SIZE_COLUMNS
        assert [row[0] for row in rows] == list(operation_labels().values())
        for row in rows:
            assert row[column["ours (local)"]] != NONE
            assert row[column["ours (GCS)"]] != NONE
            assert row[column["MLflow"]] == NONE  # MLflow did not run
        resolve = rows[list(operation_labels()).index(read_op(READS[0], WAYS[-1]))]
        assert int(resolve[column["GCS requests/op"]]) >= 1
        assert float(resolve[column["GCS KB/op"]]) > 0
    assert "10 versions (measured from 10 to 12" in stdout
    header, rows = tables[2]
    assert TARGETS_TITLE in stdout
    assert tuple(header) == TARGET_COLUMNS
    assert all(row[-1] in (MET, MISSED, NONE) for row in rows)
    big = rows[-1]
    assert big[0].startswith("register a 2 MB version")
    assert big[-1] in (MET, MISSED)


def test_tiny_run_writes_every_sample_to_the_json_results(tiny_run: tuple[str, dict[str, object]]) -> None:
    _, results = tiny_run
    sizes = results["sizes"]
    assert isinstance(sizes, list)
    assert [entry["size"] for entry in sizes] == [5, 10]
    for entry in sizes:
        assert set(entry["samples"]) == {"ours_local", "ours_gcs"}
        for system, operations in entry["samples"].items():
            assert set(operations) == set(operation_labels())
            for samples in operations.values():
                assert samples
                assert all(sample["seconds"] > 0 for sample in samples)
            counted = [s for key, samples in operations.items() if key != "cli_get_model" for s in samples]
            if system == "ours_gcs":
                assert all(s["requests"] >= 1 and s["downloaded"] >= 0 for s in counted)
            else:
                assert not any("requests" in s for s in counted)
        assert entry["metadata_bytes"]["ours_local"] > 0
        assert entry["grow_seconds"]["ours_local"] > 0
    big = results["big"]
    assert isinstance(big, dict)
    assert len(big["ours"]) == len(big["baseline"]) == 1


def test_growth_estimate_follows_a_cost_that_grows_with_the_size() -> None:
    # 1 ms + 0.01 ms per version already there: growing from 1,000 to 10,000 sums that over each registration.
    history = [(n, 0.001 + 0.00001 * n) for n in range(0, 1000, 10)]
    expected = sum(0.001 + 0.00001 * n for n in range(1000, 10_000))
    assert grow_estimate(history, 1000, 10_000) == pytest.approx(expected, rel=0.001)


def test_growth_estimate_of_a_flat_cost_is_linear() -> None:
    history = [(n, 0.003) for n in range(0, 1000, 10)]
    assert grow_estimate(history, 1000, 10_000) == pytest.approx(27.0)


def test_a_skipped_size_is_reported_with_the_variable_that_allows_it() -> None:
    results = ScaleResults(ScaleSettings(), skipped=[{"size": 10_000, "system": "ours_gcs", "estimate_minutes": 47.4}])
    text = render(results)
    assert "10,000 versions and more: ours (GCS) skipped" in text
    assert "about 47 min" in text
    assert "BENCH_SCALE_MAX_GROW_MINUTES=20" in text


def test_traffic_counter_counts_requests_and_the_bytes_of_each_body(gcs_emulator: object, gcs_bucket: str) -> None:
    from benchmarks.gcs import traffic_client

    client, counter = traffic_client(gcs_emulator.url)  # type: ignore[attr-defined]
    bucket = client.bucket(gcs_bucket)
    payload = os.urandom(300_000)
    bucket.blob("a.bin").upload_from_string(payload)
    # Under the full suite's load the emulator now and then fails a request and the client retries it (counted, as
    # it should be): one of a few downloads is a clean one.
    seen = []
    for _ in range(3):
        with counter.window() as traffic:
            assert bucket.blob("a.bin").download_as_bytes() == payload
        seen.append((traffic.requests, traffic.downloaded))
        if seen[-1] == (1, len(payload)):
            break
    assert seen[-1] == (1, len(payload)), seen
    assert all(requests >= 1 and downloaded >= len(payload) for requests, downloaded in seen), seen
    with counter.window() as nothing:
        pass
    assert (nothing.requests, nothing.downloaded) == (0, 0)
