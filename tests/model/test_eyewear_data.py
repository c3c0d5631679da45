"""The synthetic data generator and the tf.data pipeline over its TFRecord shards."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from eyewear_model import (
    FEATURE_NAMES,
    FRAME_STYLES,
    LABEL_KEY,
    DatasetPaths,
    count_examples,
    decode_example,
    encode_example,
    find_dataset,
    generate_dataset,
    read_dataset,
)

SMALL = {"num_train": 120, "num_validation": 40, "num_test": 40, "shards": 3}


def _all_files(paths: DatasetPaths) -> list[str]:
    return [*paths.train, *paths.validation, *paths.test]


def _contents(paths: DatasetPaths) -> list[bytes]:
    return [Path(p).read_bytes() for p in _all_files(paths)]


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = generate_dataset(str(tmp_path / "a"), seed=3, **SMALL)
    second = generate_dataset(str(tmp_path / "b"), seed=3, **SMALL)
    assert [Path(p).name for p in _all_files(first)] == [Path(p).name for p in _all_files(second)]
    assert _contents(first) == _contents(second)


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    first = generate_dataset(str(tmp_path / "a"), seed=3, **SMALL)
    other = generate_dataset(str(tmp_path / "b"), seed=4, **SMALL)
    for mine, theirs in zip(_contents(first), _contents(other), strict=True):
        assert mine != theirs


def test_splits_are_independent_of_each_others_sizes(tmp_path: Path) -> None:
    base = generate_dataset(str(tmp_path / "a"), seed=5, **SMALL)
    bigger_train = generate_dataset(str(tmp_path / "b"), seed=5, **{**SMALL, "num_train": 300})
    assert [Path(p).read_bytes() for p in base.validation] == [Path(p).read_bytes() for p in bigger_train.validation]
    assert [Path(p).read_bytes() for p in base.test] == [Path(p).read_bytes() for p in bigger_train.test]


def test_shards_and_counts(dataset: DatasetPaths) -> None:
    assert [Path(p).name for p in dataset.train] == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    assert count_examples(dataset.train) == dataset.num_train == 2000
    assert count_examples(dataset.validation) == dataset.num_validation
    assert count_examples(dataset.test) == dataset.num_test
    assert count_examples(dataset.train[:1]) == 1000  # shards are balanced
    assert DatasetPaths.model_validate_json(dataset.model_dump_json()) == dataset


def test_fewer_examples_than_shards(tmp_path: Path) -> None:
    paths = generate_dataset(str(tmp_path), num_train=5, num_validation=1, num_test=2, shards=4)
    assert (len(paths.train), len(paths.validation), len(paths.test)) == (4, 1, 2)
    assert count_examples(paths.validation) == 1


def test_examples_are_valid_and_labels_balanced(dataset: DatasetPaths) -> None:
    records = [decode_example(r.numpy()) for r in tf.data.TFRecordDataset(dataset.train)]
    assert all(set(r) == {*FEATURE_NAMES, LABEL_KEY} for r in records)  # decode_example validated each one
    shares = {style: n / len(records) for style, n in Counter(r[LABEL_KEY] for r in records).items()}
    assert set(shares) == set(FRAME_STYLES)
    assert all(0.1 < share < 0.35 for share in shares.values())
    widths = np.array([r["face_width_mm"] for r in records])
    assert 120 < widths.mean() < 160


def test_read_dataset_batches(dataset: DatasetPaths) -> None:
    features, labels = next(iter(read_dataset(dataset.train, batch_size=32)))
    assert set(features) == set(FEATURE_NAMES)
    assert features["face_width_mm"].shape == (32,)
    assert features["face_width_mm"].dtype == tf.float32
    assert features["wears_daily"].dtype == tf.int64
    assert features["face_shape"].dtype == tf.string
    assert labels.dtype == tf.int64
    assert labels.shape == (32,)
    assert int(tf.reduce_min(labels)) >= 0
    assert int(tf.reduce_max(labels)) < len(FRAME_STYLES)


def test_read_dataset_order_shuffle_and_cardinality(dataset: DatasetPaths) -> None:
    def first_widths(ds: tf.data.Dataset) -> list[float]:
        widths: list[float] = next(iter(ds))[0]["face_width_mm"].numpy().tolist()
        return widths

    plain = read_dataset(dataset.test, batch_size=100)
    assert first_widths(plain) == first_widths(read_dataset(dataset.test, batch_size=100))
    shuffled = read_dataset(dataset.test, batch_size=100, shuffle=True, seed=1)
    first_epoch = first_widths(shuffled)
    assert first_epoch != first_widths(plain)
    assert first_widths(shuffled) != first_epoch  # a new order every epoch
    assert first_epoch == first_widths(read_dataset(dataset.test, batch_size=100, shuffle=True, seed=1))

    assert int(plain.cardinality()) < 0  # unknown until declared
    declared = read_dataset(dataset.test, batch_size=128, num_examples=dataset.num_test)
    assert int(declared.cardinality()) == 4 == sum(1 for _ in declared)
    features_only = read_dataset(dataset.test, batch_size=128, with_labels=False, drop_remainder=True)
    assert isinstance(next(iter(features_only)), dict)
    assert sum(1 for _ in features_only) == 3


def test_non_local_filesystem(instance: dict[str, object]) -> None:
    # ram:// goes through the same tf.io.gfile code paths as gs://, which cannot be reached offline
    paths = generate_dataset("ram://eyewear-test/data", num_train=20, num_validation=5, num_test=5, shards=2)
    assert paths.train[0] == "ram://eyewear-test/data/train-00000-of-00002.tfrecord"
    assert count_examples(paths.train) == 20
    assert sum(int(tf.size(labels)) for _, labels in read_dataset(paths.train, batch_size=8)) == 20


def test_missing_or_unknown_label_fails_loudly(tmp_path: Path, instance: dict[str, object]) -> None:
    unlabelled = str(tmp_path / "unlabelled.tfrecord")
    with tf.io.TFRecordWriter(unlabelled) as writer:
        writer.write(encode_example(instance, require_label=False))
    with pytest.raises(tf.errors.InvalidArgumentError):
        next(iter(read_dataset([unlabelled], batch_size=4)))
    assert next(iter(read_dataset([unlabelled], batch_size=4, with_labels=False)))["face_shape"].numpy()[0] == b"round"

    # encode_example refuses unknown labels, so write one by hand: it must not become class 0
    example = tf.train.Example.FromString(encode_example({**instance, LABEL_KEY: "aviator"}))
    example.features.feature[LABEL_KEY].bytes_list.value[0] = b"monocle"
    mislabelled = str(tmp_path / "mislabelled.tfrecord")
    with tf.io.TFRecordWriter(mislabelled) as writer:
        writer.write(example.SerializeToString())
    with pytest.raises(tf.errors.InvalidArgumentError, match="frame_style outside"):
        next(iter(read_dataset([mislabelled], batch_size=4)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_train": 0}, "num_train"),
        ({"num_test": -1}, "num_test"),
        ({"shards": 0}, "shards"),
        ({"seed": -1}, "seed"),
    ],
)
def test_generate_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_dataset(str(tmp_path), **kwargs)


def test_read_rejects_bad_arguments(dataset: DatasetPaths) -> None:
    with pytest.raises(ValueError, match="at least one"):
        read_dataset([], batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        read_dataset(dataset.test, batch_size=0)


def test_find_dataset_returns_the_shards_and_counts_of_a_generated_folder(tmp_path: Path) -> None:
    written = generate_dataset(str(tmp_path), num_train=30, num_validation=10, num_test=12, shards=2, seed=3)

    found = find_dataset(str(tmp_path))

    assert (found.train, found.validation, found.test) == (written.train, written.validation, written.test)
    assert (found.num_train, found.num_validation, found.num_test) == (30, 10, 12)


def test_find_dataset_names_a_missing_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no train"):
        find_dataset(str(tmp_path))
