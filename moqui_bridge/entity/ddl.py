"""CREATE TABLE / CREATE INDEX for the service's own database, in the shape Moqui's EntityDbMeta writes them.

Unquoted upper-case names, ``CONSTRAINT PK_<TABLE> PRIMARY KEY (...)`` (clipped to 60 characters as Moqui does
on PostgreSQL), NOT NULL only on primary-key and ``not-null`` fields. Every statement is ``IF NOT EXISTS`` so
running it again changes nothing; only the chosen entities are created. Foreign keys are not created: the Mantle
subset here references entities (Party, Uom, ...) the service's database does not have.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from moqui_bridge.entity.connection import Connection, Pool
from moqui_bridge.entity.definition import EntityDefinition
from moqui_bridge.entity.locks import advisory_lock
from moqui_bridge.entity.registry import EntityRegistry

MAX_CONSTRAINT_NAME = 60


def primary_key_constraint_name(definition: EntityDefinition) -> str:
    """``PK_<TABLE>`` clipped to Moqui's 60-character limit."""
    return f"PK_{definition.table_name}"[:MAX_CONSTRAINT_NAME]


def create_table_sql(definition: EntityDefinition) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement for one entity."""
    columns = [
        f"{f.column_name} {f.sql_type}" + (" NOT NULL" if f.is_pk or f.not_null else "") for f in definition.fields
    ]
    pk_columns = ", ".join(f.column_name for f in definition.pk_fields)
    columns.append(f"CONSTRAINT {primary_key_constraint_name(definition)} PRIMARY KEY ({pk_columns})")
    return f"CREATE TABLE IF NOT EXISTS {definition.table_name} ({', '.join(columns)})"


def add_missing_columns_sql(definition: EntityDefinition) -> str | None:
    """``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` for every non-PK column, so a newer definition of an
    existing table gains its new fields (Moqui adds missing columns the same way at runtime)."""
    additions = [f"ADD COLUMN IF NOT EXISTS {f.column_name} {f.sql_type}" for f in definition.fields if not f.is_pk]
    return f"ALTER TABLE {definition.table_name} {', '.join(additions)}" if additions else None


def create_indexes_sql(definition: EntityDefinition) -> list[str]:
    """``CREATE [UNIQUE] INDEX IF NOT EXISTS`` for each declared index."""
    statements = []
    for index in definition.indexes:
        columns = ", ".join(definition.field(name).column_name for name in index.fields)
        unique = "UNIQUE " if index.unique else ""
        statements.append(f"CREATE {unique}INDEX IF NOT EXISTS {index.name} ON {definition.table_name} ({columns})")
    return statements


def schema_sql(definitions: Iterable[EntityDefinition]) -> list[str]:
    """Every statement needed for these entities, tables first."""
    chosen = list(definitions)
    statements = [create_table_sql(d) for d in chosen]
    statements += [s for d in chosen if (s := add_missing_columns_sql(d)) is not None]
    statements += [s for d in chosen for s in create_indexes_sql(d)]
    return statements


async def create_tables(
    database: Pool | Connection, registry: EntityRegistry, entity_names: Iterable[str] | None = None
) -> list[str]:
    """Create the tables and indexes of the named entities (all registered ones by default).

    Returns the table names. Safe to run again and from several processes at once (an advisory lock
    serialises concurrent runs, since concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL).
    """
    names = list(entity_names) if entity_names is not None else registry.full_names
    definitions = [registry.get(name) for name in names]
    if isinstance(database, asyncpg.Pool):
        async with database.acquire() as connection:
            await _run(connection, definitions)
    else:
        await _run(database, definitions)
    return [d.table_name for d in definitions]


async def _run(connection: Connection, definitions: list[EntityDefinition]) -> None:
    async with connection.transaction(), advisory_lock(connection, "moqui-stripe:ddl"):
        for statement in schema_sql(definitions):
            await connection.execute(statement)
