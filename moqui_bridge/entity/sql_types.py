"""Moqui's field types and their PostgreSQL SQL types.

The dictionary is Moqui's default (``MoquiDefaultConf.xml`` ``dictionary-type``) with the PostgreSQL
``database-type`` overrides applied, so our columns have exactly the types of the columns Moqui creates.
"""

import re
from typing import Final

from moqui_bridge.entity.errors import EntityDefinitionError

DEFAULT_SQL_TYPES: Final[dict[str, str]] = {
    "id": "VARCHAR(40)",
    "id-long": "VARCHAR(255)",
    "date": "DATE",
    "time": "TIME",
    "date-time": "TIMESTAMP",
    "number-integer": "NUMERIC(20,0)",
    "number-decimal": "NUMERIC(26,6)",
    "number-float": "DOUBLE",
    "currency-amount": "NUMERIC(24,4)",
    "currency-precise": "NUMERIC(25,5)",
    "text-indicator": "CHAR(1)",
    "text-short": "VARCHAR(63)",
    "text-medium": "VARCHAR(255)",
    "text-intermediate": "VARCHAR(1023)",
    "text-long": "VARCHAR(4095)",
    "text-very-long": "CLOB",
    "binary-very-long": "BLOB",
}

POSTGRES_OVERRIDES: Final[dict[str, str]] = {
    "number-float": "FLOAT8",
    "text-medium": "TEXT",
    "text-intermediate": "TEXT",
    "text-long": "TEXT",
    "text-very-long": "TEXT",
    "binary-very-long": "BYTEA",
}

POSTGRES_SQL_TYPES: Final[dict[str, str]] = {**DEFAULT_SQL_TYPES, **POSTGRES_OVERRIDES}

FIELD_TYPES: Final[frozenset[str]] = frozenset(DEFAULT_SQL_TYPES)

_LENGTH = re.compile(r"^(?:VARCHAR|CHAR)\((\d+)\)$")


def postgres_sql_type(field_type: str) -> str:
    """Return the PostgreSQL column type Moqui uses for a Moqui field type such as ``currency-amount``."""
    try:
        return POSTGRES_SQL_TYPES[field_type]
    except KeyError:
        raise EntityDefinitionError(f"Unknown Moqui field type {field_type!r}") from None


def max_length(sql_type: str) -> int | None:
    """Return the character limit of a VARCHAR/CHAR type, or None for unbounded types."""
    match = _LENGTH.match(sql_type)
    return int(match.group(1)) if match else None
