"""The JSON rules every Moqui-facing part shares: how a Decimal is written, how JSON text is read, and which numbers
and texts are refused before anything converts or stores them.

Public through `moqui_bridge.web.moqui_json` (import them from there). They live in this leaf module only because
`parameter_types` needs them too and `moqui_bridge.web` imports the service package: defining them in `moqui_json`
would make an import cycle.

Size bounds: a number is refused when its text, or its plain form (`1e5` -> `100000`), is longer than
`MAX_NUMBER_LENGTH` characters. `Decimal("1e1000000")` is cheap, but turning it into an `int` or plain text is not
(a million digits; `1e200000000` as text is 200 MB), so the bound is checked before any conversion. The limit is
Jackson's own (`StreamReadConstraints.DEFAULT_MAX_NUM_LEN`, 1000, since Jackson 2.15), which Moqui's JSON reader
applies to the number text.

Storable text: PostgreSQL text holds no NUL character and UTF-8 holds no unpaired surrogate, so no such text can be
stored or sent on; the reader refuses it (JSON can only carry either as a `\\u` escape).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = [
    "MAX_NUMBER_LENGTH",
    "JsonParseError",
    "loads",
    "plain_decimal",
    "plain_length",
    "storable_text",
]

MAX_NUMBER_LENGTH: Final = 1000
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


class JsonParseError(ValueError):
    """The JSON text is not JSON this project accepts; the message says where and why."""


def plain_length(value: Decimal) -> int:
    """Characters of `value`'s plain text (sign and point included), worked out from its digits and exponent alone,
    so that `1e1000000` is measured without writing a million digits."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or Infinity: no plain form at all
        return 0
    count = len(digits)
    if exponent >= 0:
        return sign + count + exponent
    # Digits after the point, the point, and at least one digit before it ("0.001").
    return sign - exponent + 1 + max(1, count + exponent)


def plain_decimal(value: Decimal) -> str:
    """A Decimal as Java's `BigDecimal.toPlainString` writes it: never an exponent, scale kept (`100.0000`).

    Negative zero becomes `0`: BigDecimal has no negative zero, so Moqui would never write or read one. NaN,
    Infinity and numbers whose plain text would pass `MAX_NUMBER_LENGTH` are refused (`ValueError`).
    """
    if not value.is_finite():
        raise ValueError(f"{value} cannot be written as a JSON number")
    if plain_length(value) > MAX_NUMBER_LENGTH:
        raise ValueError(f"a number of more than {MAX_NUMBER_LENGTH} digits is not written")
    if value.is_zero() and value.is_signed():
        value = value.copy_abs()
    return format(value, "f")


def storable_text(text: str) -> bool:
    """False when `text` holds a NUL character or an unpaired surrogate, which no column and no UTF-8 can hold."""
    return _UNSTORABLE.search(text) is None


def _abbreviated(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH:
        raise JsonParseError(f"Invalid JSON: number {_abbreviated(text)} is longer than {MAX_NUMBER_LENGTH} characters")
    return int(text)


def _decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_LENGTH:
        raise JsonParseError(f"Invalid JSON: number {_abbreviated(text)} is longer than {MAX_NUMBER_LENGTH} characters")
    try:
        value = Decimal(text)
    except InvalidOperation:
        # An exponent beyond what Decimal can hold (1e1000000000000000000): far more digits than allowed.
        value = Decimal("Infinity")
    if not value.is_finite() or plain_length(value) > MAX_NUMBER_LENGTH:
        raise JsonParseError(f"Invalid JSON: number {text} has more than {MAX_NUMBER_LENGTH} digits written out")
    return value


def _refuse_constant(name: str) -> Any:
    raise JsonParseError(f"{name} is not a valid JSON number")


def _check_texts(value: Any) -> None:
    # Iterative, so a deeply nested document (json already bounds its depth) costs no recursion here.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not storable_text(item):
                raise JsonParseError(
                    "Invalid JSON: text with a NUL character or an unpaired surrogate cannot be stored"
                )
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def loads(data: str | bytes) -> Any:
    """Parse JSON text: fractions and exponents to `Decimal`, integers to `int`, NaN/Infinity refused, numbers
    bounded by `MAX_NUMBER_LENGTH` and texts that cannot be stored refused.

    Every failure is a `JsonParseError` (a `ValueError`) saying where and why.
    """
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.removeprefix("\ufeff")
        parsed = json.loads(text, parse_float=_decimal, parse_int=_integer, parse_constant=_refuse_constant)
    except JsonParseError:
        raise
    except UnicodeDecodeError as error:
        raise JsonParseError(f"Invalid UTF-8 in JSON text at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise JsonParseError(f"Invalid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise JsonParseError("Invalid JSON: nested too deeply") from None
    # NUL and surrogates reach parsed text only through \u escapes (bytes are strict UTF-8), or in text given as str.
    if "\\u" in text or (isinstance(data, str) and not storable_text(text)):
        _check_texts(parsed)
    return parsed
