"""The prediction logger's bounds, the log layout, feedback checks and the reader's windows, on local storage."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry_core.errors import InvalidInputError
from registry_core.monitoring.feedback import parse_feedback, write_feedback
from registry_core.monitoring.log_layout import window_folders
from registry_core.monitoring.log_reader import PredictionLogReader, join, latest_feedback
from registry_core.monitoring.log_records import FeedbackRecord, new_prediction_ids, top_class
from registry_core.monitoring.prediction_log import LogDestination, PredictionLogger, PredictionLogSettings
from registry_core.storage import LocalStorage

ENDPOINT = "shop"
OUTPUT = {"classes": ["round", "aviator"], "probabilities": [0.2, 0.8], "frame_style": "aviator"}


class ListingStorage(LocalStorage):
    """Local storage that remembers the prefixes it was asked to list."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.listed: list[str] = []

    def list(self, prefix: str) -> list[str]:
        self.listed.append(prefix)
        return super().list(prefix)


def log(logger: PredictionLogger, count: int = 1) -> list[str]:
    ids = new_prediction_ids(count)
    logger.record(
        ids, [{"x": i} for i in range(count)], [OUTPUT] * count,
        model="eyewear", version="v1", deployed_model_id="d1", latency_ms=1.5,
    )  # fmt: skip
    return ids


def since() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def test_ids_are_unique_time_ordered_uuid7() -> None:
    ids = new_prediction_ids(1000)
    assert len(set(ids)) == 1000
    assert {uuid.UUID(i).version for i in ids} == {7}
    assert abs((uuid.UUID(ids[0]).int >> 80) - datetime.now(UTC).timestamp() * 1000) < 60_000


def test_top_class_is_the_best_scored_class_name() -> None:
    assert top_class(OUTPUT) == "aviator"
    assert top_class({"classes": ["a", "b"], "scores": [0.9, 0.1]}) == "a"
    assert top_class({"probabilities": [0.1, 0.9]}) is None  # no class names
    assert top_class([0.1, 0.9]) is None


def test_a_full_batch_is_written_at_once_and_read_back(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    logger = PredictionLogger(storage, ENDPOINT, PredictionLogSettings(batch_records=3, flush_seconds=60))
    ids = log(logger, 3)
    assert logger.flush(5)  # the writer is already at it: a full batch does not wait for flush_seconds
    records = list(PredictionLogReader(storage, ENDPOINT).predictions(since()))
    assert [r.prediction_id for r in records] == ids
    assert records[0].predicted_class == "aviator"
    assert logger.stats()["written"] == 3
    logger.close()


def test_a_full_queue_and_the_hourly_cap_drop_and_count(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    settings = PredictionLogSettings(queue_records=4, batch_records=100, flush_seconds=60, max_records_per_hour=1000)
    queued = PredictionLogger(storage, ENDPOINT, settings)
    for _ in range(6):
        log(queued, 1)
    assert (queued.stats()["logged"], queued.stats()["dropped"]) == (4, 2)
    queued.close()  # writes what waits
    assert len(list(PredictionLogReader(storage, ENDPOINT).predictions(since()))) == 4

    capped = PredictionLogger(storage, "other", PredictionLogSettings(max_records_per_hour=3, flush_seconds=60))
    log(capped, 2)
    log(capped, 2)
    assert (capped.stats()["logged"], capped.stats()["overHourlyCap"]) == (2, 2)
    capped.close()


def test_a_sample_rate_keeps_that_share_of_requests(tmp_path: Path) -> None:
    values = iter([0.1, 0.5, 0.29, 0.9])
    logger = PredictionLogger(
        LocalStorage(tmp_path), ENDPOINT, PredictionLogSettings(sample_rate=0.3), rng=lambda: next(values)
    )
    for _ in range(4):
        log(logger, 2)
    assert (logger.stats()["logged"], logger.stats()["sampledOut"]) == (4, 4)
    logger.close()


def test_a_failed_write_is_counted_shown_without_details_and_logging_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "monitoring").write_text("in the way")
    storage = LocalStorage(tmp_path)
    logger = PredictionLogger(storage, ENDPOINT, PredictionLogSettings(flush_seconds=60))
    log(logger, 2)
    logger.flush(5)
    log(logger, 1)
    logger.flush(5)
    stats = logger.stats()
    assert (stats["failed"], stats["written"]) == (3, 0)
    # /health shows what failed and the error's class, never the storage's text (paths, buckets, accounts)
    assert stats["lastError"] in {
        f"cannot write prediction log{s}: StorageError (see the server log)" for s in ("s", " gaps")
    }
    assert str(tmp_path) not in stats["lastError"]
    lost = [r.getMessage() for r in caplog.records if "cannot write prediction logs of endpoint 'shop'" in r.message]
    assert len(lost) == 1  # the whole text, logged once
    assert str(tmp_path) in lost[0]
    (tmp_path / "monitoring").unlink()
    log(logger, 1)
    logger.flush(5)
    assert (logger.stats()["written"], "lastError" in logger.stats()) == (1, False)
    assert PredictionLogReader(storage, ENDPOINT).gaps(since())["failed"] == 3  # the loss is in the log too
    logger.close()


def test_records_wait_bounded_for_an_endpoint_found_later_and_take_its_sample_rate(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    answers: list[LogDestination | None] = [None, None]  # not found twice (the record is not written yet), then found
    asked: list[float] = []

    def resolve() -> LogDestination | None:
        asked.append(time.monotonic())
        return answers.pop(0) if answers else LogDestination(ENDPOINT, sample_rate=0.5)

    values = iter([0.7, 0.2, 0.9, 0.1])  # at 0.5: the 1st and 3rd waiting requests go; the one after is kept
    settings = PredictionLogSettings(flush_seconds=0.01, resolve_seconds=0.05, queue_records=3)
    logger = PredictionLogger(storage, None, settings, rng=lambda: next(values), resolve=resolve)
    ids = [log(logger) for _ in range(4)]  # the 4th does not fit the queue while nothing is written
    assert logger.stats()["dropped"] == 1
    deadline = time.monotonic() + 10
    while logger.endpoint is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logger.endpoint == ENDPOINT
    assert len(asked) == 3
    assert asked[2] - asked[1] >= 2 * (asked[1] - asked[0]) * 0.9  # growing delays, not a busy loop
    later = log(logger)
    assert logger.flush(5)
    logged = [r.prediction_id for r in PredictionLogReader(storage, ENDPOINT).predictions(since())]
    assert logged == ids[1] + later
    stats = logger.stats()
    assert (stats["sampledOut"], stats["written"], stats["endpoint"], stats["sampleRate"]) == (2, 2, ENDPOINT, 0.5)
    logger.close()


def test_records_of_an_endpoint_never_found_are_counted_lost_at_close(tmp_path: Path) -> None:
    logger = PredictionLogger(
        LocalStorage(tmp_path), None, PredictionLogSettings(flush_seconds=0.01), resolve=lambda: None
    )
    log(logger, 2)
    time.sleep(0.1)
    stats = logger.stats()
    assert (stats["pending"], stats["endpoint"]) == (2, None)
    assert "not known yet" in stats["lastError"]
    assert not logger.flush(0.2)
    logger.close()
    assert (logger.stats()["failed"], logger.stats()["written"]) == (2, 0)
    assert LocalStorage(tmp_path).list("monitoring/") == []


def test_records_after_close_are_dropped_not_queued(tmp_path: Path) -> None:
    logger = PredictionLogger(LocalStorage(tmp_path), ENDPOINT)
    logger.close()
    log(logger, 2)
    assert logger.stats()["dropped"] == 2


def test_large_batches_are_gzipped(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    logger = PredictionLogger(storage, ENDPOINT, PredictionLogSettings(compress_above=100))
    log(logger, 5)
    logger.close()
    (key,) = storage.list("monitoring/")
    assert key.endswith(".jsonl.gz")
    assert gzip.decompress(storage.read(key)).count(b"\n") == 5
    assert len(list(PredictionLogReader(storage, ENDPOINT).predictions(since()))) == 5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sample_rate": 1.5}, "the log sample rate must be a number from 0 to 1"),
        ({"sample_rate": True}, "the log sample rate must be a number from 0 to 1"),
        ({"max_records_per_hour": 0}, "max_records_per_hour must be a positive integer"),
        ({"flush_seconds": float("nan")}, "flush_seconds must be a positive number"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        PredictionLogSettings(**settings)  # type: ignore[arg-type]


def test_the_window_lists_whole_days_once_and_other_hours_one_by_one() -> None:
    start = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    folders = list(window_folders(ENDPOINT, "predictions", start, start + timedelta(days=1, hours=2)))
    prefix = f"monitoring/{ENDPOINT}/predictions/"
    assert folders == [
        f"{prefix}2026-03-01/22/", f"{prefix}2026-03-01/23/", f"{prefix}2026-03-02/", f"{prefix}2026-03-03/00/"
    ]  # fmt: skip


def test_the_reader_lists_only_the_window_and_joins_the_latest_feedback(tmp_path: Path) -> None:
    storage = ListingStorage(tmp_path)
    logger = PredictionLogger(storage, ENDPOINT)
    ids = log(logger, 3)
    logger.close()
    write_feedback(storage, ENDPOINT, [(ids[0], "round"), ("unknown", 2)])
    write_feedback(storage, ENDPOINT, [(ids[0], "aviator"), (ids[1], 1.5)])
    reader = PredictionLogReader(storage, ENDPOINT)
    storage.listed.clear()
    now = datetime.now(UTC)
    assert [(j.prediction.prediction_id, j.label) for j in reader.labeled(now - timedelta(hours=2))] == [
        (ids[0], "aviator"), (ids[1], 1.5), (ids[2], None)
    ]  # fmt: skip
    assert len(storage.listed) == 6  # 3 hour folders of predictions, 3 of feedback
    assert list(reader.predictions(now - timedelta(days=3), now - timedelta(days=2))) == []
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        list(reader.predictions(datetime(2026, 1, 1)))  # noqa: DTZ001 - the mistake under test


def test_an_unreadable_line_is_skipped_and_counted(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    logger = PredictionLogger(storage, ENDPOINT)
    log(logger, 1)
    logger.close()
    (key,) = storage.list("monitoring/")
    storage.write(key, storage.read(key) + b'{"prediction_id": "x"}\nnot json\n')
    reader = PredictionLogReader(storage, ENDPOINT)
    assert len(list(reader.predictions(since()))) == 1
    assert reader.skipped == 2


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], 'the request body must be {"feedback"'),
        ({"feedback": [{"prediction_id": "a", "label": "b", "x": 1}]}, "feedback 0: unknown fields"),
        ({"feedback": [{"prediction_id": "", "label": "b"}]}, "feedback 0: 'prediction_id' must be a string"),
        ({"feedback": [{"prediction_id": "a\x1b[31m", "label": "b"}]}, "is not printable text"),
        ({"feedback": [{"prediction_id": "a", "label": None}]}, "'label' must be a class name or a finite number"),
        ({"feedback": [{"prediction_id": "a", "label": "x" * 300}]}, "printable text of 1 to 256 characters"),
        ({"feedback": ["a"]}, "feedback 0 must be an object"),
    ],
)
def test_bad_feedback_is_refused_with_what_is_wrong(payload: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("{", r"\{")):
        parse_feedback(payload)


def test_a_reopened_logger_logs_again(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    logger = PredictionLogger(storage, ENDPOINT)
    first = log(logger, 1)
    logger.close()
    logger.reopen()
    second = log(logger, 1)
    logger.close()
    assert [r.prediction_id for r in PredictionLogReader(storage, ENDPOINT).predictions(since())] == first + second


def test_damaged_gzip_objects_are_skipped_and_counted_not_raised(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    logger = PredictionLogger(storage, ENDPOINT, PredictionLogSettings(compress_above=10))
    kept = log(logger, 2)
    logger.close()
    (key,) = storage.list("monitoring/")
    whole = storage.read(key)
    folder = key.rpartition("/")[0]
    storage.write(f"{folder}/a-cut.jsonl.gz", whole[:-12])  # cut short: EOFError
    storage.write(f"{folder}/b-corrupt.jsonl.gz", whole[:10] + b"\xff" * 20 + whole[30:])  # bad deflate: zlib.error
    reader = PredictionLogReader(storage, ENDPOINT)
    assert [r.prediction_id for r in reader.predictions(since())] == kept
    assert reader.skipped == 2


def test_a_line_whose_time_has_no_timezone_is_skipped(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    write_feedback(storage, ENDPOINT, [("a", "round")])
    (key,) = storage.list("monitoring/")
    naive = datetime.now(UTC).replace(tzinfo=None).isoformat()
    line = f'{{"prediction_id": "b", "label": 1, "time": "{naive}", "endpoint": "{ENDPOINT}"}}\n'
    storage.write(key, storage.read(key) + line.encode())
    reader = PredictionLogReader(storage, ENDPOINT)
    assert [f.prediction_id for f in reader.feedback(since())] == ["a"]
    assert reader.skipped == 1


def test_the_latest_feedback_of_each_id_wins_and_join_uses_it() -> None:
    now = datetime.now(UTC)
    items = [
        FeedbackRecord(prediction_id="a", label="round", time=now, endpoint=ENDPOINT),
        FeedbackRecord(prediction_id="a", label="oval", time=now - timedelta(minutes=1), endpoint=ENDPOINT),
        FeedbackRecord(prediction_id="b", label=1, time=now, endpoint=ENDPOINT),
        FeedbackRecord(prediction_id="b", label=2, time=now, endpoint=ENDPOINT),
    ]
    assert {k: v.label for k, v in latest_feedback(items).items()} == {"a": "round", "b": 2}
    assert join([], items) == []


def test_large_instances_are_kept_bounded_marked_truncated_and_counted(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    logger = PredictionLogger(storage, ENDPOINT)
    huge = {f"k{i}": i for i in range(100_000)}
    deep = {"text": "x" * 10_000_000, "image": [[1, 2], [3, 4]], "tags": ["a" * 300], "n": 1.5}
    output = {"caption": "y" * 1000, "scores": list(range(100))}
    ids = new_prediction_ids(3)
    logger.record(
        ids, [huge, deep, {"x": 1}], [output, OUTPUT, OUTPUT],
        model="eyewear", version="v1", deployed_model_id="d1", latency_ms=1.0,
    )  # fmt: skip
    logger.close()
    first, second, third = PredictionLogReader(storage, ENDPOINT).predictions(since())
    assert (first.truncated, second.truncated, third.truncated) == (True, True, False)
    assert first.features == {f"k{i}": i for i in range(64)}
    assert first.prediction == {"caption": "y" * 256, "scores": list(range(100))}  # outputs whole but for strings
    assert second.features == {"text": "x" * 256, "image": ["<list of 2 items>"] * 2, "tags": ["a" * 256], "n": 1.5}
    assert logger.stats()["truncated"] == 2
    assert PredictionLogReader(storage, ENDPOINT).gaps(since())["truncated"] == 2


def test_the_queue_and_the_hourly_cap_count_bytes_too(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    big = {"text": "z" * 256}  # about 260 bytes of features, 250 around them
    queued = PredictionLogger(storage, ENDPOINT, PredictionLogSettings(queue_bytes=1500, flush_seconds=60))
    for _ in range(4):
        queued.record(["i"], [big], [{}], model="m", version="v1", deployed_model_id="d", latency_ms=1.0)
    assert (queued.stats()["logged"], queued.stats()["dropped"]) == (2, 2)
    queued.close()
    capped = PredictionLogger(storage, "other", PredictionLogSettings(max_bytes_per_hour=1500, flush_seconds=60))
    for _ in range(4):
        capped.record(["i"], [big], [{}], model="m", version="v1", deployed_model_id="d", latency_ms=1.0)
    assert (capped.stats()["logged"], capped.stats()["overHourlyCap"]) == (2, 2)
    capped.close()


def test_every_flush_after_records_went_unlogged_writes_their_increments_as_gaps(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    values = iter([0.9, 0.1, 0.9])
    settings = PredictionLogSettings(sample_rate=0.5, max_records_per_hour=3, flush_seconds=60)
    logger = PredictionLogger(storage, ENDPOINT, settings, rng=lambda: next(values))
    log(logger, 2)  # sampled out
    log(logger, 4)  # over the hourly cap
    assert logger.flush(5)  # no record to write, yet the gaps are written
    assert len(storage.list(f"monitoring/{ENDPOINT}/gaps/")) == 1
    log(logger, 1)  # sampled out
    logger.count_gap("feedbackOverHourlyCap", 5)
    logger.close()
    keys = storage.list(f"monitoring/{ENDPOINT}/gaps/")
    assert len(keys) == 2
    assert json.loads(storage.read(keys[-1]))["sampledOut"] == 1  # increments only
    gaps = PredictionLogReader(storage, ENDPOINT).gaps(since())
    assert gaps == {
        "sampledOut": 3, "dropped": 0, "overHourlyCap": 4, "failed": 0, "truncated": 0, "feedbackOverHourlyCap": 5
    }  # fmt: skip
    assert PredictionLogReader(storage, ENDPOINT).gaps(since() - timedelta(days=2), since()) == dict.fromkeys(gaps, 0)
    assert storage.list(f"monitoring/{ENDPOINT}/predictions/") == []
