"""Loader for Moqui entity-facade-xml data files (seed, demo, install, ... data in Moqui's own format).

A file is ``<entity-facade-xml type="seed">`` with one element per record: the element name is the full or
short entity name, attributes are fields. Inside a record element, a child element named after one of its
fields holds that field's text (CDATA included); any other child is a related record (named by entity name or
by the parent's relationship short-alias) and receives the parent's primary-key fields it has and lacks.
Loading upserts by primary key, like Moqui's loader, so loading a file twice changes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from moqui_bridge.entity.connection import Connection
from moqui_bridge.entity.definition import EntityDefinition
from moqui_bridge.entity.errors import EntityDefinitionError, UnknownEntityError
from moqui_bridge.entity.facade import EntityFacade
from moqui_bridge.entity.registry import EntityRegistry

DEFAULT_TYPES = frozenset({"seed", "demo"})
ROOT_TAG = "entity-facade-xml"


@dataclass(frozen=True)
class DataRecord:
    """One record read from a data file, field values still as Moqui text (None for empty attributes)."""

    definition: EntityDefinition
    values: dict[str, str | None]
    source_line: int | None = None


def _related_definition(registry: EntityRegistry, parent: EntityDefinition, tag: str) -> EntityDefinition:
    for relationship in parent.relationships:
        if tag in (relationship.short_alias, relationship.name):
            return registry.get(relationship.related)
    return registry.get(tag)


def _records(
    registry: EntityRegistry, element: etree._Element, definition: EntityDefinition, inherited: dict[str, str | None]
) -> Iterator[DataRecord]:
    # Empty attributes mean "no value", as in Moqui's loader.
    values: dict[str, str | None] = {}
    for attribute, text in element.attrib.items():
        definition.field(str(attribute))
        values[str(attribute)] = str(text) or None
    for name, value in inherited.items():
        if definition.has_field(name) and values.get(name) is None:
            values[name] = value
    children: list[etree._Element] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        if definition.has_field(child.tag):
            values[child.tag] = "".join(str(text) for text in child.itertext())
        else:
            children.append(child)
    # lxml-stubs mistype sourceline
    yield DataRecord(definition, values, getattr(element, "sourceline", None))
    parent_key = {name: values.get(name) for name in definition.pk_field_names}
    for child in children:
        try:
            child_definition = _related_definition(registry, definition, str(child.tag))
        except UnknownEntityError:
            raise EntityDefinitionError(
                f"<{child.tag}> at line {child.sourceline} is neither a field of {definition.full_name}, "
                "a relationship short-alias nor an entity name"
            ) from None
        yield from _records(registry, child, child_definition, parent_key)


def parse_data(registry: EntityRegistry, root: etree._Element) -> list[DataRecord]:
    """All records of an ``entity-facade-xml`` root element, parents before their nested children."""
    records: list[DataRecord] = []
    for element in root:
        if isinstance(element.tag, str):
            records.extend(_records(registry, element, registry.get(element.tag), {}))
    return records


def read_data_file(path: Path) -> etree._Element:
    """Parse a data file and check its root element."""
    try:
        root = etree.parse(str(path)).getroot()
    except etree.XMLSyntaxError as error:
        raise EntityDefinitionError(f"Cannot parse data file {path}: {error}") from error
    if root.tag != ROOT_TAG:
        raise EntityDefinitionError(f"{path} is not an entity-facade-xml data file (root <{root.tag}>)")
    return root


async def load_records(
    facade: EntityFacade, records: Iterable[DataRecord], *, connection: Connection | None = None
) -> Counter[str]:
    """Upsert the records in one transaction; return counts by full entity name."""
    counts: Counter[str] = Counter()
    async with facade.transaction(connection) as active:
        for record in records:
            values: dict[str, Any] = dict(record.values)
            await facade.store(record.definition.full_name, values, connection=active)
            counts[record.definition.full_name] += 1
    return counts


def _data_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        files.extend(sorted(path.rglob("*.xml")) if path.is_dir() else [path])
    return files


async def load_files(
    facade: EntityFacade,
    paths: Iterable[Path],
    types: Iterable[str] | None = DEFAULT_TYPES,
    *,
    connection: Connection | None = None,
) -> dict[str, int]:
    """Load data files (folders are searched for ``*.xml``) whose ``type`` is in ``types``; None loads all.

    Each file loads in its own transaction. Returns the number of records loaded per full entity name.
    """
    wanted = None if types is None else frozenset(types)
    totals: Counter[str] = Counter()
    # File system and XML parsing run in a thread: the event loop keeps serving while data loads.
    for file in await asyncio.to_thread(_data_files, list(paths)):
        root = await asyncio.to_thread(read_data_file, file)
        if wanted is not None and root.get("type") not in wanted:
            continue
        records = parse_data(facade.registry, root)
        totals.update(await load_records(facade, records, connection=connection))
    return dict(totals)
