"""Whatever register_model accepts reads back equal, from a fresh process's view; whatever it refuses leaves no trace.

One refused value used to brick a model: a 4301-digit integer parameter was stored, and every read of the model
failed after it. Here hypothesis throws numbers of every size, text with lone surrogates and long or many values
at register_model, on the local backend and (fewer examples) on GCS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from registry_core import InvalidInputError, Lineage, ModelRegistry, RegistryConfig

MODEL = "roundtrip"
ROUND_TRIP = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

texts = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(exclude_categories=()), max_size=12),  # lone surrogates included
    st.sampled_from(["", " ", "\ud800", "\x00", "é\u2028\U0001f600", "null"]),
    st.integers(min_value=9_999, max_value=10_001).map(lambda n: "x" * n),  # around the longest text kept
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**53 - 1, 2**53, -(2**53 - 1), -(2**53), 10**400, 10**4301, 0]),
    st.floats(),
    st.sampled_from([1.7976931348623157e308, 5e-324, -0.0, float("inf"), float("nan")]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
many = st.integers(min_value=999, max_value=1002)
params = st.one_of(
    st.dictionaries(texts, scalars, max_size=4),
    many.map(lambda n: {f"p{i}": i for i in range(n)}),
)
metrics = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(["accuracy", "auc", "loss"]), texts), numbers, max_size=4),
    many.map(lambda n: {f"m{i}": i / n for i in range(n)}),
)
lineage = st.fixed_dictionaries(
    {},
    optional={
        "training_data_uris": st.lists(texts, max_size=3),
        "pipeline_run": st.one_of(st.none(), texts),
        "code_version": texts,
        "extra": st.dictionaries(texts, texts, max_size=3),
    },
)
arguments = st.fixed_dictionaries(
    {},
    optional={
        "params": params,
        "metrics": metrics,
        "description": texts,
        "tags": st.lists(texts, max_size=3),
        "lineage": lineage,
        "framework": st.one_of(st.none(), texts),
    },
)


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    return folder


@pytest.fixture
def local_registry(tmp_path: Path, artifact: Path) -> ModelRegistry:
    return seeded(str(tmp_path / "registry"), artifact)


@pytest.fixture
def gcs_registry(gcs_bucket: str, artifact: Path) -> ModelRegistry:
    return seeded(f"gs://{gcs_bucket}/registry", artifact)


def seeded(root: str, artifact: Path) -> ModelRegistry:
    """A registry at `root` whose model already has a version (a bricked document would hide it)."""
    registry = ModelRegistry(RegistryConfig(root=root))
    registry.register_model(MODEL, artifact, params={"seed": 1})
    return registry


def check_round_trip(registry: ModelRegistry, artifact: Path, given_arguments: dict[str, Any]) -> None:
    """Register with `given_arguments`; accepted means it reads back equal, refused means nothing changed."""
    before = len(registry.list_versions(MODEL))
    try:
        registered = registry.register_model(MODEL, artifact, **given_arguments)
    except InvalidInputError:
        registered = None
    event("refused" if registered is None else "accepted")
    # read by a registry object with nothing cached, as another process would
    fresh = ModelRegistry(RegistryConfig(root=registry.storage.uri))
    versions = fresh.list_versions(MODEL)  # every version stays readable, whatever was refused
    if registered is None:
        assert len(versions) == before
        return
    stored = fresh.get_model_metadata(MODEL, registered.version)
    assert stored == registered
    if "params" in given_arguments:
        assert stored.params == given_arguments["params"]
        # 1 == 1.0 == True in Python: the types must survive too
        assert {k: type(v) for k, v in stored.params.items()} == {
            k: type(v) for k, v in given_arguments["params"].items()
        }
    if "metrics" in given_arguments:
        assert stored.metrics.as_dict() == {k: float(v) for k, v in given_arguments["metrics"].items()}
    if "description" in given_arguments:
        assert stored.description == given_arguments["description"]
    if "lineage" in given_arguments:
        assert stored.lineage == Lineage.model_validate(given_arguments["lineage"])
    if "tags" in given_arguments:
        assert set(stored.tags) == {tag.strip() for tag in given_arguments["tags"]}


@ROUND_TRIP
@given(given_arguments=arguments)
def test_what_register_accepts_reads_back_equal_on_the_local_backend(
    local_registry: ModelRegistry, artifact: Path, given_arguments: dict[str, Any]
) -> None:
    check_round_trip(local_registry, artifact, given_arguments)


@settings(ROUND_TRIP, max_examples=60)
@given(given_arguments=arguments)
def test_what_register_accepts_reads_back_equal_on_gcs(
    gcs_registry: ModelRegistry, artifact: Path, given_arguments: dict[str, Any]
) -> None:
    check_round_trip(gcs_registry, artifact, given_arguments)
