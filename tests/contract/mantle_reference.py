"""Mantle's and Moqui's OWN entity XML and seed data, read as Moqui reads them, for the contract tests.

Our entity engine loads the reference copies (``tests/reference/moqui-reference``) as they are
(``<extend-entity>`` merged into its entity, ``<view-entity>`` skipped, Groovy defaults left to Moqui); the
``<seed-data>`` sections of those files are read as Moqui loads them.

Nothing here asserts; the tests do.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

from lxml import etree

from moqui_bridge.entity import EntityRegistry
from moqui_bridge.entity.data_loader import DataRecord, parse_data
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
