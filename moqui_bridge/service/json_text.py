"""The two JSON rules every Moqui-facing part shares: how a Decimal is written and how JSON text is read.

Public through `moqui_bridge.web.moqui_json` (import them from there). They live in this leaf module only because
`parameter_types` needs them too and `moqui_bridge.web` imports the service package: defining them in `moqui_json`
would make an import cycle.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

__all__ = ["JsonParseError", "loads", "plain_decimal"]


class JsonParseError(ValueError):
    """The JSON text is not JSON this project accepts; the message says where and why."""


def plain_decimal(value: Decimal) -> str:
    """A Decimal as Java's `BigDecimal.toPlainString` writes it: never an exponent, scale kept (`100.0000`).

    Negative zero becomes `0`: BigDecimal has no negative zero, so Moqui would never write or read one. NaN and
    Infinity are refused (`ValueError`): no JSON number or Moqui BigDecimal can hold them.
    """
    if not value.is_finite():
        raise ValueError(f"{value} cannot be written as a JSON number")
    if value.is_zero() and value.is_signed():
        value = value.copy_abs()
    return format(value, "f")


def _refuse_constant(name: str) -> Any:
    raise JsonParseError(f"{name} is not a valid JSON number")


def loads(data: str | bytes) -> Any:
    """Parse JSON text: fractions and exponents to `Decimal`, integers to `int`, NaN/Infinity refused.

    Every failure is a `JsonParseError` (a `ValueError`) saying where and why.
    """
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.removeprefix("\ufeff")
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except JsonParseError:
        raise
    except UnicodeDecodeError as error:
        raise JsonParseError(f"Invalid UTF-8 in JSON text at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise JsonParseError(f"Invalid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise JsonParseError("Invalid JSON: nested too deeply") from None
