"""Helpers for the entity-engine tests: a test-only entity with every Moqui field type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.connection import Pool
from moqui_bridge.entity.ddl import create_tables

ALL_TYPES_XML = """<?xml version="1.0" encoding="UTF-8"?>
<entities>
    <entity entity-name="AllTypesSample" package="test.sample">
        <field name="sampleId" type="id" is-pk="true"/>
        <field name="longId" type="id-long"/>
        <field name="flag" type="text-indicator"/>
        <field name="shortText" type="text-short"/>
        <field name="mediumText" type="text-medium"/>
        <field name="intermediateText" type="text-intermediate"/>
        <field name="longText" type="text-long"/>
        <field name="veryLongText" type="text-very-long"/>
        <field name="whenDate" type="date"/>
        <field name="whenTime" type="time"/>
        <field name="whenStamp" type="date-time"/>
        <field name="count" type="number-integer"/>
        <field name="ratio" type="number-decimal"/>
        <field name="measure" type="number-float"/>
        <field name="money" type="currency-amount"/>
        <field name="preciseMoney" type="currency-precise"/>
        <field name="blob" type="binary-very-long"/>
        <field name="required" type="text-short" not-null="true" default="'filled'"/>
        <index name="SAMPLE_SHORT_IDX" unique="true"><index-field name="shortText"/></index>
    </entity>
    <entity entity-name="SampleLine" package="test.sample" table-name="SAMPLE_LINE_TBL" no-update-stamp="true">
        <field name="sampleId" type="id" is-pk="true"/>
        <field name="lineSeqId" type="id" is-pk="true"/>
        <field name="note" type="text-medium" column-name="LINE_NOTE"/>
        <relationship type="one" related="test.sample.AllTypesSample" short-alias="sample"/>
    </entity>
</entities>
"""


@pytest.fixture(scope="session")
def sample_entity_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An entity-definition file with the test-only entities."""
    path = tmp_path_factory.mktemp("entity-defs") / "SampleEntities.xml"
    path.write_text(ALL_TYPES_XML, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_registry(sample_entity_file: Path) -> EntityRegistry:
    """The project's entities plus the test-only ones."""
    return EntityRegistry.load([Path(__file__).resolve().parents[2] / "entity-defs", sample_entity_file])


@pytest.fixture
async def sample_pool(database_dsn: str) -> AsyncIterator[Pool]:
    """A pool on a fresh empty database."""
    pool = await create_pool(database_dsn, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def sample_facade(sample_pool: Pool, sample_registry: EntityRegistry) -> EntityFacade:
    """A facade on a fresh database holding only the test-only tables and the sequence table (quick to make)."""
    chosen = [name for name in sample_registry.full_names if name.startswith("test.sample.")]
    await create_tables(sample_pool, sample_registry, [*chosen, "moqui.entity.SequenceValueItem"])
    return EntityFacade(sample_pool, sample_registry)
