"""Parameterised SQL for entity operations, written the way Moqui writes it.

Identifiers are unquoted upper-case table and column names taken only from entity definitions (PostgreSQL
folds them to lower case, which is how Moqui's tables are named); every value is a ``$n`` parameter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moqui_bridge.entity.definition import LAST_UPDATED_STAMP, EntityDefinition, FieldDefinition
from moqui_bridge.entity.errors import EntityValueError
from moqui_bridge.entity.values import to_database


@dataclass
class Statement:
    """SQL text with its positional parameters."""

    text: str
    parameters: list[Any] = field(default_factory=list)

    def parameter(self, value: Any) -> str:
        """Add a parameter and return its ``$n`` placeholder."""
        self.parameters.append(value)
        return f"${len(self.parameters)}"


def _columns(definition: EntityDefinition) -> str:
    return ", ".join(f.column_name for f in definition.fields)


def _where(statement: Statement, definition: EntityDefinition, conditions: Mapping[str, Any]) -> str:
    clauses: list[str] = []
    for name, value in conditions.items():
        field_definition = definition.field(name)
        column = field_definition.column_name
        if value is None:
            clauses.append(f"{column} IS NULL")
        elif isinstance(value, (list, tuple, set, frozenset)):
            clauses.append(_in_clause(statement, field_definition, value))
        else:
            clauses.append(f"{column} = {statement.parameter(to_database(field_definition, value))}")
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _in_clause(statement: Statement, field_definition: FieldDefinition, values: Collection[Any]) -> str:
    if not values:
        return "1 = 0"  # IN () is not SQL; an empty list matches nothing
    if any(v is None for v in values):
        raise EntityValueError(f"Field {field_definition.name}: None cannot be part of an IN list")
    placeholders = ", ".join(statement.parameter(to_database(field_definition, v)) for v in values)
    return f"{field_definition.column_name} IN ({placeholders})"


def _order_by(definition: EntityDefinition, order_by: Sequence[str]) -> str:
    terms: list[str] = []
    for entry in order_by:
        descending = entry.startswith("-")
        name = entry[1:] if entry.startswith(("-", "+")) else entry
        terms.append(definition.field(name).column_name + (" DESC" if descending else ""))
    return " ORDER BY " + ", ".join(terms) if terms else ""


def select(
    definition: EntityDefinition,
    conditions: Mapping[str, Any],
    *,
    order_by: Sequence[str] = (),
    limit: int | None = None,
    offset: int | None = None,
) -> Statement:
    """``SELECT <all columns> FROM <table> WHERE ... ORDER BY ... LIMIT ... OFFSET ...``."""
    statement = Statement("")
    text = f"SELECT {_columns(definition)} FROM {definition.table_name}"
    text += _where(statement, definition, conditions)
    text += _order_by(definition, order_by)
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise EntityValueError(f"limit must be a non-negative int, got {limit!r}")
        text += f" LIMIT {statement.parameter(limit)}"
    if offset is not None:
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise EntityValueError(f"offset must be a non-negative int, got {offset!r}")
        text += f" OFFSET {statement.parameter(offset)}"
    statement.text = text
    return statement


def insert(definition: EntityDefinition, values: Mapping[str, Any]) -> Statement:
    """``INSERT INTO <table> (<columns>) VALUES (...)`` for the given fields."""
    statement = Statement("")
    columns = [definition.field(name).column_name for name in values]
    placeholders = [statement.parameter(to_database(definition.field(n), v)) for n, v in values.items()]
    statement.text = f"INSERT INTO {definition.table_name} ({', '.join(columns)}) VALUES ({', '.join(placeholders)})"
    return statement


def upsert(
    definition: EntityDefinition,
    values: Mapping[str, Any],
    *,
    update_names: Collection[str] | None = None,
    only_if_changed: bool = False,
) -> Statement:
    """Insert, or update non-PK fields of the row with the same primary key (Moqui's store).

    ``update_names``: the fields an existing row takes from ``values`` (default: every given non-PK field); the
    others are written only when the row is new. ``only_if_changed``: leave an existing row untouched unless one
    of those fields differs (``lastUpdatedStamp`` aside), so a repeated write changes nothing.
    """
    statement = insert(definition, values)
    pk_columns = ", ".join(f.column_name for f in definition.pk_fields)
    names = [name for name in (values if update_names is None else update_names) if not definition.field(name).is_pk]
    columns = [definition.field(name).column_name for name in names]
    updates = [f"{column} = EXCLUDED.{column}" for column in columns]
    action = "DO UPDATE SET " + ", ".join(updates) if updates else "DO NOTHING"
    compared = [column for name, column in zip(names, columns, strict=True) if name != LAST_UPDATED_STAMP]
    if updates and only_if_changed and compared:
        table = definition.table_name
        changed = " OR ".join(f"{table}.{column} IS DISTINCT FROM EXCLUDED.{column}" for column in compared)
        action += f" WHERE {changed}"
    statement.text += f" ON CONFLICT ({pk_columns}) {action}"
    return statement


def update(definition: EntityDefinition, primary_key: Mapping[str, Any], values: Mapping[str, Any]) -> Statement:
    """``UPDATE <table> SET ... WHERE <pk>``."""
    statement = Statement("")
    assignments = [
        f"{definition.field(n).column_name} = {statement.parameter(to_database(definition.field(n), v))}"
        for n, v in values.items()
    ]
    text = f"UPDATE {definition.table_name} SET {', '.join(assignments)}"
    statement.text = text + _where(statement, definition, primary_key)
    return statement


def delete(definition: EntityDefinition, primary_key: Mapping[str, Any]) -> Statement:
    """``DELETE FROM <table> WHERE <pk>``."""
    statement = Statement("")
    statement.text = f"DELETE FROM {definition.table_name}" + _where(statement, definition, primary_key)
    return statement


@dataclass(frozen=True)
class FieldRef:
    """In a join condition: a field of another record of the same query (by its alias)."""

    alias: str
    field: str


@dataclass(frozen=True)
class Join:
    """A record read beside the main one in the same query (a LEFT JOIN): ``entity_name`` where every field in
    ``on`` equals its value, or the field of an earlier record named by a :class:`FieldRef`."""

    alias: str
    entity_name: str
    on: Mapping[str, Any]


def select_joined(
    base: tuple[str, EntityDefinition],
    conditions: Mapping[str, Any],
    joins: Sequence[tuple[Join, EntityDefinition]],
    *,
    limit: int,
) -> Statement:
    """``SELECT <all columns of each> FROM <base> LEFT JOIN <each join> ON ... WHERE <conditions on base>``.

    Tables are aliased ``T0`` (the base), ``T1``... in order; a join may refer to the base or an earlier join.
    """
    statement = Statement("")
    base_alias, base_definition = base
    table_aliases = {base_alias: ("T0", base_definition)}
    columns = [f"T0.{f.column_name}" for f in base_definition.fields]
    text_joins: list[str] = []
    for index, (join, definition) in enumerate(joins, start=1):
        table_alias = f"T{index}"
        clauses: list[str] = []
        for name, value in join.on.items():
            column = f"{table_alias}.{definition.field(name).column_name}"
            if isinstance(value, FieldRef):
                other_alias, other_definition = table_aliases[value.alias]
                clauses.append(f"{column} = {other_alias}.{other_definition.field(value.field).column_name}")
            else:
                clauses.append(f"{column} = {statement.parameter(to_database(definition.field(name), value))}")
        text_joins.append(f" LEFT JOIN {definition.table_name} {table_alias} ON {' AND '.join(clauses)}")
        table_aliases[join.alias] = (table_alias, definition)
        columns.extend(f"{table_alias}.{f.column_name}" for f in definition.fields)
    where = [
        f"T0.{base_definition.field(name).column_name} = "
        f"{statement.parameter(to_database(base_definition.field(name), value))}"
        for name, value in conditions.items()
    ]
    statement.text = (
        f"SELECT {', '.join(columns)} FROM {base_definition.table_name} T0{''.join(text_joins)}"
        f" WHERE {' AND '.join(where)} LIMIT {statement.parameter(limit)}"
    )
    return statement
