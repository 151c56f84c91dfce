"""CREATE TABLE / CREATE INDEX for the service's own database, in the shape Moqui's EntityDbMeta writes them.

Unquoted upper-case names, ``CONSTRAINT PK_<TABLE> PRIMARY KEY (...)`` (clipped to 60 characters as Moqui does
on PostgreSQL), NOT NULL only on primary-key and ``not-null`` fields. Every statement is ``IF NOT EXISTS`` so
running it again changes nothing; only the chosen entities are created. Foreign keys are not created: the Mantle
subset here references entities (Party, Uom, ...) the service's database does not have. Their indexes are: Moqui
indexes the fields of every `type="one"` relationship unless told not to (EntityDbMeta.createIndexes, "do fk auto
indexes"; `use-foreign-key-indexes` defaults to true in moqui-conf-3.xsd), and Mantle's lookups rely on them
(a Payment's PaymentGatewayResponses, read on every gateway call, are found through PAYMENT_ID).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import asyncpg

from moqui_bridge.entity.connection import Connection, Pool
from moqui_bridge.entity.definition import EntityDefinition, RelationshipDefinition
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


def _relationship_fields(
    registry: EntityRegistry, definition: EntityDefinition, relationship: RelationshipDefinition
) -> tuple[str, ...] | None:
    """This entity's fields a `one` relationship joins on; None when they cannot be known (no key-maps and a
    related entity this registry does not have) or are not all fields of the entity."""
    if relationship.key_maps:
        names = tuple(key_map.field_name for key_map in relationship.key_maps)
    elif relationship.related in registry:
        names = registry.get(relationship.related).pk_field_names
    else:
        return None
    return names if names and all(definition.has_field(name) for name in names) else None


def foreign_key_index_name(definition: EntityDefinition, columns: Iterable[str]) -> str:
    """``IDX_<TABLE>_<COLUMNS>``, clipped to Moqui's 60 characters with a hash of the whole name when longer."""
    name = f"IDX_{definition.table_name}_{'_'.join(columns)}"
    if len(name) <= MAX_CONSTRAINT_NAME:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8].upper()
    return f"{name[: MAX_CONSTRAINT_NAME - 9]}_{digest}"


def foreign_key_indexes_sql(definition: EntityDefinition, registry: EntityRegistry) -> list[str]:
    """``CREATE INDEX IF NOT EXISTS`` on the fields of each `one` relationship, as Moqui's fk auto indexes; one
    whose columns already lead the primary key or a declared index is left out (that index serves its lookups)."""
    column_of = {field.name: field.column_name for field in definition.fields}
    served = {tuple(column_of[name] for name in definition.pk_field_names)}
    served |= {tuple(column_of[name] for name in index.fields) for index in definition.indexes}
    statements: list[str] = []
    for relationship in definition.relationships:
        if relationship.type != "one":
            continue
        fields = _relationship_fields(registry, definition, relationship)
        if fields is None:
            continue
        columns = tuple(column_of[name] for name in fields)
        if any(existing[: len(columns)] == columns for existing in served):
            continue
        served.add(columns)
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {foreign_key_index_name(definition, columns)} "
            f"ON {definition.table_name} ({', '.join(columns)})"
        )
    return statements


def schema_sql(definitions: Iterable[EntityDefinition], registry: EntityRegistry) -> list[str]:
    """Every statement needed for these entities, tables first."""
    chosen = list(definitions)
    statements = [create_table_sql(d) for d in chosen]
    statements += [s for d in chosen if (s := add_missing_columns_sql(d)) is not None]
    statements += [s for d in chosen for s in create_indexes_sql(d)]
    statements += [s for d in chosen for s in foreign_key_indexes_sql(d, registry)]
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
            await _run(connection, definitions, registry)
    else:
        await _run(database, definitions, registry)
    return [d.table_name for d in definitions]


async def _run(connection: Connection, definitions: list[EntityDefinition], registry: EntityRegistry) -> None:
    async with connection.transaction(), advisory_lock(connection, "moqui-stripe:ddl"):
        for statement in schema_sql(definitions, registry):
            await connection.execute(statement)
