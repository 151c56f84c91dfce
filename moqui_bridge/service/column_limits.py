"""What the column a parameter is named after can hold, checked before a value reaches it.

Moqui names a service parameter after the entity field it fills (`auto-parameters` copy the field's name and type),
and a field name keeps one type in every entity (`paymentId` is an `id` wherever it appears). So a parameter can be
checked against the column of the same name: text no longer than the VARCHAR (`id`: 40 characters), a decimal
inside NUMERIC(p,s) with no more fraction digits than the scale. Without this the database refuses the value
mid-operation (a 500) or, worse, rounds it silently (`0.00001` stored as `0.0000`, a positive amount become zero).

Where one name has several types (rare), the loosest limit applies, so a value one of them holds is never refused.
Parameters named after no field are not checked here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.entity.definition import EntityDefinition
from moqui_bridge.service.parameter_types import shown_value

__all__ = ["ColumnLimit", "ColumnLimits"]

_NUMERIC: Final = re.compile(r"^NUMERIC\((\d+),(\d+)\)$")
_TEXT: Final = re.compile(r"^(?:VARCHAR|CHAR)(?:\(\d+\))?$|^TEXT$")


@dataclass(frozen=True)
class ColumnLimit:
    """The limits of the columns behind one field name: text length, and a decimal's integer and fraction digits.

    `text` / `numeric` say whether any column of that name is text / NUMERIC; a None bound is unbounded.
    """

    text: bool = False
    max_length: int | None = None
    numeric: bool = False
    integer_digits: int | None = None
    scale: int | None = None

    @classmethod
    def of_sql_type(cls, sql_type: str, max_length: int | None) -> ColumnLimit | None:
        """The limit of one column type (`VARCHAR(40)`, `NUMERIC(24,4)`, `TEXT`); None for types not checked here."""
        numeric = _NUMERIC.match(sql_type)
        if numeric:
            precision, scale = int(numeric.group(1)), int(numeric.group(2))
            return cls(numeric=True, integer_digits=precision - scale, scale=scale)
        if _TEXT.match(sql_type):
            return cls(text=True, max_length=max_length)
        return None

    def loosest(self, other: ColumnLimit) -> ColumnLimit:
        """The limit that refuses only what both refuse."""
        return ColumnLimit(
            text=self.text or other.text,
            max_length=_looser(self.text, self.max_length, other.text, other.max_length),
            numeric=self.numeric or other.numeric,
            integer_digits=_looser(self.numeric, self.integer_digits, other.numeric, other.integer_digits),
            scale=_looser(self.numeric, self.scale, other.numeric, other.scale),
        )

    def problem(self, value: Any) -> str | None:
        """Why the value cannot be stored in this column, in Moqui's validation wording; None when it can."""
        if isinstance(value, str) and self.text and self.max_length is not None and len(value) > self.max_length:
            # Moqui's text-length validation message.
            return (
                f"Value entered ({shown_value(value)}), length {len(value)}, is longer than {self.max_length} "
                "characters."
            )
        if isinstance(value, Decimal) and self.numeric and value.is_finite() and not value.is_zero():
            return self._decimal_problem(value)
        return None

    def _decimal_problem(self, value: Decimal) -> str | None:
        if self.integer_digits is not None and value.adjusted() + 1 > self.integer_digits:
            # Moqui's number-range messages, for the range NUMERIC(p,s) holds.
            bound = 10**self.integer_digits
            shown = shown_value(value)
            if value > 0:
                return f"Value entered ({shown}) is greater than or equal to {bound} and must be less than."
            return f"Value entered ({shown}) is less than or equal to -{bound}, must be greater than."
        if self.scale is not None and _fraction_digits(value) > self.scale:
            return (
                f"Value entered ({shown_value(value)}) has more than {self.scale} decimal places and cannot be "
                "stored exactly."
            )
        return None


def _looser(has_a: bool, a: int | None, has_b: bool, b: int | None) -> int | None:
    if not has_a:
        return b
    if not has_b:
        return a
    return None if a is None or b is None else max(a, b)


def _fraction_digits(value: Decimal) -> int:
    """Digits after the point once trailing zeros are dropped (`1.2300` -> 2, `1E-400` -> 400), computed exactly
    (`Decimal.normalize` would round to the context's precision)."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the caller
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing_zeros))


class ColumnLimits:
    """Column limits by field name, for checking parameters named after entity fields."""

    def __init__(self, limits: Mapping[str, ColumnLimit]) -> None:
        self._limits = dict(limits)

    @classmethod
    def from_entities(cls, definitions: Iterable[EntityDefinition]) -> ColumnLimits:
        """The limits of every field of the given entities (an `EntityRegistry` iterates its definitions)."""
        limits: dict[str, ColumnLimit] = {}
        for definition in definitions:
            for field in definition.fields:
                limit = ColumnLimit.of_sql_type(field.sql_type, field.max_length)
                if limit is None:
                    continue
                known = limits.get(field.name)
                limits[field.name] = limit if known is None else known.loosest(limit)
        return cls(limits)

    def get(self, name: str) -> ColumnLimit | None:
        """The limit of the field called `name`, or None when no entity has such a field."""
        return self._limits.get(name)

    def problem(self, name: str, value: Any) -> str | None:
        """Why `value` cannot be stored in the field called `name`, or None (also when no field has that name)."""
        limit = self._limits.get(name)
        return limit.problem(value) if limit is not None else None
