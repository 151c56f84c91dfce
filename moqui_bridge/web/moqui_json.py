"""JSON as Moqui reads and writes it.

Writing mirrors Moqui's Jackson mapper (`ContextJavaUtil.jacksonMapper`): INDENT_OUTPUT with Jackson's
DefaultPrettyPrinter (`{` newline, two spaces per object level, `"key" : value`, arrays inline as `[ a, b ]`, empty
containers `{ }` and `[ ]`), BigDecimal written plain (never an exponent, scale kept), Timestamps as epoch-millis,
nulls included, non-ASCII characters written as they are.

Reading parses numbers with a fraction or exponent straight to `Decimal` (never through float) and refuses
NaN/Infinity, so `"amount":100.0000` arrives as `Decimal("100.0000")`. `loads` and `plain_decimal` are the one
reader and the one Decimal writer for everything that talks to Moqui (defined in `moqui_bridge.service.json_text`,
see there why).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring as _encode_basestring
from typing import Any

from pydantic import BaseModel

from moqui_bridge.service.json_text import JsonParseError, loads, plain_decimal
from moqui_bridge.service.parameter_types import timestamp_to_epoch_millis

__all__ = ["JsonParseError", "dump_bytes", "dumps", "loads", "plain_decimal"]

_INDENT = "  "
# Control characters without a short escape, which Jackson writes as \u00XX with upper-case hex.
_NEEDS_UNICODE_ESCAPE = re.compile(r"[\x00-\x07\x0b\x0e-\x1f]")
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(text: str) -> str:
    if not _NEEDS_UNICODE_ESCAPE.search(text):
        # Only quotes, backslashes and short escapes to write: the json module's string encoder (what
        # json.dumps(text, ensure_ascii=False) runs, without building an encoder per string) agrees with Jackson.
        return _encode_basestring(text)
    out = ['"']
    for char in text:
        escaped = _SHORT_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " ":
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _write(value: Any, level: int, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(plain_decimal(value))
    elif isinstance(value, float):
        # Money and amounts are Decimal end to end; a float here is a bug upstream, not something to round.
        raise TypeError("floats are not written: use Decimal")
    elif isinstance(value, datetime):
        out.append(str(timestamp_to_epoch_millis(value)))
    elif isinstance(value, date):
        out.append(str(timestamp_to_epoch_millis(datetime(value.year, value.month, value.day))))
    elif isinstance(value, BaseModel):
        _write(value.model_dump(mode="python", by_alias=True), level, out)
    elif isinstance(value, Mapping):
        _write_object(value, level, out)
    elif isinstance(value, list | tuple):
        _write_array(value, level, out)
    else:
        raise TypeError(f"{type(value).__name__} cannot be written as Moqui JSON")


def _write_object(value: Mapping[Any, Any], level: int, out: list[str]) -> None:
    if not value:
        out.append("{ }")
        return
    inner = "\n" + _INDENT * (level + 1)
    out.append("{")
    first = True
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be strings, got {type(key).__name__}")
        out.append(inner if first else "," + inner)
        first = False
        out.append(_string(key))
        out.append(" : ")
        _write(item, level + 1, out)
    out.append("\n" + _INDENT * level + "}")


def _write_array(value: list[Any] | tuple[Any, ...], level: int, out: list[str]) -> None:
    # Jackson's FixedSpaceIndenter keeps arrays on one line and does not add a nesting level for them.
    if not value:
        out.append("[ ]")
        return
    out.append("[ ")
    for index, item in enumerate(value):
        if index:
            out.append(", ")
        _write(item, level, out)
    out.append(" ]")


def dumps(value: Any) -> str:
    """Write a value as Moqui's Jackson mapper does (pretty, Decimal plain, datetime as epoch-millis, nulls kept)."""
    out: list[str] = []
    _write(value, 0, out)
    return "".join(out)


def dump_bytes(value: Any) -> bytes:
    """`dumps` encoded as UTF-8, ready for a response body."""
    return dumps(value).encode("utf-8")
