"""Notebook tables: versions, comparisons, histories and endpoints render as escaped HTML tables in Jupyter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from registry_core import (
    DeployedModel,
    EndpointList,
    EndpointRecord,
    HistoryList,
    ModelRegistry,
    ModelStage,
    RegistryConfig,
    VersionList,
)
from registry_core.html_tables import Strong, table

HOSTILE = "<script>alert(\"x\")</script> & <b onclick='y'>"
T0 = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC)
TABLE_TAGS = {"table", "caption", "thead", "tbody", "tr", "th", "td", "strong"}


class _Table(HTMLParser):
    """The text of a rendered table: caption, header cells, body rows, and every tag seen."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.caption = ""
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self.bold: list[str] = []
        self._text: list[str] | None = None
        self._bold_from = 0
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("caption", "th", "td"):
            self._text = []
        elif tag == "strong":
            self._bold_from = len(self._text or [])
        elif tag == "tr" and self.header:
            self.rows.append([])

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text or [])
        if tag == "caption":
            self.caption = text
        elif tag == "th":
            self.header.append(text)
        elif tag == "td":
            self.rows[-1].append(text)
        elif tag == "strong":
            self.bold.append("".join((self._text or [])[self._bold_from :]))
            return
        if tag in ("caption", "th", "td"):
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _parse(markup: str) -> _Table:
    parsed = _Table(markup)
    assert set(parsed.tags) <= TABLE_TAGS
    return parsed


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    for index, (accuracy, loss) in enumerate([(0.9, 0.31), (0.95, 0.2)], start=1):
        folder = tmp_path / f"model-{index}"
        folder.mkdir()
        (folder / "weights.txt").write_text(f"weights {index}")
        registry.register_model(
            "churn",
            folder,
            metrics={"accuracy": accuracy, "loss": loss},
            description=HOSTILE if index == 1 else "second",
            tags=["baseline"] if index == 1 else [],
            registered_by="alice",
        )
    return registry


def test_every_value_caption_and_column_is_escaped() -> None:
    markup = table([HOSTILE], [[HOSTILE]], caption=HOSTILE)

    parsed = _parse(markup)
    assert "<script>" not in markup
    assert (parsed.caption, parsed.header, parsed.rows) == (HOSTILE, [HOSTILE], [[HOSTILE]])


def test_control_characters_are_shown_as_escapes_not_obeyed() -> None:
    parsed = _parse(table(["name"], [["evil\x1b[2J\u202ename"]]))

    assert parsed.rows == [["evil\\x1b[2J\\u202ename"]]


def test_values_are_shown_as_a_person_reads_them() -> None:
    row = [None, ModelStage.STAGING, T0, 0.123456, ("a", "b"), {"epochs": 5}, Strong(HOSTILE)]

    parsed = _parse(table(list("abcdefg"), [row]))

    assert parsed.rows == [["", "staging", "2024-05-01 12:30:05", "0.1235", "a, b", "epochs=5", HOSTILE]]
    assert parsed.bold == [HOSTILE]


def test_versions_are_a_list_with_a_column_per_metric(registry: ModelRegistry) -> None:
    versions = registry.list_versions("churn")

    parsed = _parse(versions._repr_html_())
    assert isinstance(versions, VersionList)
    assert parsed.caption == "churn"
    assert parsed.header == [
        "version", "stage", "accuracy", "loss", "tags", "registered by", "registered at", "description",
    ]  # fmt: skip
    assert [row[:4] for row in parsed.rows] == [
        ["v1", "development", "0.9", "0.31"],
        ["v2", "development", "0.95", "0.2"],
    ]
    assert parsed.rows[0][-1] == HOSTILE


def test_versions_still_behave_as_the_plain_list_callers_had(registry: ModelRegistry) -> None:
    versions = registry.list_versions("churn")
    plain = list(versions)

    assert versions == plain
    assert versions[-1].version == "v2"
    assert [m.version for m in versions[::-1]] == ["v2", "v1"]
    assert json.dumps([m.model_dump(mode="json") for m in versions]) == json.dumps(
        [m.model_dump(mode="json") for m in plain]
    )


def test_one_version_is_a_field_value_table_without_empty_fields(registry: ModelRegistry) -> None:
    registry.promote_model("churn", "v1", ModelStage.VALIDATION, actor="alice")
    registry.promote_model("churn", "v1", ModelStage.STAGING, actor="alice")
    registry.approve("churn", "v1", ModelStage.PRODUCTION, approver="bob")

    parsed = _parse(registry.get_model_metadata("churn", "v1")._repr_html_())

    fields = dict((field, value) for field, value in parsed.rows)
    assert parsed.caption == "churn v1"
    assert parsed.header == ["field", "value"]
    assert fields["stage"] == "staging"
    assert fields["description"] == HOSTILE
    assert fields["metrics"] == "accuracy=0.9, loss=0.31"
    assert fields["approvals"] == "bob for production"
    assert "params" not in fields
    assert "deployments" not in fields


def test_a_comparison_has_a_column_per_version_and_the_best_in_bold(registry: ModelRegistry) -> None:
    parsed = _parse(registry.compare_models("churn", ["v1", "v2"])._repr_html_())

    assert parsed.header == ["metric", "v1", "v2"]
    assert parsed.rows == [["accuracy", "0.9", "0.95"], ["loss", "0.31", "0.2"]]
    assert parsed.bold == ["0.95", "0.2"]


def test_history_is_a_list_with_a_row_per_entry(registry: ModelRegistry) -> None:
    registry.promote_model("churn", "v2", ModelStage.VALIDATION, actor="carol", reason=HOSTILE)
    history = registry.history("churn")

    parsed = _parse(history._repr_html_())
    assert isinstance(history, HistoryList)
    assert history == list(history)
    assert parsed.header == ["at", "actor", "action", "version", "from", "to", "reason", "details"]
    assert [row[1:7] for row in parsed.rows] == [
        ["alice", "registered", "v1", "", "development", ""],
        ["alice", "registered", "v2", "", "development", ""],
        ["carol", "stage_changed", "v2", "development", "validation", HOSTILE],
    ]


def _endpoint(name: str) -> EndpointRecord:
    def deployed(ident: str, version: str, undeployed: datetime | None = None) -> DeployedModel:
        return DeployedModel(
            id=ident, model_name="churn", version=version, artifact_digest="sha256:" + "a" * 64,
            artifact_uri="file:///r/a", deployed_by=HOSTILE, deployed_at=T0, undeployed_at=undeployed,
        )  # fmt: skip

    return EndpointRecord(
        name=name,
        target="local",
        created_at=T0,
        deployments=(deployed("d1", "v1", undeployed=T0), deployed("d2", "v2"), deployed("d3", "v3")),
        traffic={"d2": 90, "d3": 10},
    )


def test_an_endpoint_is_a_table_of_its_deployments_and_traffic() -> None:
    parsed = _parse(_endpoint("shop")._repr_html_())

    assert parsed.caption == "endpoint shop (local)"
    assert parsed.header == [
        "deployed model id", "model", "version", "traffic %", "deployed by", "deployed at", "undeployed at",
    ]  # fmt: skip
    assert [row[:5] for row in parsed.rows] == [
        ["d1", "churn", "v1", "0", HOSTILE],
        ["d2", "churn", "v2", "90", HOSTILE],
        ["d3", "churn", "v3", "10", HOSTILE],
    ]
    assert [row[6] for row in parsed.rows] == ["2024-05-01 12:30:05", "", ""]


def test_endpoints_are_a_list_with_what_serves_on_each() -> None:
    endpoints = EndpointList([_endpoint("shop"), _endpoint("<i>lab</i>")])

    parsed = _parse(endpoints._repr_html_())
    assert parsed.header == ["endpoint", "target", "serving", "created at"]
    assert parsed.rows == [
        ["shop", "local", "churn v2 90%, churn v3 10%", "2024-05-01 12:30:05"],
        ["<i>lab</i>", "local", "churn v2 90%, churn v3 10%", "2024-05-01 12:30:05"],
    ]


def test_the_registry_returns_endpoints_as_a_table_list(registry: ModelRegistry) -> None:
    endpoints = registry.list_endpoints()

    assert isinstance(endpoints, EndpointList)
    assert endpoints == []
    assert _parse(endpoints._repr_html_()).rows == []
