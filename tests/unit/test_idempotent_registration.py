"""`register_model(idempotency_key=...)`: a retried or re-run registration returns its version, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core import ModelRegistry
from registry_core.errors import InvalidInputError

KEY = "gs://runs/123/eyewear-train-and-register-20261129/train-model_42/model"


def artifacts(folder: Path, content: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weights.bin").write_text(content)
    return folder


def test_the_same_key_and_bytes_return_the_version_registered_first(storage_root: str, tmp_path: Path) -> None:
    registry = ModelRegistry.from_uri(storage_root)
    first = registry.register_model("eyewear", artifacts(tmp_path / "a", "w1"), idempotency_key=KEY)
    again = registry.register_model("eyewear", artifacts(tmp_path / "b", "w1"), idempotency_key=KEY)
    assert (again.version, again.artifact_uri) == (first.version, first.artifact_uri) == ("v1", first.artifact_uri)
    assert [m.version for m in registry.list_versions("eyewear")] == ["v1"]
    assert first.lineage.extra["idempotency_key"] == KEY
    assert registry.check().ok  # the second upload was removed


def test_other_bytes_or_another_key_or_no_key_are_new_versions(storage_root: str, tmp_path: Path) -> None:
    registry = ModelRegistry.from_uri(storage_root)
    registry.register_model("eyewear", artifacts(tmp_path / "a", "w1"), idempotency_key=KEY)
    assert registry.register_model("eyewear", artifacts(tmp_path / "b", "w2"), idempotency_key=KEY).version == "v2"
    assert registry.register_model("eyewear", artifacts(tmp_path / "c", "w1"), idempotency_key="other").version == "v3"
    assert registry.register_model("eyewear", artifacts(tmp_path / "d", "w1")).version == "v4"


@pytest.mark.parametrize("key", ["", "   ", 7])
def test_a_blank_or_non_text_key_is_refused(key: object, tmp_path: Path) -> None:
    registry = ModelRegistry.from_uri(str(tmp_path / "registry"))
    with pytest.raises(InvalidInputError, match="idempotency_key"):
        registry.register_model("eyewear", artifacts(tmp_path / "a", "w"), idempotency_key=key)  # type: ignore[arg-type]
