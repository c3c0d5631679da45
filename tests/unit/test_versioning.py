"""Version labels: issuing the next one, normalizing user input, ordering numerically."""

from __future__ import annotations

import pytest

from registry_core import InvalidInputError, InvalidVersionError, VersioningStrategy
from registry_core.versioning import next_version, normalize_version, version_key

AUTO = VersioningStrategy.AUTO_INCREMENT
SEMVER = VersioningStrategy.SEMANTIC


@pytest.mark.parametrize(
    ("existing", "expected"),
    [([], "v1"), (["v1"], "v2"), (["v1", "v2", "v3"], "v4"), (["v2", "v10", "v9"], "v11"), (["v7"], "v8")],
)
def test_auto_increment_issues_one_more_than_the_highest_label(existing: list[str], expected: str) -> None:
    assert next_version(AUTO, existing) == expected


def test_auto_increment_ignores_the_bump() -> None:
    assert next_version(AUTO, ["v4"], bump="major") == "v5"


def test_semantic_versioning_starts_at_v1_0_0() -> None:
    assert next_version(SEMVER, [], bump="patch") == "v1.0.0"


@pytest.mark.parametrize(("bump", "expected"), [("major", "v2.0.0"), ("minor", "v1.3.0"), ("patch", "v1.2.4")])
def test_semantic_versioning_bumps_the_named_part_of_the_highest_label(bump: str, expected: str) -> None:
    assert next_version(SEMVER, ["v1.0.0", "v1.2.3", "v0.9.9"], bump=bump) == expected


def test_semantic_versioning_bumps_minor_by_default() -> None:
    assert next_version(SEMVER, ["v1.0.0"]) == "v1.1.0"


def test_semantic_versioning_finds_the_highest_label_numerically() -> None:
    assert next_version(SEMVER, ["v1.9.0", "v1.10.0"], bump="minor") == "v1.11.0"


def test_an_unknown_bump_raises_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="major, minor, patch"):
        next_version(SEMVER, [], bump="huge")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("3", "v3"), ("v3", "v3"), (" v12 ", "v12"), ("1.2.0", "v1.2.0"), ("v0.1.0", "v0.1.0"), ("v10.0.7", "v10.0.7")],
)
def test_normalize_version_returns_the_canonical_label(given: str, expected: str) -> None:
    assert normalize_version(given) == expected


@pytest.mark.parametrize("label", ["", "v", "x3", "v0", "v01", "-1", "v1.2", "v1.2.3.4", "v1.02.0", "v 3", "1e3"])
def test_normalize_version_refuses_a_malformed_label(label: str) -> None:
    with pytest.raises(InvalidVersionError, match="invalid version"):
        normalize_version(label)


@pytest.mark.parametrize("label", [3, None, 1.0, b"v1"])
def test_normalize_version_refuses_a_non_string(label: object) -> None:
    with pytest.raises(InvalidVersionError):
        normalize_version(label)


def test_normalize_version_refuses_a_semantic_label_for_an_auto_increment_model() -> None:
    with pytest.raises(InvalidVersionError, match="auto-increment"):
        normalize_version("v1.2.0", AUTO)


def test_normalize_version_refuses_an_auto_increment_label_for_a_semantic_model() -> None:
    with pytest.raises(InvalidVersionError, match="semantic"):
        normalize_version("4", SEMVER)


def test_version_key_orders_auto_increment_labels_numerically() -> None:
    assert sorted(["v10", "v2", "v1", "v11", "v9"], key=version_key) == ["v1", "v2", "v9", "v10", "v11"]


def test_version_key_orders_semantic_labels_numerically() -> None:
    labels = ["v1.10.0", "v1.2.10", "v2.0.0", "v1.2.9", "v0.9.0"]

    assert sorted(labels, key=version_key) == ["v0.9.0", "v1.2.9", "v1.2.10", "v1.10.0", "v2.0.0"]


def test_version_key_refuses_a_malformed_label() -> None:
    with pytest.raises(InvalidVersionError):
        version_key("latest")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("semantic", SEMVER), ("Semantic", SEMVER), ("auto_increment", AUTO), ("auto-increment", AUTO), (SEMVER, SEMVER)],
)
def test_a_versioning_strategy_is_parsed_from_its_name(text: str, expected: VersioningStrategy) -> None:
    assert VersioningStrategy.parse(text) is expected


def test_an_unknown_versioning_strategy_raises_invalid_input_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="auto_increment, semantic"):
        VersioningStrategy.parse("calendar")


def test_no_label_follows_the_highest_auto_increment_label() -> None:
    with pytest.raises(InvalidVersionError, match=r"no label follows v999999999 \(auto-increment labels have at most"):
        next_version(AUTO, ["v3", "v999999999"])
    assert next_version(AUTO, ["v999999998"]) == "v999999999"
