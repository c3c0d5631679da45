"""The generator's drift knobs change what they say and nothing else; read_rows reads any examples back as rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from eyewear_model.data import generate_dataset, read_rows, simulate_examples
from eyewear_model.drift import MEASUREMENTS, DataDrift
from eyewear_model.schema import FACE_SHAPES, LABEL_KEY, decode_example

# sha256 over the names and bytes of generate_dataset(num_train=40, num_validation=10, num_test=10, shards=2, seed=5)
# written before the drift knobs existed
FILES_BEFORE_DRIFT_KNOBS = "b0410d9049a7b5c6ab48d963acd48afbcb13dc738dff61a7f72483377fa9250b"


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _simulate(drift: DataDrift | None, count: int = 1000) -> list[dict]:
    return simulate_examples(count, np.random.default_rng(42), drift=drift)


def _same_except(before: list[dict], after: list[dict], changed: set[str]) -> None:
    for old, new in zip(before, after, strict=True):
        assert {k: v for k, v in old.items() if k not in changed} == {k: v for k, v in new.items() if k not in changed}


@pytest.mark.parametrize("drift", [None, DataDrift(), {}])
def test_without_drift_the_files_are_those_written_before_the_knobs(tmp_path: Path, drift) -> None:
    generate_dataset(str(tmp_path), num_train=40, num_validation=10, num_test=10, shards=2, seed=5, drift=drift)
    assert _digest(tmp_path) == FILES_BEFORE_DRIFT_KNOBS


def test_a_measurement_shift_moves_every_measurement_and_nothing_else() -> None:
    before, after = _simulate(None), _simulate(DataDrift(measurement_shift_mm=3.0))
    _same_except(before, after, set(MEASUREMENTS))
    for old, new in zip(before, after, strict=True):
        for name in MEASUREMENTS:
            assert new[name] - old[name] == pytest.approx(3.0, abs=0.11)  # both sides rounded to 0.1 mm


def test_a_measurement_scale_multiplies_the_measurements() -> None:
    before, after = _simulate(None), _simulate(DataDrift(measurement_scale=1.1))
    _same_except(before, after, set(MEASUREMENTS))
    for old, new in zip(before, after, strict=True):
        assert new["face_width_mm"] == pytest.approx(old["face_width_mm"] * 1.1, abs=0.12)


def test_reweighted_face_shapes_change_the_shapes_and_what_follows_from_them_only() -> None:
    before, after = _simulate(None), _simulate(DataDrift(face_shape_weights={"round": 3, "oval": 1}))
    shares = {s: sum(r["face_shape"] == s for r in after) / len(after) for s in ("round", "oval")}
    assert shares["round"] == pytest.approx(0.75, abs=0.05)
    assert shares["round"] + shares["oval"] == 1
    # width and height follow the face shape, and the label follows all three; nothing else moves
    _same_except(before, after, {"face_shape", "face_width_mm", "face_height_mm", "temple_length_mm",
                                 "pupillary_distance_mm", LABEL_KEY})  # fmt: skip


def test_new_categories_are_written_and_read_back(tmp_path: Path) -> None:
    drift = DataDrift(face_shape_weights={"oval": 1, "hexagon": 1}, preferred_style_weights={"grunge": 1})
    paths = generate_dataset(str(tmp_path), num_train=200, num_validation=5, num_test=5, seed=1, drift=drift)
    rows = list(read_rows(paths.train))
    assert len(rows) == 200
    assert {r["face_shape"] for r in rows} == {"oval", "hexagon"}
    assert {r["preferred_style"] for r in rows} == {"grunge"}


def test_label_noise_changes_that_share_of_labels_only() -> None:
    before, after = _simulate(None, 2000), _simulate(DataDrift(label_noise=0.3), 2000)
    _same_except(before, after, {LABEL_KEY})
    changed = sum(old[LABEL_KEY] != new[LABEL_KEY] for old, new in zip(before, after, strict=True)) / 2000
    assert changed == pytest.approx(0.3 * 4 / 5, abs=0.03)  # a redrawn label is the old one a fifth of the time


def test_drifted_data_is_deterministic() -> None:
    drift = DataDrift(face_shape_weights={"square": 1, "star": 1}, label_noise=0.2, measurement_shift_mm=-2)
    assert _simulate(drift) == _simulate(drift)


@pytest.mark.parametrize(
    "knobs",
    [{"label_noise": 1.5}, {"measurement_scale": 0}, {"face_shape_weights": {}}, {"face_shape_weights": {"a": -1}},
     {"measurement_shift_mm": float("nan")}, {"shift": 1}],
)  # fmt: skip
def test_bad_knobs_are_refused(tmp_path: Path, knobs: dict) -> None:
    with pytest.raises(ValueError, match="drift|DataDrift"):
        generate_dataset(str(tmp_path), num_train=5, num_validation=5, num_test=5, drift=knobs)


def test_read_rows_gives_the_values_decode_example_gives(tmp_path: Path) -> None:
    paths = generate_dataset(str(tmp_path), num_train=20, num_validation=5, num_test=5, seed=3)
    import tensorflow as tf

    decoded = [decode_example(r) for r in tf.data.TFRecordDataset(paths.train).as_numpy_iterator()]
    rows = list(read_rows(paths.train))
    assert rows == [dict(sorted(d.items())) for d in decoded]
    assert {r["face_shape"] for r in rows} <= set(FACE_SHAPES)
