"""Moqui parameter types as pydantic annotations, converting values the way Moqui's service facade does.

Each type is `Annotated[<python type>, MoquiType(...), PlainValidator(...)]`: the `MoquiType` marker carries the Moqui
type name (for contract tests and listings) and the converter; the validator runs the same converter so a model built
with `model_validate` converts like a Moqui call. Converters raise `ConversionError` with Moqui's own wording
("Value entered (abc) could not be converted to a BigDecimal").

JSON reaches these converters parsed with `parse_float=Decimal`, so a float here means a caller bypassed that rule:
floats are refused rather than rounded. NaN and Infinity are refused everywhere, and booleans are never numbers.

Hostile values are refused before they cost anything: a number longer than `MAX_NUMBER_LENGTH` characters written
out (`1e1000000`) before it is turned into an `int` or text, and text holding a NUL character or an unpaired
surrogate (which no column can store) before it reaches a query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from moqui_bridge.service.json_text import MAX_NUMBER_LENGTH, loads, plain_decimal, plain_length, storable_text

_EPOCH = datetime(1970, 1, 1)
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_EPOCH_MILLIS_TEXT = re.compile(r"-?\d+")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class ConversionError(ValueError):
    """A value could not be converted to a parameter's Moqui type; `message` is Moqui's wording."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _not_converted(value: Any, type_name: str) -> ConversionError:
    # Mirrors ParameterInfo.convertType's message (no format attribute is ever used here).
    return ConversionError(f"Value entered ({shown_value(value)}) could not be converted to a {type_name}")


@dataclass(frozen=True)
class MoquiType:
    """Marker in a parameter's annotation: the Moqui type name and the converter that produces the Python value."""

    name: str
    convert: Callable[[Any], Any]


class _Marker:
    """A named flag placed in `Annotated[...]` metadata."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


Required = _Marker("Required")
"""Moqui's `required="true"`: a missing, null or empty-string value is the error "Field cannot be empty"."""

AllowHtml = _Marker("AllowHtml")
"""Moqui's `allow-html="any"`: without it a String parameter containing `<` is refused, as Moqui refuses it."""


def shown_value(value: Any) -> str:
    """The value as an error message quotes it: a long or unprintable value is described, not copied."""
    text = str(value)
    if not storable_text(text):
        return "text with a NUL character or an unpaired surrogate"
    return text if len(text) <= 100 else f"{text[:40]}...({len(text)} characters)"


def _bounded_decimal(value: Decimal, type_name: str) -> Decimal:
    if not value.is_finite() or plain_length(value) > MAX_NUMBER_LENGTH:
        raise _not_converted(value, type_name)
    return value


def convert_big_decimal(value: Any) -> Decimal:
    """To `Decimal`, keeping the scale given: `"12.50"` -> 12.50, `100.0000` -> 100.0000, `5` -> 5."""
    if isinstance(value, bool | float):
        raise _not_converted(value, "BigDecimal")
    if isinstance(value, Decimal):
        return _bounded_decimal(value, "BigDecimal")
    if isinstance(value, int):
        return _bounded_decimal(Decimal(value), "BigDecimal")
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= MAX_NUMBER_LENGTH and _DECIMAL_TEXT.fullmatch(text):
            try:
                parsed = Decimal(text)
            except InvalidOperation:  # an exponent beyond what Decimal holds: far past the length allowed
                raise _not_converted(value, "BigDecimal") from None
            return _bounded_decimal(parsed, "BigDecimal")
    raise _not_converted(value, "BigDecimal")


def _convert_whole_number(value: Any, type_name: str, bounds: tuple[int, int]) -> int:
    number: int | None = None
    if isinstance(value, bool | float):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, Decimal | str):
        # Moqui parses to BigDecimal then takes intValue(), silently truncating "12.7"; we refuse fractions instead
        # so an id or a count is never changed behind the caller's back.
        try:
            decimal_value = convert_big_decimal(value)
        except ConversionError:
            decimal_value = None
        if decimal_value is not None and decimal_value == decimal_value.to_integral_value():
            number = int(decimal_value)
    if number is None or not bounds[0] <= number <= bounds[1]:
        raise _not_converted(value, type_name)
    return number


def convert_integer(value: Any) -> int:
    """To a 32-bit `int` (Moqui's Integer)."""
    return _convert_whole_number(value, "Integer", _INT32)


def convert_long(value: Any) -> int:
    """To a 64-bit `int` (Moqui's Long)."""
    return _convert_whole_number(value, "Long", _INT64)


def convert_boolean(value: Any) -> bool:
    """To `bool`: true/false as JSON booleans or strings (any case), and Moqui's "Y"/"N"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "y"):
            return True
        if text in ("false", "n"):
            return False
    raise _not_converted(value, "Boolean")


def convert_string(value: Any) -> str:
    """To `str`: numbers become their plain text (`100.0000`, never `1E+2`), booleans `true`/`false`.

    Text that cannot be stored (a NUL character, an unpaired surrogate) is refused.
    """
    if isinstance(value, str):
        if not storable_text(value):
            raise ConversionError(f"Value entered ({shown_value(value)}) holds characters that cannot be stored")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite() and plain_length(value) <= MAX_NUMBER_LENGTH:
        return plain_decimal(value)
    raise _not_converted(value, "String")


def convert_indicator(value: Any) -> str:
    """To Moqui's indicator text "Y" or "N"; JSON booleans are accepted as Y/N."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if value in ("Y", "N"):
        return str(value)
    raise ConversionError(f"Value entered ({shown_value(value)}) could not be converted to a Y/N indicator")


def _timestamp_from_millis(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def convert_timestamp(value: Any) -> datetime:
    """To a naive UTC `datetime` from epoch-millis (number or digits) or Moqui's text formats.

    Accepted text: `yyyy-MM-dd HH:mm`, `yyyy-MM-dd HH:mm:ss[.SSS]`, `yyyy-MM-dd'T'HH:mm:ss[.SSS]Z` (`Z`, `+0000`,
    `+00:00`), other ISO-8601 forms and a bare date. Text without a zone is taken as UTC, Moqui's default database
    time zone; text with a zone is converted to UTC.
    """
    try:
        if isinstance(value, datetime):
            return _naive_utc(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, bool | float):
            raise _not_converted(value, "Timestamp")
        if isinstance(value, int):
            return _timestamp_from_millis(value)
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            return _timestamp_from_millis(int(_bounded_decimal(value, "Timestamp")))
        if isinstance(value, str):
            text = value.strip()
            if len(text) > MAX_NUMBER_LENGTH:
                raise _not_converted(value, "Timestamp")
            if _EPOCH_MILLIS_TEXT.fullmatch(text):
                return _timestamp_from_millis(int(text))
            if text:
                return _naive_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError) as error:
        if isinstance(error, ConversionError):
            raise
        raise _not_converted(value, "Timestamp") from error
    raise _not_converted(value, "Timestamp")


def convert_map(value: Any) -> dict[str, Any]:
    """To `dict`: a JSON object, or text starting with `{` parsed as JSON (as Moqui does for Map parameters)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = loads(value)
        except ValueError as error:
            raise _not_converted(value, "Map") from error
        if isinstance(parsed, dict):
            return parsed
    raise _not_converted(value, "Map")


def convert_list(value: Any) -> list[Any]:
    """To `list`: a JSON array, or text split on commas after stripping `[` `]`, as Moqui converts a List parameter."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str) and value and storable_text(value):
        text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
        return text.split(",")
    raise _not_converted(value, "List")


def timestamp_to_epoch_millis(moment: datetime) -> int:
    """Epoch milliseconds of a datetime (naive = UTC), as Jackson writes a Timestamp with WRITE_DATES_AS_TIMESTAMPS."""
    naive = _naive_utc(moment)
    delta = naive - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _validator(moqui_type: MoquiType) -> PlainValidator:
    def validate(value: Any) -> Any:
        return moqui_type.convert(value)

    return PlainValidator(validate)


BIG_DECIMAL = MoquiType("BigDecimal", convert_big_decimal)
TIMESTAMP = MoquiType("Timestamp", convert_timestamp)
BOOLEAN = MoquiType("Boolean", convert_boolean)
INTEGER = MoquiType("Integer", convert_integer)
LONG = MoquiType("Long", convert_long)
STRING = MoquiType("String", convert_string)
INDICATOR = MoquiType("String", convert_indicator)
MAP = MoquiType("Map", convert_map)
LIST = MoquiType("List", convert_list)

BigDecimal = Annotated[Decimal, BIG_DECIMAL, _validator(BIG_DECIMAL)]
Timestamp = Annotated[
    datetime,
    TIMESTAMP,
    _validator(TIMESTAMP),
    PlainSerializer(timestamp_to_epoch_millis, return_type=int, when_used="json"),
]
Boolean = Annotated[bool, BOOLEAN, _validator(BOOLEAN)]
Integer = Annotated[int, INTEGER, _validator(INTEGER)]
Long = Annotated[int, LONG, _validator(LONG)]
String = Annotated[str, STRING, _validator(STRING)]
Indicator = Annotated[str, INDICATOR, _validator(INDICATOR)]
Map = Annotated[dict[str, Any], MAP, _validator(MAP)]
List = Annotated[list[Any], LIST, _validator(LIST)]

# Plain Python annotations get the Moqui type a Moqui service definition would give them.
PLAIN_TYPES: dict[type, MoquiType] = {
    str: STRING,
    Decimal: BIG_DECIMAL,
    bool: BOOLEAN,
    int: LONG,
    datetime: TIMESTAMP,
    dict: MAP,
    list: LIST,
}
