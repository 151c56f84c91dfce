"""Conversion of field values between Python, Moqui text (data files, JSON) and asyncpg parameters.

Python values per field type: ``id*``/``text-*`` -> str, ``number-integer`` -> int, ``currency-*``/
``number-decimal`` -> Decimal, ``number-float`` -> float, ``date-time`` -> naive datetime in UTC (Moqui's default
``database_time_zone``), ``date`` -> date, ``time`` -> time, ``binary-very-long`` -> bytes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from moqui_bridge.entity.errors import EntityValueError

if TYPE_CHECKING:  # definition.py imports this module to check defaults
    from moqui_bridge.entity.definition import FieldDefinition

_STRING_TYPES = frozenset(
    {"id", "id-long", "text-indicator", "text-short", "text-medium", "text-intermediate", "text-long", "text-very-long"}
)
_DECIMAL_TYPES = frozenset({"number-decimal", "currency-amount", "currency-precise"})


def _fail(field: FieldDefinition, value: object, expected: str) -> EntityValueError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return EntityValueError(f"Field {field.name} ({field.type}) needs {expected}, got {type(value).__name__} {shown}")


def _to_string(field: FieldDefinition, value: object) -> str:
    if isinstance(value, bool) and field.type == "text-indicator":
        return "Y" if value else "N"
    if not isinstance(value, str):
        raise _fail(field, value, "a string")
    if field.max_length is not None and len(value) > field.max_length:
        raise EntityValueError(
            f"Field {field.name} ({field.type}) takes at most {field.max_length} characters, got {len(value)}"
        )
    return value


def _to_decimal(field: FieldDefinition, value: object) -> Decimal:
    # Floats are refused: money stays exact from the caller to the column.
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise _fail(field, value, "a decimal number") from None
    else:
        raise _fail(field, value, "a Decimal, int or decimal string")
    if not result.is_finite():
        raise _fail(field, value, "a finite decimal number")
    return result


def _to_int(field: FieldDefinition, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _fail(field, value, "an integer") from None
    raise _fail(field, value, "an integer")


def _to_float(field: FieldDefinition, value: object) -> float:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _fail(field, value, "a number") from None
    raise _fail(field, value, "a number")


def _to_datetime(field: FieldDefinition, value: object) -> datetime:
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        # Moqui sends Timestamps as epoch milliseconds in JSON.
        return datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None)
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC).replace(tzinfo=None)
        try:
            result = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(field, value, "a timestamp (ISO 8601 or epoch milliseconds)") from None
    else:
        raise _fail(field, value, "a datetime")
    if result.tzinfo is not None:
        result = result.astimezone(UTC).replace(tzinfo=None)
    return result


def _to_date(field: FieldDefinition, value: object) -> date:
    if isinstance(value, datetime):
        raise _fail(field, value, "a date (not a datetime)")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise _fail(field, value, "a date (yyyy-MM-dd)") from None
    raise _fail(field, value, "a date")


def _to_time(field: FieldDefinition, value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            raise _fail(field, value, "a time (HH:mm:ss)") from None
    raise _fail(field, value, "a time")


def _to_bytes(field: FieldDefinition, value: object) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _fail(field, value, "bytes")


def to_python(field: FieldDefinition, value: object) -> Any:
    """Check and normalise a value for a field; strings are parsed as Moqui parses them. None stays None."""
    if value is None:
        return None
    if field.type in _STRING_TYPES:
        return _to_string(field, value)
    if field.type in _DECIMAL_TYPES:
        return _to_decimal(field, value)
    converters = {
        "number-integer": _to_int,
        "number-float": _to_float,
        "date-time": _to_datetime,
        "date": _to_date,
        "time": _to_time,
        "binary-very-long": _to_bytes,
    }
    converter = converters.get(field.type)
    if converter is None:
        raise _fail(field, value, "a supported field type")
    return converter(field, value)


def to_database(field: FieldDefinition, value: object) -> Any:
    """Convert a value to the asyncpg parameter for the field's column."""
    result = to_python(field, value)
    if field.type == "number-integer" and result is not None:
        # NUMERIC(20,0): asyncpg's numeric codec takes Decimal.
        return Decimal(result)
    return result


def from_database(field: FieldDefinition, value: Any) -> Any:
    """Convert a column value read by asyncpg back to the field's Python type."""
    if value is None:
        return None
    if field.type == "number-integer":
        return int(value)
    if field.type == "text-indicator" and isinstance(value, str):
        # CHAR(1) is blank-padded by PostgreSQL; an empty indicator comes back as "".
        return value.rstrip()
    return value


# Groovy literals a field default may be: a number, or a quoted string that interpolates nothing.
_LITERAL_DEFAULT = re.compile(r"[+-]?\d+(?:\.\d+)?" r"|'[^'\\]*'" r'|"[^"\\$]*"')


def is_literal_default(text: str) -> bool:
    """Whether a ``default`` attribute is a plain literal rather than a Groovy expression.

    Moqui evaluates every default as Groovy in its entity facade (``ec.user.nowTimestamp``, ``partyId``,
    ``fieldSeqId as int``); only numbers and non-interpolating quoted strings mean the same without Groovy.
    """
    return _LITERAL_DEFAULT.fullmatch(text.strip()) is not None


def parse_default(field: FieldDefinition) -> Any:
    """The value of a literal ``default`` attribute (``'PmtrNot'`` -> "PmtrNot", ``5`` -> 5), converted to the
    field's type; None when there is no default or it is a Groovy expression, which is left to Moqui.
    """
    if field.default is None or not is_literal_default(field.default):
        return None
    text = field.default.strip()
    if text[0] in "'\"":
        text = text[1:-1]
    return to_python(field, text)
