"""Fixtures of the throughput tests: an entity facade on the test's database for seeding rows and reading results."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity import EntityFacade, EntityRegistry


@pytest.fixture
async def entity(entity_database_dsn: str, entity_registry: EntityRegistry) -> AsyncIterator[EntityFacade]:
    """A small pool of its own on the test's database (the service processes under test have theirs)."""
    pool = await create_pool(entity_database_dsn, min_size=1, max_size=4)
    try:
        yield EntityFacade(pool, entity_registry)
    finally:
        await pool.close()
