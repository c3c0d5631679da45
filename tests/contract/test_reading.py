"""Reading: listing models and versions, resolving by label, stage or latest, and what is not there.

Every test runs on the local backend and on GCS (the `storage_root` fixture); fixtures in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from registry_support import (
    MODEL,
    S,
    drive,
)

from registry_core import (
    ModelMetadata,
    ModelNotFoundError,
    ModelRegistry,
    ModelStage,
    RegistryConfig,
    VersionNotFoundError,
)
from registry_core.model_store import HOT_HIGH, HOT_LOW
from registry_core.storage import StorageBackend


def test_list_models_returns_every_model_name_sorted(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for name in ("zeta", "alpha", "mid-model"):
        register(name)

    assert registry.list_models() == ["alpha", "mid-model", "zeta"]


def test_list_models_of_an_empty_existing_registry_is_empty(registry: ModelRegistry, storage: StorageBackend) -> None:
    storage.write("README", b"an empty registry")  # makes the local root folder exist

    assert registry.list_models() == []


def test_list_versions_orders_labels_numerically(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for _ in range(11):
        register()

    labels = [m.version for m in registry.list_versions(MODEL)]

    assert labels == [f"v{n}" for n in range(1, 12)]
    assert labels.index("v2") < labels.index("v10")


def test_get_model_metadata_without_version_or_stage_returns_the_latest_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    latest = register()

    assert registry.get_model_metadata(MODEL) == latest


def test_get_model_metadata_by_version_returns_that_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    first = register()
    register()

    assert registry.get_model_metadata(MODEL, "v1") == first


def test_get_model_metadata_by_stage_returns_the_latest_version_in_that_stage(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for _ in range(3):
        register()
    drive(registry, "v1", S.STAGING)
    drive(registry, "v2", S.STAGING)

    found = registry.get_model_metadata(MODEL, stage="staging")

    assert (found.version, found.stage) == ("v2", S.STAGING)


def test_the_highest_label_in_a_stage_wins_over_newer_registrations_with_lower_labels(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register(version="v90")
    registry.archive_model(MODEL, "v90")
    register(version="v100")
    for n in range(1, HOT_HIGH + 2):  # a maintenance line below: v90 leaves the head's working set
        register(version=f"v{n}")
    registry.archive_model(MODEL, f"v{HOT_HIGH + 1}")

    assert "v90" not in registry.store.head(MODEL).hot  # type: ignore[union-attr]
    assert registry.get_model_metadata(MODEL, stage="archived").version == "v90"


def test_get_model_metadata_by_version_and_stage_returns_the_version_when_both_agree(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    drive(registry, "v1", S.VALIDATION)

    assert registry.get_model_metadata(MODEL, version="v1", stage=S.VALIDATION).version == "v1"


def test_get_model_metadata_by_version_in_another_stage_raises_version_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(VersionNotFoundError, match="development"):
        registry.get_model_metadata(MODEL, version="v1", stage=S.PRODUCTION)


def test_get_model_metadata_for_a_stage_without_versions_raises_version_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(VersionNotFoundError, match="production"):
        registry.get_model_metadata(MODEL, stage="production")


def test_a_bare_number_is_normalized_to_a_v_label(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for _ in range(3):
        register()

    assert registry.get_model_metadata(MODEL, "3").version == "v3"


def test_an_unknown_model_raises_model_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(ModelNotFoundError, match="nonexistent"):
        registry.get_model_metadata("nonexistent")
    with pytest.raises(ModelNotFoundError):
        registry.list_versions("nonexistent")


def test_an_unknown_version_raises_version_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(VersionNotFoundError, match="v9"):
        registry.get_model_metadata(MODEL, "v9")


def test_a_long_lived_reader_lists_what_other_writers_moved_out_of_the_working_set_since(
    storage_root: str, registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    reader = ModelRegistry(RegistryConfig(root=storage_root))  # `registry` writes
    for _ in range(HOT_HIGH + 1):  # the first eviction writes index chunk 0
        register(MODEL)
    first = reader.list_versions(MODEL)
    assert len(first) == HOT_HIGH + 1
    assert reader.list_versions(MODEL) == first  # the same bytes: the kept parse

    for _ in range(HOT_HIGH - HOT_LOW + 1):  # the next eviction rewrites chunk 0 with more rows
        register(MODEL)
    registry.archive_model(MODEL, "v1")  # and a version outside the working set comes back into it, archived

    listed = reader.list_versions(MODEL)
    assert listed == registry.list_versions(MODEL) == ModelRegistry(RegistryConfig(root=storage_root)).list_versions(
        MODEL
    )
    assert len(listed) == 2 * HOT_HIGH + 2 - HOT_LOW
    assert listed[0].stage is ModelStage.ARCHIVED
