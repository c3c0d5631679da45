"""The example schema: constants without TensorFlow, validation, and the tf.train.Example round trip."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from eyewear_model import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FRAME_STYLES,
    LABEL_KEY,
    NUMERIC_FEATURES,
    decode_example,
    encode_example,
    feature_spec,
    validate_record,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_feature_names_and_classes() -> None:
    assert FEATURE_NAMES == (
        "face_width_mm",
        "face_height_mm",
        "bridge_width_mm",
        "temple_length_mm",
        "pupillary_distance_mm",
        "face_shape",
        "preferred_style",
        "budget_usd",
        "prescription_strength",
        "wears_daily",
    )
    assert CATEGORICAL_FEATURES == ("face_shape", "preferred_style")
    assert set(NUMERIC_FEATURES) | set(CATEGORICAL_FEATURES) == set(FEATURE_NAMES)
    assert FRAME_STYLES == ("aviator", "round", "rectangle", "cat_eye", "wayfarer")


def test_package_schema_and_config_import_without_tensorflow() -> None:
    code = (
        "import sys, eyewear_model, eyewear_model.config, eyewear_model.schema\n"
        "eyewear_model.EyewearModelConfig(); eyewear_model.FRAME_STYLES\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'\n"
        "assert sorted(eyewear_model.__all__) == eyewear_model.__all__\n"
        "assert all(hasattr(eyewear_model, name) for name in ('CATEGORICAL_FEATURES', 'validate_record'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=60)


def test_lazy_names_resolve() -> None:
    import eyewear_model

    for name in eyewear_model.__all__:
        assert getattr(eyewear_model, name) is not None
    with pytest.raises(AttributeError):
        _ = eyewear_model.no_such_name


def test_round_trip(instance: dict[str, object]) -> None:
    record = {**instance, LABEL_KEY: "cat_eye"}
    decoded = decode_example(encode_example(record))
    assert list(decoded) == [*FEATURE_NAMES, LABEL_KEY]
    for name, value in record.items():
        if isinstance(value, float):
            assert decoded[name] == pytest.approx(value, rel=1e-6)  # stored as float32
        else:
            assert decoded[name] == value
    assert isinstance(decoded["wears_daily"], int)


def test_encoding_is_deterministic(instance: dict[str, object]) -> None:
    record = {**instance, LABEL_KEY: "aviator"}
    reordered = dict(reversed(list(record.items())))
    assert encode_example(record) == encode_example(reordered)


def test_label_required_for_training_examples_only(instance: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="frame_style"):
        encode_example(instance)
    assert LABEL_KEY not in decode_example(encode_example(instance, require_label=False))


def test_parse_example_with_the_feature_spec(instance: dict[str, object]) -> None:
    serialized = [encode_example({**instance, LABEL_KEY: style}) for style in FRAME_STYLES]
    parsed = tf.io.parse_example(tf.constant(serialized), feature_spec())
    assert set(parsed) == {*FEATURE_NAMES, LABEL_KEY}
    assert parsed["face_width_mm"].dtype == tf.float32
    assert parsed["wears_daily"].dtype == tf.int64
    assert parsed["face_shape"].dtype == tf.string
    assert [v.decode() for v in parsed[LABEL_KEY].numpy()] == list(FRAME_STYLES)
    assert set(feature_spec(include_label=False)) == set(FEATURE_NAMES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"face_width_mm": None}, "face_width_mm must be a finite number"),
        ({"face_width_mm": "wide"}, "face_width_mm must be a finite number"),
        ({"face_width_mm": math.nan}, "face_width_mm must be a finite number"),
        ({"budget_usd": math.inf}, "budget_usd must be a finite number"),
        ({"face_width_mm": True}, "face_width_mm must be a finite number"),
        ({"face_shape": "triangle"}, "face_shape must be one of"),
        ({"face_shape": 3}, "face_shape must be a string"),
        ({"preferred_style": "Classic"}, "preferred_style must be one of"),
        ({"wears_daily": 2}, "wears_daily must be one of 0, 1"),
        ({"wears_daily": 0.5}, "wears_daily must be an integer"),
        ({"frame_style": "monocle"}, "frame_style must be one of"),
        ({"colour": "red"}, "unknown feature"),
    ],
)
def test_validation_rejects_bad_values(instance: dict[str, object], change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_record({**instance, **change})


def test_validation_rejects_missing_features_and_non_mappings(instance: dict[str, object]) -> None:
    del instance["bridge_width_mm"]
    with pytest.raises(ValueError, match="missing feature.*bridge_width_mm"):
        validate_record(instance)
    with pytest.raises(ValueError, match="must be a mapping"):
        validate_record([1, 2])  # type: ignore[arg-type]


def test_validation_normalizes_types(instance: dict[str, object]) -> None:
    clean = validate_record({**instance, "face_width_mm": 140, "wears_daily": True, "face_shape": b"oval"})
    assert clean["face_width_mm"] == 140.0
    assert isinstance(clean["face_width_mm"], float)
    assert clean["wears_daily"] == 1
    assert type(clean["wears_daily"]) is int
    assert clean["face_shape"] == "oval"
    from_numpy = validate_record({**instance, "budget_usd": np.float32(99.5), "wears_daily": np.int64(0)})
    assert from_numpy["budget_usd"] == 99.5
    assert type(from_numpy["wears_daily"]) is int


def test_decoding_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="tf.train.Example"):
        decode_example(b"\xff\xff not a proto")
