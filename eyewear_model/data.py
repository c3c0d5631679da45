"""Deterministic synthetic eyewear data written as TFRecord shards, and the tf.data pipeline that reads them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from pydantic import BaseModel, ConfigDict

from eyewear_model.drift import MEASUREMENTS, DataDrift
from eyewear_model.schema import (
    FACE_SHAPES,
    FEATURE_NAMES,
    FRAME_STYLES,
    LABEL_KEY,
    PREFERRED_STYLES,
    encode_example,
    feature_spec,
    parse_example,
)

SPLITS: tuple[str, ...] = ("train", "validation", "test")

# How common each face shape and style preference is, and how face shape shifts width/height (mm).
_SHAPE_PROBS = np.array([0.25, 0.2, 0.15, 0.15, 0.15, 0.1])
_STYLE_PROBS = np.array([0.3, 0.25, 0.25, 0.2])
_SHAPE_WIDTH_OFFSET = np.array([0.0, 4.0, 5.0, 2.0, -6.0, -2.0])
_SHAPE_HEIGHT_OFFSET = np.array([4.0, -10.0, -6.0, 0.0, 14.0, 4.0])

# The hidden rule. Columns follow FRAME_STYLES: aviator, round, rectangle, cat_eye, wayfarer.
# Face shape: frames that contrast with the face (angular frames for round faces, and so on).
_SHAPE_AFFINITY = np.array(
    [
        [0.5, 0.5, 0.5, 0.5, 0.5],  # oval: everything suits
        [0.0, -1.5, 1.5, 0.5, 1.5],  # round
        [1.0, 1.5, -1.5, 0.5, -0.5],  # square
        [1.5, 0.5, 0.0, 1.0, -1.0],  # heart
        [1.0, 0.5, -1.0, 0.0, 1.5],  # oblong
        [-0.5, 0.5, 0.0, 1.5, 0.5],  # diamond
    ]
)
_STYLE_AFFINITY = np.array(
    [
        [0.0, 0.5, 1.5, -0.5, 1.0],  # classic
        [2.0, -1.0, 0.0, -1.0, 1.0],  # sporty
        [0.0, 0.5, -1.0, 2.0, 0.0],  # fashion
        [-0.5, 2.0, 1.0, -0.5, -0.5],  # minimal
    ]
)
_WIDTH_WEIGHT = np.array([0.8, -0.8, 0.0, -0.5, 1.0])  # wide faces carry big frames
_BUDGET_WEIGHT = np.array([0.6, 0.0, -0.6, 0.8, 0.0])  # designer shapes cost more
_STRONG_RX_WEIGHT = np.array([-1.0, 1.2, 1.2, 0.0, 0.0])  # thick lenses look best small
_DAILY_WEIGHT = np.array([0.0, 0.0, 0.5, -0.3, 0.3])
_DRIFT_TAG = 0xD81F7  # mixed into the seed of the drift's own draws
_NOISE_SCALE = 0.4  # Gumbel noise on the scores: the best possible accuracy is about 0.8, not 1


class DatasetPaths(BaseModel):
    """Where `generate_dataset` wrote each split, and how many examples each holds.

    Attributes:
        train: The training shards, in order.
        validation: The validation shards, in order.
        test: The test shards, in order.
        num_train: Examples in the training shards.
        num_validation: Examples in the validation shards.
        num_test: Examples in the test shards.
        seed: The seed the data was generated with (None for data found by `find_dataset`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    train: list[str]
    validation: list[str]
    test: list[str]
    num_train: int
    num_validation: int
    num_test: int
    seed: int | None = None


def generate_dataset(
    output_dir: str,
    *,
    num_train: int = 2000,
    num_validation: int = 500,
    num_test: int = 500,
    shards: int = 2,
    seed: int = 0,
    drift: DataDrift | Mapping[str, Any] | None = None,
) -> DatasetPaths:
    """Write synthetic train/validation/test TFRecord shards of labelled eyewear examples.

    Each split is drawn from its own child of the seed, so changing one split's size leaves the others'
    examples unchanged. The same arguments always give byte-identical files; without `drift` (or with the
    default `DataDrift()`) the same files as before drift knobs existed.

    Args:
        output_dir: A local folder or a ``gs://bucket/prefix``; created if missing. Files are named
            ``<split>-<index>-of-<count>.tfrecord`` and existing files of the same name are overwritten.
        num_train: Training examples (at least 1).
        num_validation: Validation examples (at least 1).
        num_test: Test examples (at least 1).
        shards: Files per split; a split with fewer examples than `shards` gets one file per example.
        seed: Seed of the generator (non-negative).
        drift: How every split departs from the usual distribution (`DataDrift` or its fields as a mapping).

    Returns:
        The written paths and counts.

    Raises:
        ValueError: a count, `shards`, `seed` or a drift knob is out of range.
    """
    drift = drift if isinstance(drift, DataDrift) else DataDrift.model_validate(dict(drift or {}))
    counts = {"train": num_train, "validation": num_validation, "test": num_test}
    for split, count in counts.items():
        if count < 1:
            msg = f"num_{split} must be at least 1, got {count}"
            raise ValueError(msg)
    if shards < 1:
        msg = f"shards must be at least 1, got {shards}"
        raise ValueError(msg)
    if seed < 0:
        msg = f"seed must be non-negative, got {seed}"
        raise ValueError(msg)
    tf.io.gfile.makedirs(output_dir)
    split_seeds = np.random.SeedSequence(seed).spawn(len(SPLITS))
    paths: dict[str, list[str]] = {}
    for split, split_seed in zip(SPLITS, split_seeds, strict=True):
        records = simulate_examples(counts[split], np.random.default_rng(split_seed), drift=drift)
        paths[split] = _write_shards(output_dir, split, records, min(shards, counts[split]), drift.new_categories)
    return DatasetPaths(
        train=paths["train"],
        validation=paths["validation"],
        test=paths["test"],
        num_train=num_train,
        num_validation=num_validation,
        num_test=num_test,
        seed=seed,
    )


def find_dataset(source: str) -> DatasetPaths:
    """Return the shards of an existing data set laid out like `generate_dataset`'s output.

    Args:
        source: A local folder or ``gs://bucket/prefix`` holding ``train-*.tfrecord``,
            ``validation-*.tfrecord`` and ``test-*.tfrecord`` files.

    Raises:
        ValueError: a split has no files.
    """
    found: dict[str, list[str]] = {}
    for split in ("train", "validation", "test"):
        found[split] = sorted(tf.io.gfile.glob(f"{source.rstrip('/')}/{split}-*.tfrecord"))
        if not found[split]:
            msg = f"no {split}-*.tfrecord files under {source}"
            raise ValueError(msg)
    return DatasetPaths(
        **found,
        num_train=count_examples(found["train"]),
        num_validation=count_examples(found["validation"]),
        num_test=count_examples(found["test"]),
    )


def simulate_examples(
    count: int,
    rng: np.random.Generator,
    *,
    drift: DataDrift | None = None,
    drift_rng: np.random.Generator | None = None,
) -> list[dict[str, Any]]:
    """Draw `count` labelled examples: plausible measurements and preferences, labelled by the hidden rule.

    Args:
        count: How many examples.
        rng: The random generator to draw from (consumed).
        drift: Departures from the usual distribution; None for none.
        drift_rng: The generator of the drift's own draws (categories, label noise); default: one seeded from
            `rng`'s seed. `rng` is consumed the same way with or without drift.

    Returns:
        Raw examples (feature name to value, label included), as accepted by `encode_example` (with
        ``known_categories=False`` when the drift names new categories).
    """
    drift = drift or DataDrift()
    shape_names, style_names = list(FACE_SHAPES), list(PREFERRED_STYLES)
    shape = rng.choice(len(FACE_SHAPES), size=count, p=_SHAPE_PROBS)
    style = rng.choice(len(PREFERRED_STYLES), size=count, p=_STYLE_PROBS)
    if drift_rng is None and not drift.is_none:
        # seeded from rng's seed (tagged, so the stream differs) without drawing from rng
        drift_rng = np.random.default_rng([*rng.bit_generator.seed_seq.generate_state(4), _DRIFT_TAG])
    if drift.face_shape_weights is not None and drift_rng is not None:
        shape_names, shape = _draw_categories(drift.face_shape_weights, count, drift_rng)
    if drift.preferred_style_weights is not None and drift_rng is not None:
        style_names, style = _draw_categories(drift.preferred_style_weights, count, drift_rng)
    shape_width, shape_height, shape_affinity = _by_name(shape_names, FACE_SHAPES, _SHAPE_WIDTH_OFFSET,
                                                         _SHAPE_HEIGHT_OFFSET, _SHAPE_AFFINITY)  # fmt: skip
    (style_affinity,) = _by_name(style_names, PREFERRED_STYLES, _STYLE_AFFINITY)
    width = rng.normal(140.0, 6.0, count) + shape_width[shape]
    height = rng.normal(185.0, 8.0, count) + shape_height[shape]
    bridge = np.clip(rng.normal(18.0, 1.8, count), 14.0, 24.0)
    temple = 0.45 * width + rng.normal(77.0, 3.0, count)
    pupillary = np.clip(0.4 * width + rng.normal(6.0, 2.5, count), 50.0, 75.0)
    budget = np.clip(np.exp(rng.normal(np.log(150.0), 0.5, count)), 20.0, 1000.0)
    # about a third need no correction; the rest are mostly short-sighted
    needs_rx = rng.random(count) >= 0.3
    prescription = np.where(needs_rx, np.clip(np.round(rng.normal(-2.0, 2.5, count) * 4) / 4, -10.0, 6.0), 0.0)
    daily_draw = rng.random(count)
    wears_daily = np.where(needs_rx, daily_draw < 0.85, daily_draw < 0.1).astype(np.int64)

    scores = (
        shape_affinity[shape]
        + style_affinity[style]
        + np.outer((width - 140.0) / 8.0, _WIDTH_WEIGHT)
        + np.outer(np.log(budget / 150.0) / 0.5, _BUDGET_WEIGHT)
        + np.outer(np.abs(prescription) > 4.0, _STRONG_RX_WEIGHT)
        + np.outer(wears_daily, _DAILY_WEIGHT)
    )
    # argmax of scores plus Gumbel noise samples from softmax(scores / noise): learnable, not deterministic
    label = np.argmax(scores + _NOISE_SCALE * rng.gumbel(size=scores.shape), axis=1)
    if drift.label_noise and drift_rng is not None:
        noisy = drift_rng.random(count) < drift.label_noise
        label = np.where(noisy, drift_rng.integers(len(FRAME_STYLES), size=count), label)

    # recorded measurements: what a differently calibrated scanner would report (labels were drawn from the truth)
    measured = {
        name: values * drift.measurement_scale + drift.measurement_shift_mm
        for name, values in zip(MEASUREMENTS, (width, height, bridge, temple, pupillary), strict=True)
    }
    return [
        {
            **{name: round(float(values[i]), 1) for name, values in measured.items()},
            "face_shape": shape_names[shape[i]],
            "preferred_style": style_names[style[i]],
            "budget_usd": round(float(budget[i]), 2),
            "prescription_strength": float(prescription[i]),
            "wears_daily": int(wears_daily[i]),
            LABEL_KEY: FRAME_STYLES[label[i]],
        }
        for i in range(count)
    ]


def _draw_categories(
    weights: Mapping[str, float], count: int, rng: np.random.Generator
) -> tuple[list[str], np.ndarray]:
    """Draw `count` category indices from `weights`; return the category names and the indices."""
    names = list(weights)
    probs = np.array([weights[name] for name in names], dtype=np.float64)
    return names, rng.choice(len(names), size=count, p=probs / probs.sum())


def _by_name(names: Sequence[str], known: Sequence[str], *tables: np.ndarray) -> list[np.ndarray]:
    """Return `tables` (rows in `known`'s order) re-indexed by `names`; unknown names get rows of zeros."""
    picked = []
    for table in tables:
        zero = np.zeros_like(table[0])
        picked.append(np.array([table[known.index(name)] if name in known else zero for name in names]))
    return picked


def _write_shards(
    output_dir: str, split: str, records: list[dict[str, Any]], shards: int, new_categories: bool = False
) -> list[str]:
    """Write `records` in order into `shards` files of near-equal size and return their paths."""
    bounds = np.linspace(0, len(records), shards + 1).astype(int)
    paths = []
    for index in range(shards):
        # plain string joining: os.path would be wrong for gs:// on Windows, and gfile accepts both forms
        path = f"{output_dir.rstrip('/')}/{split}-{index:05d}-of-{shards:05d}.tfrecord"
        with tf.io.TFRecordWriter(path) as writer:
            for record in records[bounds[index] : bounds[index + 1]]:
                writer.write(encode_example(record, known_categories=not new_categories))
        paths.append(path)
    return paths


def read_dataset(
    paths: Sequence[str],
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    shuffle_buffer: int = 10_000,
    with_labels: bool = True,
    drop_remainder: bool = False,
    num_examples: int | None = None,
) -> tf.data.Dataset:
    """Build a tf.data pipeline over TFRecord files of serialized examples.

    Args:
        paths: TFRecord files, local or ``gs://``; read in the given order unless shuffled.
        batch_size: Examples per batch.
        shuffle: Shuffle the examples (with a fresh order every epoch).
        seed: Seed of the shuffle, for a reproducible order.
        shuffle_buffer: Examples held in the shuffle buffer.
        with_labels: Yield ``(features, label_index)`` where the label is the index of `frame_style` in
            `FRAME_STYLES`; otherwise yield only the features dict.
        drop_remainder: Drop the last batch if it is smaller than `batch_size`.
        num_examples: How many examples the files hold, if known (see `count_examples`). The dataset then
            declares its number of batches, so Keras knows the length of an epoch; a wrong count fails when
            the data is read.

    Returns:
        A dataset of batches: features are a dict of feature name to a rank-1 tensor (float32, int64 or
        string), labels an int64 rank-1 tensor.

    Raises:
        ValueError: no paths, or a non-positive batch size.
    """
    if not paths:
        msg = "read_dataset needs at least one TFRecord file"
        raise ValueError(msg)
    if batch_size < 1:
        msg = f"batch_size must be at least 1, got {batch_size}"
        raise ValueError(msg)
    spec = feature_spec(include_label=with_labels)
    # a static table with default -1 lets a bad label fail loudly below instead of becoming class 0
    label_table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(FRAME_STYLES), tf.range(len(FRAME_STYLES), dtype=tf.int64)),
        default_value=-1,
    )

    def parse(serialized: tf.Tensor) -> Any:
        parsed = tf.io.parse_example(serialized, spec)
        features = {name: parsed[name] for name in FEATURE_NAMES}
        if not with_labels:
            return features
        label = label_table.lookup(parsed[LABEL_KEY])
        with tf.control_dependencies(
            [tf.debugging.assert_non_negative(label, message=f"{LABEL_KEY} outside {', '.join(FRAME_STYLES)}")]
        ):
            label = tf.identity(label)
        return features, label

    dataset = tf.data.TFRecordDataset(list(paths))
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    # batching before parsing lets parse_example work on whole batches, which is much faster
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if num_examples is not None:
        batches = num_examples // batch_size if drop_remainder else -(-num_examples // batch_size)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def count_examples(paths: Sequence[str]) -> int:
    """Count the records in TFRecord files (one read of the files, without parsing them).

    Args:
        paths: TFRecord files, local or ``gs://``.

    Returns:
        The total number of records.
    """
    if not paths:
        return 0
    return int(tf.data.TFRecordDataset(list(paths)).reduce(np.int64(0), lambda count, _: count + 1))


def read_rows(paths: Sequence[str]) -> Iterator[dict[str, float | int | str | None]]:
    """Yield the examples of TFRecord files as rows of features, whatever they hold, for profiling.

    Unlike `read_dataset` and `decode_example` nothing is checked against the schema: unknown categories, extra or
    missing features come through as they are, so that data validation can report them.

    Args:
        paths: TFRecord files of serialized `tf.train.Example`, local or ``gs://``, read in order.

    Yields:
        Feature name to its value (float, int or str), or None for a feature with no value.

    Raises:
        ValueError: a record is not a tf.train.Example, or a feature holds more than one value.
    """
    for serialized in tf.data.TFRecordDataset(list(paths)).as_numpy_iterator():
        example = parse_example(serialized)
        row: dict[str, float | int | str | None] = {}
        for name, feature in sorted(example.features.feature.items()):
            kind = feature.WhichOneof("kind")
            values: list[Any] = list(getattr(feature, kind).value) if kind else []
            if len(values) > 1:
                msg = f"{name} holds {len(values)} values; rows hold one value per feature"
                raise ValueError(msg)
            value = values[0] if values else None
            row[name] = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
        yield row
