"""A Moqui database built from Mantle's and Moqui's OWN entity XML, for the shared-database contract test.

The shared-database mode must work on the tables Moqui creates, not on tables made from our entity-defs. So the
schema here comes from the reference copies of Mantle's and Moqui's entity files (``tests/reference/moqui-reference``):
our entity engine loads them as they are (``<extend-entity>`` merged into its entity, ``<view-entity>`` skipped,
Groovy defaults left to Moqui) and every ``<entity>`` becomes a table by Moqui's naming and PostgreSQL type rules,
which the naming and type tests pin. Foreign keys are created for every ``one`` relationship between loaded
entities, so the test also proves that the rows we insert are rows Moqui could hold.
The ``<seed-data>`` sections of those files are loaded as Moqui loads them.

Nothing here asserts; the tests do.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

from lxml import etree

from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.connection import Connection, Pool
from moqui_bridge.entity.data_loader import DataRecord, load_records, parse_data
from moqui_bridge.entity.ddl import create_tables
from tests.reference import MOQUI_REFERENCE

REPO_ROOT = Path(__file__).resolve().parents[2]
# The entity files a Moqui with Mantle has, as far as the payment flow reaches (and their framework basics).
MANTLE_ENTITY_FILES = (
    "moqui-framework/entity/BasicEntities.xml",
    "moqui-framework/entity/EntityEntities.xml",
    "moqui-framework/entity/ServiceEntities.xml",
    "mantle-udm/entity/PartyEntities.xml",
    "mantle-udm/entity/AccountingAccountEntities.xml",
    "mantle-udm/entity/OrderEntities.xml",
    "mantle-udm/entity/ProductStoreEntities.xml",
)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
MAX_CONSTRAINT_NAME = 60

Row = dict[str, Any]
Snapshot = dict[str, list[Row]]


def entity_files(reference: Path = MOQUI_REFERENCE) -> list[Path]:
    """The Mantle/Moqui entity files, in the order Moqui's components load them (framework first)."""
    return [reference / name for name in MANTLE_ENTITY_FILES]


def _root(path: Path) -> etree._Element:
    return etree.parse(str(path), _PARSER).getroot()


def mantle_registry(reference: Path = MOQUI_REFERENCE) -> EntityRegistry:
    """Every entity of Mantle's and Moqui's own files (extend-entity applied, view-entity skipped)."""
    return EntityRegistry.from_files(entity_files(reference))


def seed_records(registry: EntityRegistry, reference: Path = MOQUI_REFERENCE) -> list[DataRecord]:
    """The records of the ``<seed-data>`` sections of the entity files, for the entities loaded here."""
    records: list[DataRecord] = []
    for path in entity_files(reference):
        for seed in _root(path).iter("seed-data"):
            wrapper = etree.Element("entity-facade-xml", type="seed")
            for element in seed:
                if isinstance(element.tag, str) and element.tag in registry:
                    wrapper.append(copy.deepcopy(element))
            for record in parse_data(registry, wrapper):
                # Moqui stores encrypted fields (a demo mail password) as its own ciphertext: not ours to write.
                plain = {k: v for k, v in record.values.items() if not record.definition.field(k).encrypt}
                records.append(replace(record, values=plain))
    return records


def data_file_records(registry: EntityRegistry, path: Path) -> list[DataRecord]:
    """The records of an entity-facade-xml file for the entities loaded here (others, e.g. DbResource, skipped)."""
    root = _root(path)
    wrapper = etree.Element("entity-facade-xml", type=root.get("type") or "seed")
    for element in root:
        if isinstance(element.tag, str) and element.tag in registry:
            wrapper.append(copy.deepcopy(element))
    return parse_data(registry, wrapper)


def foreign_key_sql(registry: EntityRegistry) -> list[str]:
    """``ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`` for each ``one`` relationship between loaded entities.

    A relationship whose related fields are not exactly the related entity's primary key has no usable
    constraint (PostgreSQL needs a unique key on the referenced side); Moqui skips those too. The constraints
    check new and updated rows only (NOT VALID), see `build_moqui_database`.
    """
    statements: list[str] = []
    for definition in registry:
        for number, relationship in enumerate(definition.relationships, start=1):
            if relationship.type != "one" or relationship.related not in registry:
                continue
            related = registry.get(relationship.related)
            key_maps = registry.key_maps(definition, relationship)
            if {k.related for k in key_maps} != set(related.pk_field_names) or not all(
                definition.has_field(k.field_name) for k in key_maps
            ):
                continue
            columns = ", ".join(definition.field(k.field_name).column_name for k in key_maps)
            related_columns = ", ".join(related.field(str(k.related)).column_name for k in key_maps)
            name = f"FK_{definition.table_name}_{number}"[:MAX_CONSTRAINT_NAME]
            statements.append(
                f"ALTER TABLE {definition.table_name} ADD CONSTRAINT {name} FOREIGN KEY ({columns})"
                f" REFERENCES {related.table_name} ({related_columns}) NOT VALID"
            )
    return statements


async def build_moqui_database(pool: Pool, registry: EntityRegistry) -> EntityFacade:
    """Create Mantle's tables, indexes and foreign keys in an empty database and load the entity seed data."""
    await create_tables(pool, registry)
    facade = EntityFacade(pool, registry)
    records = await asyncio.to_thread(seed_records, registry)
    await load_records(facade, records)
    # Keys last, as Moqui adds them once every table exists. NOT VALID: the entity seed refers to rows of Moqui
    # data files not copied here (units of time, ...); every row written from now on is checked all the same.
    async with pool.acquire() as connection, connection.transaction():
        for statement in foreign_key_sql(registry):
            await connection.execute(statement)
    return facade


async def snapshot(connection: Connection | Pool, registry: EntityRegistry) -> Snapshot:
    """Every row of every Mantle table, rows sorted by primary key, keyed by table name."""
    tables: Snapshot = {}
    for definition in registry:
        pk_columns = ", ".join(f.column_name for f in definition.pk_fields)
        rows = await connection.fetch(f"SELECT * FROM {definition.table_name} ORDER BY {pk_columns}")
        tables[definition.table_name] = [dict(row) for row in rows]
    return tables


def changed_rows(before: Snapshot, after: Snapshot, registry: EntityRegistry) -> dict[str, dict[str, list[Row]]]:
    """Per changed table: rows ``added``, ``removed`` and ``updated`` (the new version), matched by primary key."""
    changes: dict[str, dict[str, list[Row]]] = {}
    for definition in registry:
        table = definition.table_name
        pk_columns = [f.column_name.lower() for f in definition.pk_fields]

        def key(row: Row, columns: list[str] = pk_columns) -> tuple[Any, ...]:
            return tuple(row[c] for c in columns)

        old = {key(row): row for row in before.get(table, [])}
        new = {key(row): row for row in after.get(table, [])}
        change = {
            "added": [new[k] for k in new.keys() - old.keys()],
            "removed": [old[k] for k in old.keys() - new.keys()],
            "updated": [new[k] for k in new.keys() & old.keys() if new[k] != old[k]],
        }
        if any(change.values()):
            changes[table] = change
    return changes
