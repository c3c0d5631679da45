"""Rows of features gathered into typed columns: the one pass over the data that profiles and checks share."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

Value = float | int | str | bytes | None
Row = Mapping[str, Value]
"""One example: feature name to a scalar; None (or NaN, or an absent key) is a missing value."""


class FeatureKind(StrEnum):
    """The value type of a column, as tensorflow-metadata names them (FLOAT, INT, STRING)."""

    FLOAT = "FLOAT"
    INT = "INT"
    STRING = "STRING"


@dataclass
class Column:
    """The values of one feature across the rows.

    Attributes:
        name: Feature name.
        numbers: The numeric values present, in row order.
        strings: The string values present, in row order.
        missing: Rows where the feature is absent, None or NaN.
        integral: Every numeric value is a whole number given as an int (not a float such as 1.0).
    """

    name: str
    numbers: list[float] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    missing: int = 0
    integral: bool = True

    @property
    def present(self) -> int:
        """Rows where the feature has a value."""
        return len(self.numbers) + len(self.strings)

    @property
    def kind(self) -> FeatureKind:
        """STRING if any value is a string (a number among strings is then a wrong type), else INT or FLOAT."""
        if self.strings:
            return FeatureKind.STRING
        return FeatureKind.INT if self.integral and self.numbers else FeatureKind.FLOAT

    def array(self) -> np.ndarray:
        """Return the numeric values as a float64 array."""
        return np.asarray(self.numbers, dtype=np.float64)


@dataclass
class Columns:
    """Rows turned into columns.

    Attributes:
        num_rows: How many rows were read.
        columns: One column per feature seen, in the order features first appeared.
    """

    num_rows: int
    columns: dict[str, Column]


def collect_columns(rows: Iterable[Row]) -> Columns:
    """Read `rows` once into columns (a feature absent from earlier rows counts as missing there).

    Args:
        rows: Mappings of feature name to a scalar: int, float, str or bytes (UTF-8), or None.

    Returns:
        The columns.

    Raises:
        TypeError: a row is not a mapping or holds a value of another type (a list, a dict...).
    """
    columns: dict[str, Column] = {}
    num_rows = 0
    for row in rows:
        if not isinstance(row, Mapping):
            msg = f"each row must be a mapping of feature name to value, got {type(row).__name__}"
            raise TypeError(msg)
        for name, value in row.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = Column(str(name), missing=num_rows)
            _add(column, value)
        num_rows += 1
        for column in columns.values():
            if column.present + column.missing < num_rows:  # absent from this row
                column.missing += 1
    return Columns(num_rows=num_rows, columns=columns)


def _add(column: Column, value: object) -> None:
    if value is None:
        column.missing += 1
    elif isinstance(value, bytes):
        column.strings.append(value.decode("utf-8", errors="replace"))
    elif isinstance(value, str):
        column.strings.append(value)
    elif isinstance(value, numbers.Real):  # NumPy scalars included
        number = float(value)
        if math.isnan(number):  # NaN is how columnar logs and pandas spell a missing value
            column.missing += 1
            return
        column.integral = column.integral and isinstance(value, numbers.Integral)
        column.numbers.append(number)
    else:
        msg = f"feature {column.name!r} holds a {type(value).__name__}; only scalars are profiled"
        raise TypeError(msg)
