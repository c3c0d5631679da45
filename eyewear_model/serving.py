"""Export the trained model as a TF SavedModel with a raw-feature serving signature, and predict with it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from eyewear_model.schema import FEATURE_NAMES, FEATURES, FRAME_STYLES, LABEL_KEY, feature_spec, validate_record

SIGNATURE_KEY = "serving_default"
"""The signature taking one rank-1 tensor per raw feature (what Vertex AI and TF Serving call by default)."""
EXAMPLES_SIGNATURE_KEY = "serve_tf_examples"
"""The signature taking a rank-1 string tensor ``examples`` of serialized tf.train.Example protos."""
PROBABILITIES_KEY = "probabilities"
PREDICTED_CLASS_KEY = "frame_style"
CLASSES_KEY = "classes"

_SPEC_DTYPES = {"float": tf.float32, "int": tf.int64, "string": tf.string}


def export_saved_model(model: keras.Model, export_dir: str | os.PathLike[str]) -> Path:
    """Write `model` as a TensorFlow SavedModel for serving.

    Signatures (all outputs are batched along the first axis):

    - ``serving_default``: inputs are the raw features by name, each a rank-1 tensor (float32 measurements,
      budget and prescription; int64 ``wears_daily``; string ``face_shape`` and ``preferred_style``).
    - ``serve_tf_examples``: input ``examples``, serialized tf.train.Example protos (a label in them is ignored).

    Both return ``probabilities`` (float32 ``[batch, 5]``, columns in `FRAME_STYLES` order), ``frame_style``
    (string ``[batch]``, the most probable class) and ``classes`` (string ``[batch, 5]``, the column names).

    Args:
        model: A model from `train` (dict of raw features in, `FRAME_STYLES` probabilities out).
        export_dir: A local folder that does not exist yet or is empty. For GCS, export locally and upload
            (or use the ``/gcs/`` mount of Vertex AI).

    Returns:
        The folder holding ``saved_model.pb``, ``variables/``, ``assets/`` and ``fingerprint.pb``.

    Raises:
        ValueError: `export_dir` is a URI rather than a local path.
        FileExistsError: `export_dir` already holds files (stale files would end up in the artifact).
    """
    if "://" in os.fspath(export_dir):
        msg = f"export_dir must be a local folder, got {os.fspath(export_dir)!r}; export locally, then upload"
        raise ValueError(msg)
    path = Path(export_dir)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        msg = f"{path} already exists and is not an empty folder"
        raise FileExistsError(msg)

    class_names = tf.constant(FRAME_STYLES)

    def serve_features(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        probabilities = model(features, training=False)
        batch_size = tf.shape(probabilities)[0]
        return {
            PROBABILITIES_KEY: probabilities,
            PREDICTED_CLASS_KEY: tf.gather(class_names, tf.argmax(probabilities, axis=-1)),
            # repeated per row so every output is batched, as TF Serving's row format requires
            CLASSES_KEY: tf.tile(class_names[tf.newaxis, :], [batch_size, 1]),
        }

    def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return serve_features(tf.io.parse_example(examples, feature_spec(include_label=False)))

    archive = keras.export.ExportArchive()
    archive.track(model)
    # the TensorSpec names become the signature's input names, so clients send {"face_shape": [...], ...}
    feature_specs = {f.name: tf.TensorSpec([None], _SPEC_DTYPES[f.kind], name=f.name) for f in FEATURES}
    archive.add_endpoint(name=SIGNATURE_KEY, fn=serve_features, input_signature=[feature_specs])
    archive.add_endpoint(
        name=EXAMPLES_SIGNATURE_KEY,
        fn=serve_examples,
        input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
    )
    archive.write_out(str(path), verbose=False)
    return path


class ServingModel:
    """A loaded SavedModel from `export_saved_model`, callable with JSON-like instances."""

    def __init__(self, loaded: Any, export_dir: str) -> None:
        """Wrap a `tf.saved_model.load` result.

        Args:
            loaded: The loaded SavedModel.
            export_dir: Where it was loaded from (for messages).

        Raises:
            ValueError: it has no ``serving_default`` signature over the eyewear features.
        """
        if SIGNATURE_KEY not in loaded.signatures:
            msg = f"{export_dir} has no {SIGNATURE_KEY!r} signature (found: {', '.join(loaded.signatures) or 'none'})"
            raise ValueError(msg)
        # the signature functions stop working once the loaded object is garbage-collected, so keep it
        self._loaded = loaded
        self._signature = loaded.signatures[SIGNATURE_KEY]
        self._input_specs: dict[str, tf.TensorSpec] = dict(self._signature.structured_input_signature[1])
        if set(self._input_specs) != set(FEATURE_NAMES):
            msg = f"{export_dir}: {SIGNATURE_KEY!r} takes {sorted(self._input_specs)}, not the eyewear features"
            raise ValueError(msg)
        self.export_dir = export_dir

    def probabilities(self, features: Mapping[str, tf.Tensor]) -> Any:
        """Return the class probabilities (numpy, [batch, classes]) for a batch of parsed feature tensors."""
        inputs = {name: tf.cast(features[name], spec.dtype) for name, spec in self._input_specs.items()}
        return self._signature(**inputs)[PROBABILITIES_KEY].numpy()

    def predict(self, instances: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Predict the frame style of each instance.

        Args:
            instances: Raw examples, feature name to JSON value (e.g. ``{"face_width_mm": 141.5,
                "face_shape": "round", ..., "wears_daily": 1}``). A ``frame_style`` key is ignored.

        Returns:
            One dict per instance, in order: ``{"frame_style": "aviator", "probabilities": {"aviator": 0.61,
            "round": 0.05, ...}}`` with every class in `FRAME_STYLES` order.

        Raises:
            ValueError: an instance misses a feature, has an unknown one, or a value of the wrong type or
                outside its vocabulary; the message names the instance's index.
        """
        if not instances:
            return []
        rows = []
        for index, instance in enumerate(instances):
            try:
                row = validate_record(instance)
            except ValueError as exc:
                msg = f"instance {index}: {exc}"
                raise ValueError(msg) from exc
            row.pop(LABEL_KEY, None)
            rows.append(row)
        inputs = {
            name: tf.constant([row[name] for row in rows], dtype=spec.dtype) for name, spec in self._input_specs.items()
        }
        outputs = self._signature(**inputs)
        probabilities = outputs[PROBABILITIES_KEY].numpy()
        classes = outputs[CLASSES_KEY].numpy()
        predicted = outputs[PREDICTED_CLASS_KEY].numpy()
        return [
            {
                PREDICTED_CLASS_KEY: predicted[i].decode("utf-8"),
                PROBABILITIES_KEY: {
                    name.decode("utf-8"): float(p) for name, p in zip(classes[i], probabilities[i], strict=True)
                },
            }
            for i in range(len(rows))
        ]


def load_serving_model(export_dir: str | os.PathLike[str]) -> ServingModel:
    """Load a SavedModel written by `export_saved_model`.

    Args:
        export_dir: The SavedModel folder, local or ``gs://``.

    Returns:
        The model, ready for `ServingModel.predict`.

    Raises:
        ValueError: the SavedModel lacks the eyewear ``serving_default`` signature.
    """
    location = os.fspath(export_dir)
    return ServingModel(tf.saved_model.load(location), location)
