"""The GCS request budgets of the per-version layout, counted on the emulator: exactly the README's table.

On GCS every round trip costs tens of milliseconds and every byte of the head is downloaded by every component that
starts cold, so requests are counted on the HTTP session of the client handed to GCSStorage, and response bytes as
they came over the wire. The model is grown through the API to a full working set, older versions (state files and an
index chunk), sealed history segments, a production and a staging version and an endpoint; every measured reader is
a fresh `ModelRegistry` (nothing cached), as a CLI call or a pipeline step is. The expected counts are read from the
README's table, so that the documentation and the code cannot disagree by a request: a wasted read fails here.
"""

from __future__ import annotations

import ast
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.gcs_emulator import GCSEmulator, RequestCounter, make_client
from support.recording_target import RecordingTarget

from registry_core import HistoryAction, ModelRegistry, ModelStage, RegistryConfig
from registry_core.documents import ModelHead
from registry_core.layout import HEADS, INDEX_CHUNK, index_chunk
from registry_core.metadata import ModelMetadata
from registry_core.model_store import HOT_HIGH, HOT_LOW, SEAL_SIZE, TAIL_HIGH
from registry_core.storage.gcs import GCSStorage

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `benchmarks` is a folder of the repo, not a package
from benchmarks.scale.workload import version_fields  # noqa: E402

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_TITLE = "**Requests per operation on GCS.**"
MODEL = "budget"
VERSIONS = 124  # the working set is full again at 124: evictions at 41, 62, 83, 104 leave 20, and 20 more come
FILES = 3  # per artifact folder, like a tiny SavedModel
RESOLVE_BYTES = 64 * 1024  # issue 12: resolving downloads at most 64 KB
PRODUCTION_AT, SUPERSEDED_AT, STAGING_AT = 100, 10, 110  # which versions end where
ENDPOINT = "budget-endpoint"

# Rows of the README table, by the start of their operation cell.
RESOLVE_HOT = "resolve the production or staging version"
RESOLVE_COLD = "resolve an older version"
LIST = "list every version"
CHANGE_HOT = "promote or approve a working-set version"
CHANGE_COLD = "promote or approve an older version"
REGISTER = "register a version"
REGISTER_FIRST = "register the first version of a model"
EVICTION = "a write after which the working set is too big"
SEAL = "a write after which the head's history is too long"
HISTORY = "the whole history"
AS_OF_TAIL = "`as_of` / `history --at` a moment in the head's history"
AS_OF_SEGMENT = "`as_of` / `history --at` a moment in a sealed segment"
AS_OF_BEFORE = "`as_of` / `history --at` a moment before the first entry"


# -- the README's table -----------------------------------------------------------------------------------------


def _readme_budgets() -> dict[str, str]:
    """Return operation cell -> requests cell of the README's table."""
    text = README.read_text()
    assert TABLE_TITLE in text, f"README.md lacks the table {TABLE_TITLE!r}"
    lines = text[text.index(TABLE_TITLE) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1]
    return rows


def _budget(rows: dict[str, str], operation: str, **values: int) -> int:
    """Evaluate the requests cell of `operation` ("2", "5 + F", "1 + ⌈C / 1000⌉", "+ 2 × L + 2") with `values`."""
    matches = [cell for name, cell in rows.items() if name.startswith(operation)]
    assert len(matches) == 1, f"the README's table has {len(matches)} rows starting {operation!r}: {sorted(rows)}"
    expression = matches[0].replace("⌈", "ceil(").replace("⌉", ")").replace("×", "*").lstrip("+ ")
    result = _evaluate(ast.parse(expression, mode="eval").body, values)
    assert result == int(result), f"{matches[0]} is not a whole number of requests for {values}"
    return int(result)


def _evaluate(node: ast.expr, values: dict[str, int]) -> float:
    """Evaluate numbers, names, +, ×, / and ceil(); anything else in the table is a mistake of the table."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name):
        assert node.id in values, f"the README's table uses {node.id}, which this row does not define"
        return values[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _evaluate(node.left, values) + _evaluate(node.right, values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _evaluate(node.left, values) * _evaluate(node.right, values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _evaluate(node.left, values) / _evaluate(node.right, values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ceil":
        return math.ceil(_evaluate(node.args[0], values))
    raise AssertionError(f"the README's table has a requests cell this test cannot read: {ast.unparse(node)}")


def test_the_readme_states_the_thresholds_of_the_code() -> None:
    text = README.read_text()
    section = " ".join(text[text.index(TABLE_TITLE) :].split("\n## ")[0].split())
    moved = HOT_HIGH + 1 - HOT_LOW
    for stated in (
        f"past {HOT_HIGH} versions", f"down to {HOT_LOW}", f"L = {moved} versions", f"registration in {moved}",
        f"most {TAIL_HIGH} history entries", f"oldest {SEAL_SIZE}",
    ):  # fmt: skip
        assert stated in section, f"the README does not say {stated!r}: the thresholds changed"
    assert f"per {INDEX_CHUNK:,} of them" in section
    assert _budget(_readme_budgets(), LIST, C=INDEX_CHUNK + 1) == 3, "listing reads one chunk per INDEX_CHUNK"


# -- the grown model ---------------------------------------------------------------------------------------------


def _fields(index: int) -> dict[str, Any]:
    """Metadata as a nightly training pipeline registers it: `make bench-scale`'s, which the README's sizes are of."""
    return version_fields(index)


def _folder(root: Path, index: int) -> Path:
    folder = root / f"export-{index}"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(f"graph {index}".encode() * 200)
    (folder / "variables" / "variables.index").write_bytes(f"index {index}".encode() * 30)
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(f"weights {index}".encode() * 100)
    return folder


@dataclass
class Measured:
    """What one operation cost."""

    requests: int
    downloaded: int
    methods: list[str]


@dataclass
class Grown:
    """The grown model, and what growing it cost."""

    uri: str
    counter: RequestCounter
    client: Any
    direct: GCSStorage  # uncounted: looks at the head between operations
    registrations: list[tuple[Measured, ModelHead | None, ModelHead]] = field(default_factory=list)
    largest_head: int = 0

    def fresh(self) -> ModelRegistry:
        """A registry with nothing cached, as a new process has (same counted connection pool)."""
        return ModelRegistry(RegistryConfig(root=self.uri), storage=GCSStorage(self.uri, client=self.client))

    def measure(self, call: Callable[[ModelRegistry], Any]) -> tuple[Any, Measured]:
        """Run `call` on a fresh registry; return its result and what it cost."""
        registry = self.fresh()
        self.counter.reset()
        result = call(registry)
        return result, Measured(self.counter.count, self.counter.downloaded, list(self.counter.methods))

    def head(self) -> ModelHead:
        return ModelHead.model_validate_json(self.direct.read(HEADS.key(MODEL)))


def _ladder(registry: ModelRegistry, label: str, last: ModelStage) -> None:
    for stage in (ModelStage.VALIDATION, ModelStage.STAGING, ModelStage.PRODUCTION):
        if stage is ModelStage.PRODUCTION:
            registry.approve(MODEL, label, stage, approver="reviewer", comment="metrics reviewed")
        registry.promote_model(MODEL, label, stage, actor="operator", reason=f"to {stage.value}")
        if stage is last:
            return


@pytest.fixture(scope="module")
def grown(gcs_emulator: GCSEmulator, tmp_path_factory: pytest.TempPathFactory) -> Grown:
    """Register VERSIONS versions one by one (each counted), with a production, a staging version and an endpoint."""
    uri = f"gs://{gcs_emulator.create_bucket()}/registry"
    counter = RequestCounter(count_bytes=True)
    client = make_client(gcs_emulator.url, counter.session)
    model = Grown(uri, counter, client, GCSStorage(uri, client=make_client(gcs_emulator.url)))
    writer = model.fresh()
    folders = tmp_path_factory.mktemp("exports")
    before: ModelHead | None = None
    for index in range(1, VERSIONS + 1):
        folder = _folder(folders, index)
        _, cost = model.measure(
            lambda registry, i=index, f=folder: registry.register_model(MODEL, f, registered_by="trainer", **_fields(i))
        )
        after = model.head()
        model.registrations.append((cost, before, after))
        if index in (SUPERSEDED_AT, PRODUCTION_AT):
            _ladder(writer, f"v{index}", ModelStage.PRODUCTION)
        if index == SUPERSEDED_AT:
            writer.deploy_model(MODEL, f"v{index}", endpoint_name=ENDPOINT, target=RecordingTarget(), actor="operator")
        if index == STAGING_AT:
            _ladder(writer, f"v{index}", ModelStage.STAGING)
        before = model.head()
        model.largest_head = max(model.largest_head, len(model.direct.read(HEADS.key(MODEL))))
    return model


def _holder(head: ModelHead, stage: ModelStage) -> str:
    """The newest version in `stage` (production and staging holders are always in the working set)."""
    return max((hot.brief.ordinal, label) for label, hot in head.hot.items() if hot.state.stage is stage)[1]


def _moved_out(before: ModelHead | None, after: ModelHead, new: str | None = None) -> tuple[int, int]:
    """How many versions a write moved out of the working set, and into how many index chunks."""
    was = set(before.hot if before is not None else ()) | ({new} if new else set())
    gone = was - set(after.hot)
    ordinals = {label: hot.brief.ordinal for label, hot in (before.hot.items() if before else ())}
    return len(gone), len({index_chunk(ordinals[label]) for label in gone if label in ordinals})


def _extra(before: ModelHead | None, after: ModelHead, new: str | None = None) -> int:
    """The requests a write makes beyond its row of the table: evictions and seals (their own rows)."""
    rows = _readme_budgets()
    moved, _chunks = _moved_out(before, after, new)
    extra = _budget(rows, EVICTION, L=moved) if moved else 0
    sealed = after.segments - (before.segments if before is not None else 0)
    return extra + sealed * _budget(rows, SEAL)


def test_registration_costs_exactly_the_tables_requests(grown: Grown) -> None:
    rows = _readme_budgets()
    evictions, seals = [], []
    for index, (cost, before, after) in enumerate(grown.registrations, 1):
        label = f"v{index}"
        row = REGISTER_FIRST if before is None else REGISTER
        expected = _budget(rows, row, F=FILES) + _extra(before, after, label)
        assert cost.requests == expected, f"registering {label} took {cost.requests} requests: {cost.methods}"
        moved, chunks = _moved_out(before, after, label)
        if moved:
            evictions.append((index, moved, chunks))
        if before is not None and after.segments > before.segments:
            seals.append(index)
    # The growth crossed every case of the table: several evictions of L = HOT_HIGH + 1 - HOT_LOW, several seals.
    assert len(evictions) >= 3, evictions
    assert all(moved == HOT_HIGH + 1 - HOT_LOW and chunks == 1 for _, moved, chunks in evictions), evictions
    assert len(seals) >= 3, seals
    last = grown.head()
    assert last.frozen_upto > 0
    assert last.segments >= 3
    assert len(last.hot) >= HOT_HIGH
    print(f"registrations: evictions at {evictions}, seals at {seals}")


def test_resolving_costs_two_requests_and_at_most_64_kb(grown: Grown) -> None:
    rows = _readme_budgets()
    hot = _budget(rows, RESOLVE_HOT)
    holders = {stage: _holder(grown.head(), stage) for stage in (ModelStage.PRODUCTION, ModelStage.STAGING)}
    cases: list[tuple[str, Callable[[ModelRegistry], ModelMetadata], str]] = [
        ("production", lambda r: r.get_model_metadata(MODEL, stage="production"), holders[ModelStage.PRODUCTION]),
        ("staging", lambda r: r.get_model_metadata(MODEL, stage=ModelStage.STAGING), holders[ModelStage.STAGING]),
        ("the latest", lambda r: r.get_model_metadata(MODEL), f"v{VERSIONS}"),
        ("a working-set label", lambda r: r.get_model_metadata(MODEL, f"v{VERSIONS - 5}"), f"v{VERSIONS - 5}"),
    ]
    sizes = {}
    for what, call, label in cases:
        found, cost = grown.measure(call)
        assert found.version == label
        assert len(found.artifact_manifest) == FILES, "a resolve returns the whole version"
        assert cost.requests == hot, f"resolving {what} took {cost.requests} requests: {cost.methods}"
        assert cost.downloaded <= RESOLVE_BYTES, f"resolving {what} downloaded {cost.downloaded} bytes"
        sizes[what] = cost.downloaded
    # The head was at its largest at some point of the growth; with any version file it stays within the budget.
    files = [f"versions/{MODEL}/v{i}.json" for i in (1, VERSIONS)]
    files += [key for key in grown.direct.list(f"versions/{MODEL}/") if key.endswith(".state.json")]
    version_file = max(len(grown.direct.read(key)) for key in files)  # or a state file: an older version's
    assert grown.largest_head + version_file <= RESOLVE_BYTES, (grown.largest_head, version_file)
    stated = re.search(r"at most 64 KB \(measured: (\d+) KB at most", " ".join(README.read_text().split()))
    assert stated, "the README states what resolving downloaded"
    assert abs(int(stated.group(1)) - (grown.largest_head + version_file) / 1024) <= 1, "update the README"
    print(f"resolve downloads: {sizes}; largest head {grown.largest_head} B, version file {version_file} B")


def test_an_older_version_costs_the_same_two_requests(grown: Grown) -> None:
    head = grown.head()
    cold = [f"v{i}" for i in range(1, VERSIONS + 1) if f"v{i}" not in head.hot]
    assert f"v{SUPERSEDED_AT}" in cold, "the superseded production version left the working set"
    for label in (cold[0], f"v{SUPERSEDED_AT}", cold[-1]):
        found, cost = grown.measure(lambda r, label=label: r.get_model_metadata(MODEL, label))
        assert found.version == label
        assert len(found.artifact_manifest) == FILES
        assert cost.requests == _budget(_readme_budgets(), RESOLVE_COLD) == 2, cost.methods
        assert cost.downloaded <= RESOLVE_BYTES, f"resolving {label} downloaded {cost.downloaded} bytes"
    archived = grown.fresh().get_model_metadata(MODEL, f"v{SUPERSEDED_AT}")
    assert archived.stage is ModelStage.ARCHIVED
    assert [c.to_stage for c in archived.stage_history][-1] is ModelStage.ARCHIVED
    assert archived.deployments, "its state file kept its deployment"


def test_listing_reads_the_head_and_one_index_chunk_per_thousand(grown: Grown) -> None:
    head = grown.head()
    listed, cost = grown.measure(lambda r: r.list_versions(MODEL))
    assert [row.version for row in listed] == [f"v{i}" for i in range(1, VERSIONS + 1)]
    whole = grown.fresh().store.full_record(MODEL)
    assert [(row.version, row.stage, row.metrics) for row in listed] == [
        (m.version, m.stage, m.metrics) for m in whole.versions
    ]
    assert {row.stage for row in listed} >= {ModelStage.PRODUCTION, ModelStage.STAGING, ModelStage.ARCHIVED}
    assert listed[0].metrics.accuracy == pytest.approx(_fields(1)["metrics"]["accuracy"])
    expected = _budget(_readme_budgets(), LIST, C=head.frozen_upto)
    assert cost.requests == expected == 2, f"listing took {cost.requests} requests: {cost.methods}"


def test_promotion_and_approval_cost_three_requests_whatever_the_versions_age(grown: Grown) -> None:
    rows = _readme_budgets()
    head = grown.head()
    newest = sorted(head.hot.values(), key=lambda hot: -hot.brief.ordinal)
    candidate = next(hot.brief.version for hot in newest if hot.state.stage is ModelStage.DEVELOPMENT)
    for stage in (ModelStage.VALIDATION, ModelStage.STAGING):
        before = grown.head()
        promoted, cost = grown.measure(
            lambda r, stage=stage: r.promote_model(MODEL, candidate, stage, actor="operator")
        )
        assert promoted.stage is stage
        expected = _budget(rows, CHANGE_HOT) + _extra(before, grown.head())
        assert cost.requests == expected, f"promoting {candidate} to {stage} took {cost.requests}: {cost.methods}"
    before = grown.head()
    approved, cost = grown.measure(lambda r: r.approve(MODEL, candidate, "production", approver="reviewer"))
    assert approved.approvals
    assert cost.requests == _budget(rows, CHANGE_HOT) + _extra(before, grown.head()), cost.methods
    before = grown.head()
    promoted, cost = grown.measure(lambda r: r.promote_model(MODEL, candidate, "production", actor="operator"))
    assert promoted.stage is ModelStage.PRODUCTION
    assert cost.requests == _budget(rows, CHANGE_HOT) + _extra(before, grown.head()), cost.methods
    superseded = _holder(before, ModelStage.PRODUCTION)
    assert grown.fresh().get_model_metadata(MODEL, superseded).stage is ModelStage.ARCHIVED

    older = next(f"v{i}" for i in range(1, VERSIONS) if f"v{i}" not in grown.head().hot)
    before = grown.head()
    moved, cost = grown.measure(lambda r: r.promote_model(MODEL, older, "validation", actor="operator"))
    assert moved.stage is ModelStage.VALIDATION
    assert cost.requests == _budget(rows, CHANGE_COLD) + _extra(before, grown.head()), cost.methods
    assert _budget(rows, CHANGE_COLD) == 3, "issue 12: a promotion costs at most 3 requests"
    assert older in grown.head().hot, "a version a change touched is back in the working set"


def test_history_reads_every_segment_once(grown: Grown) -> None:
    head = grown.head()
    entries, cost = grown.measure(lambda r: r.history(MODEL))
    assert cost.requests == _budget(_readme_budgets(), HISTORY, S=head.segments), cost.methods
    assert [e.id for e in entries[-len(head.tail) :]] == [e.id for e in head.tail]
    assert len(entries) == head.segments * SEAL_SIZE + len(head.tail)


def test_as_of_reads_only_the_history_that_covers_the_moment(grown: Grown) -> None:
    rows = _readme_budgets()
    head = grown.head()
    endpoints = len(grown.direct.list("endpoints/"))
    assert endpoints == 1
    history = grown.fresh().history(MODEL)
    promoted = next(
        e
        for e in history
        if e.version == f"v{SUPERSEDED_AT}"
        and e.action is HistoryAction.STAGE_CHANGED
        and e.to_stage is ModelStage.PRODUCTION
    )
    assert history.index(promoted) < head.segments * SEAL_SIZE, "the first promotion is in a sealed segment"

    found, cost = grown.measure(lambda r: r.as_of(MODEL, promoted.at))
    assert found.stages == {ModelStage.PRODUCTION: [f"v{SUPERSEDED_AT}"]}
    assert cost.requests == _budget(rows, AS_OF_SEGMENT, E=endpoints), cost.methods
    segment_reads = [m for m in cost.methods if "/o/" in m and "history%2F" in m]
    assert len(segment_reads) == 1, f"as_of read more than the segment that covers the moment: {cost.methods}"

    found, cost = grown.measure(lambda r: r.as_of(MODEL, head.tail[-1].at))
    assert ModelStage.PRODUCTION in found.stages
    assert found.endpoints == {ENDPOINT: {f"v{SUPERSEDED_AT}": 100}}
    assert cost.requests == _budget(rows, AS_OF_TAIL, E=endpoints), cost.methods

    first = history[0].at
    found, cost = grown.measure(lambda r: r.as_of(MODEL, first.replace(year=first.year - 1)))
    assert found.stages == {}
    assert found.endpoints == {}
    assert cost.requests == _budget(rows, AS_OF_BEFORE, E=endpoints), cost.methods
