"""Messages that quote what a caller passed stay short, printable and on one line."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from registry_core.errors import MAX_ERROR_MESSAGE, InvalidInputError, RegistryError
from registry_core.text import MAX_SHOWN, one_line, shown


class _Settings(BaseModel):
    port: int = 0
    labels: dict[str, int] = {}

    @field_validator("port")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("port must be positive")
        return value


def _validation_error(**values: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Settings.model_validate(values)
    return caught.value


@pytest.mark.parametrize(
    "value",
    [
        "x" * 120_000,
        b"\xff" * 120_000,
        ["a" * 10_000] * 1_000,
        {"k" * 50_000: "v" * 50_000},
        10**5000,  # str() of it raises ValueError in Python >= 3.11
        -(10**5000),
        "line one\nline two\x1b[31m\u202e",
        ("nested", ("deeper", ("deepest", ("and more",)))),
    ],
    ids=["long-text", "long-bytes", "long-list", "long-dict", "huge-int", "huge-negative-int", "controls", "nesting"],
)
def test_shown_is_one_short_printable_line(value: object) -> None:
    text = shown(value)

    assert len(text) <= MAX_SHOWN + 20
    assert "\n" not in text
    assert text.isprintable()


def test_shown_quotes_short_values_like_repr() -> None:
    assert shown("v3") == "'v3'"
    assert shown(42) == "42"
    assert shown(None) == "None"
    assert shown(["a", 1]) == "['a', 1]"


def test_shown_says_how_long_a_cut_text_was() -> None:
    text = shown("production" + "x" * 119_990)

    assert text.startswith("'productionxxx")
    assert "(120000 in all)" in text


def test_shown_survives_a_broken_repr() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert shown(Broken()).startswith("<Broken ")


def test_a_registry_error_message_is_bounded_whatever_it_embeds() -> None:
    error = InvalidInputError("bad value " + "x" * 120_000)

    assert len(str(error)) <= MAX_ERROR_MESSAGE
    assert str(error).startswith("bad value xxx")
    assert isinstance(error, RegistryError)
    assert str(InvalidInputError("short\nand two lines")) == "short\nand two lines"  # short ones are left alone


def test_one_line_of_a_validation_error_is_its_first_problem() -> None:
    assert one_line(_validation_error(port=-1)) == "port: port must be positive"


def test_one_line_of_a_validation_error_escapes_and_bounds_the_keys_it_names() -> None:
    text = one_line(_validation_error(labels={"\x1b[31m" + "k" * 10_000: "not a number"}))

    assert text.startswith("labels.'\\x1b[31mkkk")
    assert text.endswith(": Input should be a valid integer, unable to parse string as an integer")
    assert len(text) < 2 * MAX_SHOWN + 100
    assert text.isprintable()


def test_one_line_folds_and_cuts_plain_text() -> None:
    assert one_line("two\nlines  and\tspace") == "two lines and space"
    assert one_line("x" * 1000, 100).endswith("... (940 more characters)")
