"""The exported SavedModel: its files, its signatures on raw features, and the predict helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from eyewear_model import (
    FEATURE_NAMES,
    FRAME_STYLES,
    LABEL_KEY,
    DatasetPaths,
    EvaluationResult,
    TrainResult,
    encode_example,
    evaluate,
    export_saved_model,
    load_serving_model,
    read_dataset,
)


def _batch(instances: list[dict[str, object]]) -> dict[str, tf.Tensor]:
    """Columns of raw features with the signature's dtypes."""
    dtypes = {"wears_daily": tf.int64, "face_shape": tf.string, "preferred_style": tf.string}
    return {name: tf.constant([i[name] for i in instances], dtypes.get(name, tf.float32)) for name in FEATURE_NAMES}


def test_export_layout(export_dir: Path) -> None:
    assert export_dir.is_dir()
    assert {"saved_model.pb", "variables", "assets", "fingerprint.pb"} <= {p.name for p in export_dir.iterdir()}
    assert any((export_dir / "variables").iterdir())


def test_serving_signature_takes_raw_features(export_dir: Path, instance: dict[str, object]) -> None:
    loaded = tf.saved_model.load(str(export_dir))
    signature = loaded.signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    assert set(inputs) == set(FEATURE_NAMES)
    assert inputs["face_width_mm"] == tf.TensorSpec([None], tf.float32, name="face_width_mm")
    assert inputs["wears_daily"].dtype == tf.int64
    assert inputs["face_shape"].dtype == tf.string
    assert set(signature.structured_outputs) == {"probabilities", "frame_style", "classes"}

    outputs = signature(**_batch([instance, {**instance, "face_shape": "square", "preferred_style": "minimal"}]))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (2, len(FRAME_STYLES))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    predicted = [s.decode() for s in outputs["frame_style"].numpy()]
    assert predicted == [FRAME_STYLES[k] for k in probabilities.argmax(axis=1)]
    assert [[c.decode() for c in row] for row in outputs["classes"].numpy()] == [list(FRAME_STYLES)] * 2


def test_export_matches_the_keras_model(export_dir: Path, trained: TrainResult, dataset: DatasetPaths) -> None:
    signature = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    features, _ = next(iter(read_dataset(dataset.test, batch_size=64)))
    exported = signature(**features)["probabilities"].numpy()
    np.testing.assert_allclose(exported, np.asarray(trained.model(features, training=False)), atol=1e-5)


def test_tf_examples_signature(export_dir: Path, instance: dict[str, object]) -> None:
    loaded = tf.saved_model.load(str(export_dir))
    serialized = tf.constant(
        [encode_example(instance, require_label=False), encode_example({**instance, LABEL_KEY: "round"})]
    )
    from_examples = loaded.signatures["serve_tf_examples"](examples=serialized)
    from_features = loaded.signatures["serving_default"](**_batch([instance, instance]))
    np.testing.assert_allclose(
        from_examples["probabilities"].numpy(), from_features["probabilities"].numpy(), atol=1e-6
    )


def test_predict_helper_returns_class_names(export_dir: Path, instance: dict[str, object]) -> None:
    model = load_serving_model(export_dir)
    predictions = model.predict([instance, {**instance, "face_width_mm": 130, "wears_daily": 0, LABEL_KEY: "round"}])
    assert len(predictions) == 2
    for prediction in predictions:
        assert set(prediction) == {"frame_style", "probabilities"}
        assert prediction["frame_style"] in FRAME_STYLES
        assert list(prediction["probabilities"]) == list(FRAME_STYLES)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, rel=1e-5)
        assert prediction["frame_style"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    assert model.predict([]) == []


def test_predict_helper_rejects_bad_instances(export_dir: Path, instance: dict[str, object]) -> None:
    model = load_serving_model(str(export_dir))
    incomplete = dict(instance)
    del incomplete["budget_usd"]
    with pytest.raises(ValueError, match=r"instance 1: missing feature.*budget_usd"):
        model.predict([instance, incomplete])
    with pytest.raises(ValueError, match="instance 0: face_shape must be one of"):
        model.predict([{**instance, "face_shape": "triangle"}])


def test_export_refuses_non_empty_folders_and_uris(trained: TrainResult, export_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileExistsError):
        export_saved_model(trained.model, export_dir)
    with pytest.raises(ValueError, match="local folder"):
        export_saved_model(trained.model, "gs://bucket/models/eyewear")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_saved_model(trained.model, empty) == empty


def test_load_rejects_foreign_saved_models(tmp_path: Path) -> None:
    module = tf.Module()
    module.double = tf.function(lambda x: 2 * x, input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    tf.saved_model.save(module, str(tmp_path / "other"), signatures={"serving_default": module.double})
    with pytest.raises(ValueError, match="not the eyewear features"):
        load_serving_model(tmp_path / "other")
    tf.saved_model.save(tf.Module(), str(tmp_path / "bare"))
    with pytest.raises(ValueError, match="no 'serving_default' signature"):
        load_serving_model(tmp_path / "bare")


def test_an_exported_model_evaluates_like_the_keras_model(
    export_dir: Path, dataset: DatasetPaths, evaluation: EvaluationResult
) -> None:
    exported = evaluate(load_serving_model(export_dir), dataset.test)

    assert exported.num_examples == evaluation.num_examples
    assert exported.accuracy == pytest.approx(evaluation.accuracy, abs=1e-6)
    assert exported.loss == pytest.approx(evaluation.loss, rel=1e-4)
