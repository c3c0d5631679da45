"""What register_model, annotate and friends accept is bounded, and their errors quote input briefly."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_core import InvalidInputError, ModelRegistry, RegistryConfig, RegistryError
from registry_core.bounds import MAX_SAFE_INTEGER

BIG = "x" * 120_000
MODEL = "churn"


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.data").write_bytes(b"weights")
    return folder


@pytest.fixture
def registry(tmp_path: Path, artifact: Path) -> ModelRegistry:
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    registry.register_model(MODEL, artifact, registered_by="alice")
    return registry


def reopened(registry: ModelRegistry) -> ModelRegistry:
    """A second registry object on the same root: it parses the stored document, with no cache."""
    return ModelRegistry(RegistryConfig(root=registry.storage.uri))


# ------------------------------------------------------------------------------------ stored values are bounded


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"params": {"a": 10**4301}}, "beyond ±(2**53 - 1)"),
        ({"params": {"a": MAX_SAFE_INTEGER + 1}}, "beyond ±(2**53 - 1)"),
        ({"params": {"a": -MAX_SAFE_INTEGER - 1}}, "beyond ±(2**53 - 1)"),
        ({"params": {"a": float("nan")}}, "must be finite"),
        ({"params": {"a": "\ud800"}}, "not valid Unicode"),
        ({"params": {"\udcff": 1}}, "not valid Unicode"),
        ({"params": {"a": "x" * 10_001}}, "longer than 10000 characters"),
        ({"params": {f"p{i}": i for i in range(1001)}}, "too many parameters"),
        ({"metrics": {"a": 10**400}}, "must be a finite number"),
        ({"metrics": {"accuracy": 10**400}}, "must be a finite number"),
        ({"metrics": {"\ud800": 1.0}}, "not valid Unicode"),
        ({"metrics": {3: 1.0}}, "metric names must be strings"),
        ({"metrics": {f"m{i}": 0.5 for i in range(1001)}}, "too many metrics"),
        ({"description": "\udfff"}, "not valid Unicode"),
        ({"lineage": {"pipeline_run": "\ud800"}}, "not valid Unicode"),
        ({"lineage": {"extra": {"note": "\ud800"}}}, "not valid Unicode"),
        ({"lineage": {"training_data_uris": ["gs://b/" + "x" * 3000]}}, "longer than 2048 characters"),
        ({"lineage": {"training_data_uris": [f"gs://b/{i}" for i in range(1001)]}}, "too many training data URIs"),
        ({"framework": "\ud800"}, "invalid framework"),
        ({"framework": 3}, "invalid framework"),
        ({"tags": [f"t{i}" for i in range(101)]}, "too many tags"),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, str) else None,
)
def test_register_refuses_what_could_not_be_read_back(
    registry: ModelRegistry, artifact: Path, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        registry.register_model(MODEL, artifact, **arguments)

    # nothing was written, and the model still reads back (one bad call used to brick every version)
    assert [m.version for m in reopened(registry).list_versions(MODEL)] == ["v1"]


def test_the_largest_accepted_values_read_back_equal(registry: ModelRegistry, artifact: Path) -> None:
    params = {
        "big": MAX_SAFE_INTEGER,
        "small": -MAX_SAFE_INTEGER,
        "float": 1.7976931348623157e308,
        "text": "é" * 10_000,
    }
    metrics = {"accuracy": 10**300, "tiny": 5e-324}

    registered = registry.register_model(MODEL, artifact, params=params, metrics=metrics)

    stored = reopened(registry).get_model_metadata(MODEL, registered.version)
    assert stored == registered
    assert stored.params == params
    assert stored.metrics.as_dict() == {"accuracy": float(10**300), "tiny": 5e-324}


def test_annotations_are_bounded_and_huge_integers_refused(registry: ModelRegistry) -> None:
    with pytest.raises(InvalidInputError, match=r"annotation 'a' is <an integer of 16610 bits>"):
        registry.annotate(MODEL, "v1", {"a": 10**5000})
    with pytest.raises(InvalidInputError, match="longer than 10000 characters"):
        registry.annotate(MODEL, "v1", {"note": BIG})
    with pytest.raises(InvalidInputError, match="not valid Unicode"):
        registry.annotate(MODEL, "v1", {"note": "\ud800"})
    registry.annotate(MODEL, "v1", {"epochs": 5, "passed": True})
    assert reopened(registry).get_model_metadata(MODEL, "v1").annotations == {"epochs": "5", "passed": "True"}


# ------------------------------------------------------------------------------ errors quote input briefly

CALLS: dict[str, Callable[[ModelRegistry, Path], object]] = {
    "stage": lambda r, a: r.promote_model(MODEL, "v1", BIG),
    "version": lambda r, a: r.get_model_metadata(MODEL, BIG),
    "model name": lambda r, a: r.get_model_metadata(BIG),
    "artifact path": lambda r, a: r.register_model(MODEL, a.parent / BIG),
    "param name": lambda r, a: r.register_model(MODEL, a, params={BIG: 1}),
    "param value": lambda r, a: r.register_model(MODEL, a, params={"p": BIG}),
    "tag": lambda r, a: r.register_model(MODEL, a, tags=[BIG]),
    "metric name": lambda r, a: r.register_model(MODEL, a, metrics={BIG: "x"}),
    "metric value": lambda r, a: r.register_model(MODEL, a, metrics={"auc": BIG}),
    "lineage": lambda r, a: r.register_model(MODEL, a, lineage={"code_version": BIG}),
    "actor": lambda r, a: r.promote_model(MODEL, "v1", "validation", actor=BIG),
    "approver": lambda r, a: r.approve(MODEL, "v1", "production", approver=BIG),
    "bump": lambda r, a: r.register_model(MODEL, a, bump=BIG),
    "compare": lambda r, a: r.compare_models(MODEL, ["v1", BIG]),
    "endpoint": lambda r, a: r.get_endpoint(BIG),
    "target": lambda r, a: r.deploy_model(MODEL, "v1", endpoint_name="shop", target=BIG),
    "traffic": lambda r, a: r.deploy_model(MODEL, "v1", endpoint_name="shop", traffic_percent=BIG),
    "annotation": lambda r, a: r.annotate(MODEL, "v1", {BIG: "x"}),
    "bucket": lambda r, a: ModelRegistry.from_uri("gs://" + BIG),
    "scheme": lambda r, a: ModelRegistry.from_uri(BIG + "://root"),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_an_error_quoting_120_kb_of_input_is_short(registry: ModelRegistry, artifact: Path, call: str) -> None:
    with pytest.raises(RegistryError) as caught:
        CALLS[call](registry, artifact)

    message = str(caught.value)
    assert len(message) <= 300, message[:500]
    assert "\n" not in message


# ------------------------------------------------------------------------------------------- symbolic links


def test_a_symlinked_folder_inside_an_artifact_is_refused_by_name(
    registry: ModelRegistry, artifact: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.key").write_bytes(b"not part of the model")
    os.symlink(elsewhere, artifact / "assets")

    with pytest.raises(InvalidInputError, match=r"symbolic link, 'assets' -> .*elsewhere"):
        registry.register_model(MODEL, artifact)

    assert [m.version for m in registry.list_versions(MODEL)] == ["v1"]
    assert len(registry.storage.list(f"artifacts/{MODEL}/")) == 2  # v1's files only: nothing was uploaded


def test_a_symlinked_file_inside_an_artifact_is_refused_the_same_way(
    registry: ModelRegistry, artifact: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "id_rsa"
    outside.write_bytes(b"private key")
    os.symlink(outside, artifact / "variables" / "variables.index")

    with pytest.raises(InvalidInputError, match=r"symbolic link, 'variables/variables.index' -> .*id_rsa"):
        registry.register_model(MODEL, artifact)


def test_a_dangling_link_and_a_fifo_are_refused(registry: ModelRegistry, artifact: Path) -> None:
    os.symlink(artifact / "nowhere", artifact / "dangling")
    with pytest.raises(InvalidInputError, match="symbolic link, 'dangling'"):
        registry.register_model(MODEL, artifact)
    (artifact / "dangling").unlink()
    os.mkfifo(artifact / "pipe")
    with pytest.raises(InvalidInputError, match="'pipe', which is not a regular file"):
        registry.register_model(MODEL, artifact)


def test_the_artifact_path_itself_may_be_a_link(registry: ModelRegistry, artifact: Path, tmp_path: Path) -> None:
    link = tmp_path / "latest-export"
    os.symlink(artifact, link)

    registered = registry.register_model(MODEL, link)

    assert {entry.path for entry in registered.artifact_manifest} == {"saved_model.pb", "variables/variables.data"}
