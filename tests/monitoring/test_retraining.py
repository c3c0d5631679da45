"""The retraining request and finding its runner: by name, by entry point, and the errors when there is none.

The runs themselves (kfp's local runner, a Vertex AI job) are tested in tests/pipeline_tests/test_retraining.py.
A third-party runner is a real installed distribution: a ``.dist-info`` folder with its entry points on sys.path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from registry_core.errors import DependencyMissingError, InvalidInputError, RegistryError
from registry_core.monitoring.retraining import (
    DEFAULT_RETRAINERS,
    RetrainOutcome,
    RetrainRequest,
    find_retrainer,
    start_retraining,
    trigger_lineage,
)

REPORT = "file:///registry/monitoring/shop/reports/20261129T190000Z-ab12cd.html"


def request(**overrides: object) -> RetrainRequest:
    fields: dict = {
        "registry_root": "/tmp/registry", "model_name": "eyewear", "endpoint": "shop",
        "reason": "drift in face_width_mm (0.41 > 0.2)", "report_uri": REPORT,
    }  # fmt: skip
    return RetrainRequest(**(fields | overrides))


def install_plugin(folder: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str, code: str) -> None:
    """Install a distribution `retrain_plugin` whose module `retrain_plugin` holds `code`, on sys.path."""
    (folder / "retrain_plugin.py").write_text(code)
    info = folder / "retrain_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: retrain-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[registry_core.retrainers]\n{entry_points}\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "retrain_plugin", raising=False)


def test_the_pipeline_parameters_carry_the_registry_model_data_and_trigger() -> None:
    made = request(data_source_uri="gs://data/fresh/*.tfrecord", parameters={"num_train": 300, "data_seed": 7})
    assert made.pipeline_parameters() == {
        "num_train": 300,
        "data_seed": 7,
        "registry_root": "/tmp/registry",
        "model_name": "eyewear",
        "data_source_uri": "gs://data/fresh/*.tfrecord",
        "trigger_reason": "drift in face_width_mm (0.41 > 0.2)",
        "trigger_report": REPORT,
    }


def test_the_reason_is_folded_into_one_line() -> None:
    assert request(reason="drift in width\n\taccuracy 0.7 is 0.1 below 0.8\x1b[31m").reason == (
        "drift in width accuracy 0.7 is 0.1 below 0.8\\x1b[31m"
    )


@pytest.mark.parametrize("name", ["registry_root", "model_name", "data_source_uri", "trigger_reason"])
def test_parameters_may_not_set_what_the_request_sets(name: str) -> None:
    with pytest.raises(InvalidInputError, match=name):
        request(parameters={name: "x"})


def test_a_request_needs_a_model_name() -> None:
    with pytest.raises(InvalidInputError, match="model's name"):
        request(model_name="")


def test_the_trigger_lineage_leaves_out_empty_values() -> None:
    expected = {"trained_because": "drift in width", "monitoring_report": REPORT}
    assert trigger_lineage("drift\nin width", REPORT) == expected
    assert trigger_lineage("", "") == {}


def test_the_default_runners_are_found_by_name_before_any_entry_point_is_installed() -> None:
    from pipelines.retrain import run_local_retraining, submit_retraining

    assert find_retrainer("local") is run_local_retraining
    assert find_retrainer("vertex") is submit_retraining
    assert set(DEFAULT_RETRAINERS) == {"local", "vertex"}


def test_an_unknown_runner_is_a_one_line_error_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInputError) as caught:
        start_retraining(request(runner="kubeflow\nserver"))
    message = str(caught.value)
    assert "\n" not in message
    assert message == "unknown retraining runner 'kubeflow\\nserver': choose one of local, vertex"
    assert caught.value.exit_code == 2


def test_without_the_pipelines_package_the_runner_is_a_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules is how Python says that a module cannot be imported: as if it were not installed
    monkeypatch.setitem(sys.modules, "pipelines", None)
    monkeypatch.setitem(sys.modules, "pipelines.retrain", None)
    with pytest.raises(DependencyMissingError) as caught:
        start_retraining(request(runner="local"))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the 'local' retraining runner (pipelines.retrain:run_local_retraining) is not installed")
    assert message.endswith("pip install 'registry-core[kfp]'")
    assert caught.value.exit_code == 8


def test_a_runner_installed_by_entry_point_is_started_with_the_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, "argo = retrain_plugin:run", (
        "from registry_core.monitoring.retraining import RetrainOutcome\n"
        "def run(request):\n"
        "    return RetrainOutcome('argo', f'argo/{request.model_name}/{request.endpoint}', None)\n"
    ))  # fmt: skip
    outcome = start_retraining(request(runner="argo"))
    assert outcome == RetrainOutcome("argo", "argo/eyewear/shop", None)
    assert outcome.as_dict() == {"runner": "argo", "run": "argo/eyewear/shop", "version": None}
    with pytest.raises(InvalidInputError, match="choose one of argo, local, vertex"):
        find_retrainer("airflow")


def test_an_installed_runner_whose_module_is_broken_or_returns_nonsense_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, "gone = retrain_plugin:missing\nodd = retrain_plugin:run", (
        "def run(request):\n"
        "    return 'started'\n"
    ))  # fmt: skip
    with pytest.raises(DependencyMissingError, match=r"\(retrain_plugin:missing\) does not exist"):
        start_retraining(request(runner="gone"))
    with pytest.raises(RegistryError, match="returned 'started', not a RetrainOutcome"):
        start_retraining(request(runner="odd"))
