"""The TFRecord schema of eyewear recommendation examples: features, label classes, tf.train.Example codec."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # TensorFlow is imported lazily so that the constants stay cheap to import
    import tensorflow as tf

FeatureKind = Literal["float", "int", "string"]

FACE_SHAPES: tuple[str, ...] = ("oval", "round", "square", "heart", "oblong", "diamond")
PREFERRED_STYLES: tuple[str, ...] = ("classic", "sporty", "fashion", "minimal")
FRAME_STYLES: tuple[str, ...] = ("aviator", "round", "rectangle", "cat_eye", "wayfarer")
"""The label classes, in the order of the model's output probabilities."""

LABEL_KEY = "frame_style"


@dataclass(frozen=True)
class FeatureDef:
    """One feature of an example.

    Attributes:
        name: The key in the tf.train.Example and the name of the model input.
        kind: "float" (float32), "int" (int64) or "string" (bytes, UTF-8).
        description: What the value means, with its unit.
        vocabulary: The allowed values of a categorical string feature; None for numeric features.
        allowed: The allowed values of an integer flag; None when any integer is fine.
    """

    name: str
    kind: FeatureKind
    description: str
    vocabulary: tuple[str, ...] | None = None
    allowed: tuple[int, ...] | None = None


FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef("face_width_mm", "float", "Face width between the cheekbones, in millimetres."),
    FeatureDef("face_height_mm", "float", "Face height from chin to hairline, in millimetres."),
    FeatureDef("bridge_width_mm", "float", "Nose bridge width, in millimetres."),
    FeatureDef("temple_length_mm", "float", "Distance from the hinge to behind the ear, in millimetres."),
    FeatureDef("pupillary_distance_mm", "float", "Distance between the pupils, in millimetres."),
    FeatureDef("face_shape", "string", "Face shape.", vocabulary=FACE_SHAPES),
    FeatureDef("preferred_style", "string", "The style the customer says they like.", vocabulary=PREFERRED_STYLES),
    FeatureDef("budget_usd", "float", "Budget for the frame, in US dollars."),
    FeatureDef("prescription_strength", "float", "Spherical prescription in dioptres (0 for none)."),
    FeatureDef("wears_daily", "int", "1 if the glasses are worn all day, else 0.", allowed=(0, 1)),
)
LABEL = FeatureDef(LABEL_KEY, "string", "The frame style the customer bought.", vocabulary=FRAME_STYLES)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind != "string")
"""Features fed to the model as normalized numbers (the integer flag included)."""
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "string")

_BY_NAME: dict[str, FeatureDef] = {f.name: f for f in (*FEATURES, LABEL)}


def feature_spec(*, include_label: bool = True) -> dict[str, tf.io.FixedLenFeature]:
    """Return the `tf.io.parse_example` spec of a serialized example.

    Every feature is a required scalar: a missing one fails parsing instead of being silently defaulted.

    Args:
        include_label: Also parse the `frame_style` label (leave it out to parse unlabelled examples).

    Returns:
        Feature name to `tf.io.FixedLenFeature([], dtype)`.
    """
    import tensorflow as tf

    dtypes = {"float": tf.float32, "int": tf.int64, "string": tf.string}
    features = (*FEATURES, LABEL) if include_label else FEATURES
    return {f.name: tf.io.FixedLenFeature([], dtypes[f.kind]) for f in features}


def validate_record(
    record: Mapping[str, Any], *, require_label: bool = False, known_categories: bool = True
) -> dict[str, float | int | str]:
    """Check one raw example and return it with normalized Python types.

    Args:
        record: Feature name to value (JSON-like: numbers and strings). The label is optional unless required.
        require_label: Fail when `frame_style` is missing.
        known_categories: Fail when a categorical feature holds a value outside its vocabulary (False lets the
            data generator write drifted data with new categories; the label must stay one of FRAME_STYLES).

    Returns:
        A new dict with floats as `float`, the flag as `int` and strings as `str`; the label only if given.

    Raises:
        ValueError: a feature is missing, unknown, of the wrong type, not finite, or outside its vocabulary.
    """
    if not isinstance(record, Mapping):
        msg = f"an example must be a mapping of feature name to value, got {type(record).__name__}"
        raise ValueError(msg)
    unknown = sorted(set(record) - _BY_NAME.keys())
    if unknown:
        msg = f"unknown feature(s) {', '.join(map(repr, unknown))}; expected {', '.join(FEATURE_NAMES)}"
        raise ValueError(msg)
    missing = [name for name in FEATURE_NAMES if name not in record]
    if require_label and LABEL_KEY not in record:
        missing.append(LABEL_KEY)
    if missing:
        msg = f"missing feature(s) {', '.join(map(repr, missing))}"
        raise ValueError(msg)
    return {
        name: _normalize(_BY_NAME[name], value, known_categories=known_categories or name == LABEL_KEY)
        for name, value in record.items()
    }


def _normalize(feature: FeatureDef, value: object, *, known_categories: bool = True) -> float | int | str:
    """Return `value` as the Python type of `feature`, or raise ValueError naming the feature."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if feature.kind == "string":
        if not isinstance(value, str):
            msg = f"{feature.name} must be a string, got {value!r}"
            raise ValueError(msg)
        if known_categories and feature.vocabulary is not None and value not in feature.vocabulary:
            msg = f"{feature.name} must be one of {', '.join(feature.vocabulary)}, got {value!r}"
            raise ValueError(msg)
        return value
    # bool is an int subclass; accepting it for the 0/1 flag is convenient, for a measurement it is a bug.
    # numbers.Real also admits NumPy scalars, which callers building instances from arrays will pass.
    if not isinstance(value, numbers.Real) or (isinstance(value, bool) and feature.kind == "float"):
        msg = f"{feature.name} must be a finite number, got {value!r}"
        raise ValueError(msg)
    number = float(value)
    if not math.isfinite(number):
        msg = f"{feature.name} must be a finite number, got {value!r}"
        raise ValueError(msg)
    if feature.kind == "float":
        return number
    if not number.is_integer():
        msg = f"{feature.name} must be an integer, got {value!r}"
        raise ValueError(msg)
    if feature.allowed is not None and int(number) not in feature.allowed:
        msg = f"{feature.name} must be one of {', '.join(map(str, feature.allowed))}, got {value!r}"
        raise ValueError(msg)
    return int(number)


def encode_example(record: Mapping[str, Any], *, require_label: bool = True, known_categories: bool = True) -> bytes:
    """Serialize one raw example as a `tf.train.Example`.

    Args:
        record: Feature name to value, as accepted by `validate_record`.
        require_label: Fail when `frame_style` is missing (training data must be labelled).
        known_categories: Fail on a categorical value outside its vocabulary (see `validate_record`).

    Returns:
        The serialized proto. Map entries are written in a deterministic order, so equal records give equal bytes.

    Raises:
        ValueError: the record does not match the schema.
    """
    import tensorflow as tf

    clean = validate_record(record, require_label=require_label, known_categories=known_categories)
    feature: dict[str, tf.train.Feature] = {}
    for name, value in clean.items():
        kind = _BY_NAME[name].kind
        if kind == "float":
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif kind == "int":
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode("utf-8")]))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    # protobuf map order is otherwise unspecified; determinism is what makes same seed -> same bytes hold
    serialized: bytes = example.SerializeToString(deterministic=True)
    return serialized


def decode_example(serialized: bytes) -> dict[str, float | int | str]:
    """Parse one serialized `tf.train.Example` back into a raw example.

    Floats come back as the float32 value that was stored (e.g. 140.3 -> 140.3000030517578).

    Args:
        serialized: The bytes written by `encode_example`.

    Returns:
        Feature name to value, in schema order, with the label if present.

    Raises:
        ValueError: the bytes are not an example of this schema.
    """
    stored = parse_example(serialized).features.feature
    record: dict[str, Any] = {}
    for feature in (*FEATURES, LABEL):
        if feature.name not in stored:
            continue
        entry = stored[feature.name]
        values: list[Any]
        if feature.kind == "float":
            values = list(entry.float_list.value)
        elif feature.kind == "int":
            values = list(entry.int64_list.value)
        else:
            values = [v.decode("utf-8") for v in entry.bytes_list.value]
        if len(values) != 1:
            msg = f"{feature.name} must hold exactly one {feature.kind} value, found {len(values)}"
            raise ValueError(msg)
        record[feature.name] = values[0]
    return validate_record(record)


def parse_example(serialized: bytes) -> tf.train.Example:
    """Return the tf.train.Example in `serialized`. Raises: ValueError, naming what is wrong."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    example = tf.train.Example()
    try:
        example.ParseFromString(serialized)
    except DecodeError as exc:
        msg = f"not a serialized tf.train.Example: {exc}"
        raise ValueError(msg) from exc
    return example
