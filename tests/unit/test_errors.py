"""The error table drawn in errors.py is the one the classes carry, and every face reads it from there."""

from __future__ import annotations

import inspect
import re

import pytest

from registry_core import errors

_ROW = re.compile(r"^\s+[│├└─ ]*(?P<names>[A-Z]\w+(?:, [A-Z]\w+)*,?)(?: \(.*\))?\s+(?P<exit>\d+)\s+(?P<http>\d{3})$")


def _table() -> dict[str, tuple[int, int]]:
    """Class name -> (exit code, HTTP status) as the module docstring draws them (a row may span two lines)."""
    drawn: dict[str, tuple[int, int]] = {}
    waiting: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        if "Error" not in line or line.strip().startswith("class"):
            continue
        match = _ROW.match(line)
        if match is None:  # the first line of a two-line row
            waiting += re.findall(r"[A-Z]\w+Error", line)
            continue
        for name in [*waiting, *re.findall(r"[A-Z]\w+Error", match["names"])]:
            drawn[name] = (int(match["exit"]), int(match["http"]))
        waiting = []
    return drawn


def _classes() -> dict[str, type[errors.RegistryError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.RegistryError) and cls.__module__ == errors.__name__
    }


def test_the_drawn_table_names_every_error_class() -> None:
    assert sorted(_table()) == sorted(_classes())


@pytest.mark.parametrize("name", sorted(_classes()))
def test_each_class_carries_the_exit_code_and_http_status_the_table_draws(name: str) -> None:
    cls = _classes()[name]

    assert (cls.exit_code, cls.http_status) == _table()[name]


def test_what_the_caller_can_fix_is_a_4xx_and_the_rest_a_5xx() -> None:
    fixable = (errors.InvalidInputError, errors.NotFoundError, errors.ConflictError, errors.LifecycleError)
    for cls in _classes().values():
        assert (400 <= cls.http_status < 500) == issubclass(cls, fixable), cls


def test_the_error_body_has_one_shape_and_one_line() -> None:
    error = errors.ApprovalError("alice registered v3\nand may not approve it")

    body = errors.error_body(error.http_status, type(error).__name__, error)

    assert body == {
        "error": {"code": 403, "type": "ApprovalError", "message": "alice registered v3 and may not approve it"}
    }
