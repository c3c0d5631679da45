"""The storage layout: every key builder reads back through its parser, and no name can leave its prefix."""

from __future__ import annotations

import pytest

from registry_core import layout
from registry_core.errors import InvalidInputError, InvalidNameError

ESCAPES = ["../etc", "a/b", "", ".", "Churn", "churn.json", "x" * 64, "churn\n", "ch urn", "/abs", "churn/../x"]
UPLOAD = "20240101T120000-0123456789ab"


# ------------------------------------------------------------------------------------------------- documents


@pytest.mark.parametrize(
    ("documents", "key"), [(layout.MODELS, "models/churn.json"), (layout.ENDPOINTS, "endpoints/churn.json")]
)
def test_a_document_key_reads_back_as_its_name(documents: layout.Documents, key: str) -> None:
    assert documents.key("churn") == key
    assert documents.name_of(key) == "churn"
    assert documents.folder_name_of(key) is None


@pytest.mark.parametrize("documents", [layout.MODELS, layout.ENDPOINTS])
@pytest.mark.parametrize("name", ESCAPES)
def test_a_document_key_refuses_names_that_are_not_names(documents: layout.Documents, name: str) -> None:
    with pytest.raises(InvalidNameError, match=f"invalid {documents.kind} name"):
        documents.key(name)


@pytest.mark.parametrize(
    "key",
    ["models/churn", "models/churn.txt", "models/a/churn.json", "endpoints/churn.json", "modelschurn.json", "models/"],
)
def test_keys_that_are_no_model_document_have_no_name(key: str) -> None:
    assert layout.MODELS.name_of(key) is None


def test_a_key_inside_a_folder_named_like_a_document_names_that_document() -> None:
    assert layout.MODELS.folder_name_of("models/churn.json/recovered.json") == "churn"
    assert layout.MODELS.folder_name_of("models/churn/recovered.json") is None
    assert layout.MODELS.name_of("models/churn.json/recovered.json") is None


def test_a_listed_name_gets_its_key_unvalidated_but_never_outside_the_folder() -> None:
    assert layout.MODELS.listed_key("Not A Name") == "models/Not A Name.json"  # check reports it by this key
    with pytest.raises(InvalidInputError):
        layout.MODELS.listed_key("../escape")


# --------------------------------------------------------------------------------------------------- uploads


def test_an_upload_folder_and_its_marker_read_back_as_each_other() -> None:
    folder = layout.artifacts_folder("churn", UPLOAD)
    marker = layout.pending_key("churn", UPLOAD)

    assert folder == f"artifacts/churn/{UPLOAD}"
    assert marker == f"pending/churn/{UPLOAD}.json"
    assert layout.upload_of_marker(marker) == folder
    assert layout.owner_of_upload(folder) == "churn"
    assert layout.upload_of_file(f"{folder}/variables/variables.index") == (folder, "variables/variables.index")


def test_new_upload_ids_are_unique_valid_and_sort_by_time() -> None:
    ids = [layout.new_upload_id() for _ in range(100)]

    assert len(set(ids)) == 100
    assert all(layout.artifacts_folder("churn", i) for i in ids)
    assert all(i[:8].isdigit() and i[8] == "T" for i in ids)


@pytest.mark.parametrize("name", ESCAPES)
def test_upload_keys_refuse_model_names_that_are_not_names(name: str) -> None:
    with pytest.raises(InvalidNameError):
        layout.artifacts_folder(name, UPLOAD)
    with pytest.raises(InvalidNameError):
        layout.pending_key(name, UPLOAD)


@pytest.mark.parametrize("upload_id", ["", "..", "../x", "a/b", "-x", ".hidden", "x" * 101, "id\n"])
def test_upload_keys_refuse_ids_that_are_not_one_plain_segment(upload_id: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid upload id"):
        layout.artifacts_folder("churn", upload_id)
    with pytest.raises(InvalidInputError, match="invalid upload id"):
        layout.pending_key("churn", upload_id)


@pytest.mark.parametrize("key", ["pending/stray.json", "pending/churn/", "pending//x.json", "pending/churn/.json"])
def test_keys_under_pending_that_are_no_marker_mark_no_upload(key: str) -> None:
    assert layout.upload_of_marker(key) is None


@pytest.mark.parametrize("key", ["artifacts/churn", "artifacts/churn/upload", "models/churn.json/x/y"])
def test_keys_that_are_no_artifact_file_lie_in_no_upload(key: str) -> None:
    assert layout.upload_of_file(key) is None


# ----------------------------------------------------------------------------------------- artifact locations


@pytest.mark.parametrize("root", ["file:///srv/registry", "gs://bucket/registry", "gs://bucket/registry/"])
def test_an_artifact_location_is_stored_relative_and_resolves_under_the_root(root: str) -> None:
    locations = layout.RootRelativeLocations(root)
    folder = layout.artifacts_folder("churn", UPLOAD)
    uri = f"{root.rstrip('/')}/{folder}"

    assert locations.stored(uri) == folder
    assert locations.key(uri) == folder
    assert locations.resolved(folder, "churn") == uri


def test_a_location_written_under_an_old_root_resolves_under_the_current_one() -> None:
    locations = layout.RootRelativeLocations("gs://new-bucket/registry")

    resolved = locations.resolved(f"file:///old/place/artifacts/churn/{UPLOAD}", "churn")

    assert resolved == f"gs://new-bucket/registry/artifacts/churn/{UPLOAD}"


def test_a_location_outside_the_root_is_kept_as_it_is_and_has_no_key() -> None:
    locations = layout.RootRelativeLocations("gs://bucket/registry")
    elsewhere = "gs://other/models/churn"

    assert locations.stored(elsewhere) == elsewhere
    assert locations.key(elsewhere) is None
    assert locations.key("gs://bucket/registry-2/artifacts/churn/x") is None  # a sibling is not inside
    assert locations.resolved(elsewhere, "churn") == elsewhere
