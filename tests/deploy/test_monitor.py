"""`model-registry monitor` on a served endpoint: clean traffic passes; drift and wrong answers raise the alarm.

The version is registered with the profile of the very data it was trained on (as the pipeline does); traffic and
feedback go through a real prediction server process, and the monitor runs as users type it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from deploy_support import MODEL, REGISTRANT, Exports, ServerProcess, call

from registry_core import ModelRegistry
from registry_core.metadata import HistoryAction
from registry_core.monitoring.run_reports import list_reports

ENDPOINT = "shop"
LABEL = "frame_style"


def labelled_rows(folder: Path, count: int, seed: int, drift: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of synthetic eyewear data (features and the label), as the generator writes them."""
    from eyewear_model import generate_dataset
    from eyewear_model.data import read_rows

    data = generate_dataset(
        str(folder), num_train=count, num_validation=1, num_test=1, shards=1, seed=seed, drift=drift
    )
    return list(read_rows(data.train))


@pytest.fixture
def monitored(tmp_path: Path, exports: Exports) -> ModelRegistry:
    """A local registry whose v1 carries the profile of its training data, deployed to ENDPOINT."""
    return deployed_with_profile(str(tmp_path / "registry"), exports, tmp_path)


def deployed_with_profile(root: str, exports: Exports, scratch: Path) -> ModelRegistry:
    """Register v1 with the profile of its training data (the exports' seed 0, 300 rows) and deploy it locally."""
    from registry_core.integration import register_trained_model
    from registry_core.monitoring.profile import mark_training_only, profile_rows

    training = labelled_rows(scratch / "training", 300, seed=0)
    profile = profile_rows(training)  # the label too, as the pipeline profiles its TFRecords
    mark_training_only(profile.schema, [LABEL])
    registry = ModelRegistry.from_uri(root)
    register_trained_model(
        exports.v1, MODEL, registry=registry, registered_by=REGISTRANT, data_profile=profile,
    )  # fmt: skip
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    return registry


def serve_and_label(server: ServerProcess, rows: list[dict[str, Any]], *, wrong: bool = False) -> int:
    """Send the rows' features for prediction, then their labels (or one the model did not give) as feedback.

    Returns how many predictions were right.
    """
    url = f"{server.url}/v1/endpoints/{ENDPOINT}"
    right = 0
    for start in range(0, len(rows), 50):
        batch = rows[start : start + 50]
        reply = call("POST", f"{url}:predict", {"instances": [{k: v for k, v in r.items() if k != LABEL}
                                                              for r in batch]})  # fmt: skip
        assert reply.status == 200, reply.text
        ids, predictions = reply.body["predictionIds"], reply.body["predictions"]
        labels = [
            next(c for c in p["classes"] if c != p[LABEL]) if wrong else row[LABEL]
            for row, p in zip(batch, predictions, strict=True)
        ]
        feedback = [{"prediction_id": i, "label": label} for i, label in zip(ids, labels, strict=True)]
        reply = call("POST", f"{url}:feedback", {"feedback": feedback})
        assert reply.status == 200, reply.text
        right += sum(p[LABEL] == label for p, label in zip(predictions, labels, strict=True))
    return right


def monitor(registry: ModelRegistry, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run ``python -m registry_core.cli monitor`` as users do; return the exit code, the JSON and stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "registry_core.cli", "--registry", registry.storage.uri, "monitor", ENDPOINT,
         "--json", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def test_clean_traffic_passes_then_drift_and_wrong_answers_raise_the_alarm(
    monitored: ModelRegistry, start_server: Any, tmp_path: Path
) -> None:
    server = start_server(monitored, ENDPOINT, ["--log-flush-seconds", "0.2"])
    accuracy = serve_and_label(server, labelled_rows(tmp_path / "clean", 400, seed=7)) / 400
    server.stop()  # flushes the logs
    monitored.annotate(MODEL, "v1", {}, metrics={"accuracy": accuracy})  # as validated on the same distribution
    code, clean, stderr = monitor(monitored, "--fail-on-alert")
    assert code == 0, stderr
    assert (clean["model"], clean["version"], clean["predictions"]) == (MODEL, "v1", 400)
    assert clean["drift_detected"] is False
    assert clean["anomalies"] == []  # the label is in the training profile, never in served instances
    assert clean["retrain_triggered"] is False
    assert set(clean["features"]) >= {"face_width_mm", "face_shape"}
    assert not any(f["drifted"] for f in clean["features"].values())
    assert clean["quality"]["labeled"] == 400
    assert clean["quality"]["quality_degraded"] is False
    assert clean["quality"]["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert clean["quality"]["validated"] == {"accuracy": pytest.approx(accuracy)}

    server = start_server(monitored, ENDPOINT, ["--log-flush-seconds", "0.2"])
    drift = {"measurement_shift_mm": 12.0, "face_shape_weights": {"oval": 1.0, "triangle": 3.0}}
    serve_and_label(server, labelled_rows(tmp_path / "drifted", 800, seed=8, drift=drift), wrong=True)
    server.stop()
    policy = tmp_path / "policy.json"
    retraining = {"runner": "local", "pipeline_root": str(tmp_path / "runs"), "parameters": {
        "num_train": 300, "num_validation": 100, "num_test": 100, "model_config": {"epochs": 1},
        "thresholds": {"accuracy": 0.0}, "data_drift": {"measurement_shift_mm": 12.0},
    }}  # fmt: skip
    policy.write_text(json.dumps({"window": "1h", "retraining": retraining}))
    code, drifted, stderr = monitor(monitored, "--fail-on-alert", "--retrain", "--policy", str(policy))
    assert code == 1, stderr
    assert drifted["predictions"] == 1200
    assert drifted["drift_detected"] is True
    assert drifted["features"]["face_width_mm"]["drifted"] is True
    assert drifted["features"]["face_width_mm"]["test"] == "wasserstein_normalized"
    assert any(a["kind"] == "unknown_category" and a["feature"] == "face_shape" for a in drifted["anomalies"])
    assert drifted["quality_degraded"] is True
    assert drifted["quality"]["metrics"]["accuracy"] == pytest.approx(accuracy / 3)
    assert drifted["reason"].startswith("drift in ")
    assert "face_width_mm (" in drifted["reason"]
    assert drifted["retrain_triggered"] is True
    assert drifted["retrain"]["status"] == "registered"
    assert drifted["retrain"]["version"] == "v2"
    retrained = monitored.get_model_metadata(MODEL, "v2")
    assert retrained.lineage.extra["monitoring_report"] == drifted["report_uri"]
    assert retrained.lineage.extra["trained_because"].startswith(f"monitoring of {ENDPOINT}: drift in ")
    profile = monitored.get_data_profile(MODEL, "v2")  # the new version has its own profile, made by the pipeline
    assert profile.num_examples == 300
    assert [f.name for f in profile.schema.feature if "SERVING" in f.not_in_environment] == [LABEL]
    code, again, stderr = monitor(monitored, "--retrain", "--policy", str(policy))  # within the cooldown
    assert code == 0, stderr
    assert again["alert"] is True
    assert again["retrain_triggered"] is False
    assert again["retrain"]["status"] == "skipped"
    assert "already started at" in again["retrain"]["reason"]
    assert [v.version for v in monitored.list_versions(MODEL)] == ["v1", "v2"]

    reports = list_reports(monitored.storage, ENDPOINT)
    assert [r["drift_detected"] for r in reports] == [False, True, True]
    page = Path(unquote(urlsplit(drifted["report_uri"]).path)).read_text(encoding="utf-8")
    assert "v2" in page  # the retraining's outcome
    assert "triangle" in page  # the unknown face shape, escaped into the report
    assert "<script" not in page
    entries = [e for e in monitored.history(MODEL) if e.action is HistoryAction.MONITORED]
    assert entries[1].details["retrain_version"] == "v2"
    assert [(e.version, e.details["alert"], e.details["endpoint"]) for e in entries] == [
        ("v1", "false", ENDPOINT), ("v1", "true", ENDPOINT), ("v1", "true", ENDPOINT),
    ]  # fmt: skip
    assert entries[1].details["report"] == drifted["report_uri"]


def test_bad_input_is_one_line_and_changes_nothing(monitored: ModelRegistry, tmp_path: Path) -> None:
    for args, expected in [
        (["--window", "yesterday"], "a window is a number and a unit"),
        (["--window", "0h"], "longer than 0"),
        (["--policy", str(tmp_path / "missing.json")], "cannot read the monitoring policy"),
        (["--save-policy"], "--save-policy stores the file given with --policy"),
    ]:
        code, _, stderr = monitor(monitored, *args)
        assert code != 0
        assert stderr.startswith("error: "), stderr
        assert expected in stderr, stderr
        assert stderr.count("\n") == 1, stderr
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"windw": "2h"}))
    code, _, stderr = monitor(monitored, "--policy", str(policy), "--save-policy")
    assert code != 0
    assert "unknown monitoring policy key 'windw'" in stderr
    assert list_reports(monitored.storage, ENDPOINT) == []
    assert not [e for e in monitored.history(MODEL) if e.action is HistoryAction.MONITORED]
    done = subprocess.run(
        [sys.executable, "-m", "registry_core.cli", "--registry", monitored.storage.uri, "monitor", "nowhere"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.startswith("error: ")
    assert "nowhere" in done.stderr


def test_a_stored_policy_sets_the_thresholds_of_later_runs(monitored: ModelRegistry, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('window = "2h"\nmin_predictions = 5\n[thresholds]\nnumeric_drift = 0.5\n')
    code, first, stderr = monitor(monitored, "--policy", str(policy), "--save-policy")
    assert code == 0, stderr
    assert first["window"]["seconds"] == 7200
    assert (first["predictions"], first["drift_detected"], first["quality"]) == (0, False, None)
    code, later, stderr = monitor(monitored)
    assert code == 0, stderr
    assert later["window"]["seconds"] == 7200  # read back from monitoring/shop/policy.json


def test_the_library_monitors_a_registry_on_either_backend(storage_root: str, exports: Exports, tmp_path: Path) -> None:
    registry = deployed_with_profile(storage_root, exports, tmp_path)
    rows = labelled_rows(tmp_path / "drifted", 200, seed=9, drift={"measurement_shift_mm": 12.0})
    answer = registry.predict(ENDPOINT, [{k: v for k, v in row.items() if k != LABEL} for row in rows])
    assert len(answer.prediction_ids) == len(rows)
    assert registry.send_feedback(ENDPOINT, {i: row[LABEL] for i, row in zip(answer.prediction_ids, rows, strict=True)})
    assert registry.flush_prediction_logs(timeout=30)
    result = registry.monitor(ENDPOINT, window="1h", policy={"min_labeled": 10})
    assert (result.version, result.predictions, result.drift_detected) == ("v1", 200, True)
    assert result.quality is not None
    assert result.quality.labeled == 200
    assert result.quality.validated == {}  # registered without metrics: nothing to fall short of
    assert not result.quality_degraded
    assert result.report_uri.startswith(registry.storage.uri)
    assert [r["report_uri"] for r in list_reports(registry.storage, ENDPOINT)] == [result.report_uri]
    entry = registry.history(MODEL)[-1]
    assert (entry.action, entry.details["alert"], entry.reason) == (HistoryAction.MONITORED, "true", result.reason)


def test_a_retraining_that_fails_is_reported_and_may_be_tried_again(monitored: ModelRegistry, tmp_path: Path) -> None:
    from registry_core.errors import InvalidInputError
    from registry_core.monitoring.monitor import run_monitor
    from registry_core.monitoring.policy import MonitorPolicy

    rows = labelled_rows(tmp_path / "drifted", 150, seed=9, drift={"measurement_shift_mm": 12.0})
    monitored.predict(ENDPOINT, [{k: v for k, v in row.items() if k != LABEL} for row in rows])
    assert monitored.flush_prediction_logs(timeout=30)
    policy = MonitorPolicy.from_mapping({"retrain": True, "retraining": {"runner": "nowhere"}})
    for _ in range(2):  # the failed attempt gave its claim back: the next run tries again
        result = run_monitor(monitored, ENDPOINT, policy=policy)
        assert result.drift_detected
        assert isinstance(result.retrain_error, InvalidInputError)
        assert result.retrain is not None
        assert (result.retrain["status"], result.retrain_triggered) == ("failed", False)
        assert "nowhere" in result.retrain["error"]
    assert [r["retrain"]["status"] for r in list_reports(monitored.storage, ENDPOINT)] == ["failed", "failed"]
    policy_file = tmp_path / "failing-policy.json"
    policy_file.write_text(json.dumps({"retrain": True, "retraining": {"runner": "nowhere"}}))
    code, summary, stderr = monitor(monitored, "--retrain", "--policy", str(policy_file))
    assert code == InvalidInputError.exit_code
    assert summary["retrain"]["status"] == "failed"  # printed before the error
    assert stderr.startswith("error: ")
    assert stderr.count("\n") == 1



def test_traffic_the_server_did_not_log_makes_the_run_incomplete(
    monitored: ModelRegistry, start_server: Any, tmp_path: Path
) -> None:
    server = start_server(monitored, ENDPOINT, ["--log-flush-seconds", "0.2", "--log-max-per-hour", "60"])
    serve_and_label(server, labelled_rows(tmp_path / "clean", 100, seed=7))  # two requests of 50: one over the cap
    server.stop()
    code, summary, stderr = monitor(monitored)
    assert code == 0, stderr
    assert summary["predictions"] == 50
    assert summary["complete"] is False
    assert summary["gaps"] == {"overHourlyCap": 50}
