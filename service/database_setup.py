"""Preparing this service's own database: its tables (the journal and the other `stripe.*` entities, and the Mantle
subset the standalone client's rules keep), the seed data those rules need, and the installation id.

The service never connects to Moqui's database: Moqui keeps its own rows and calls the gateway API.
"""

from __future__ import annotations

from pathlib import Path

from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.data_loader import load_files
from moqui_bridge.entity.ddl import create_tables
from service.payment_services.installation import ensure_installation_id

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENTITY_DEFS_DIR = PROJECT_ROOT / "entity-defs"
SEED_DATA_FILE = PROJECT_ROOT / "moqui_bridge" / "data" / "MantleSeedData.xml"
OUR_PACKAGE = "stripe"


def load_entity_registry() -> EntityRegistry:
    """Every entity definition the service knows (the Mantle subset and ours)."""
    return EntityRegistry.load([ENTITY_DEFS_DIR])


def our_entity_names(registry: EntityRegistry) -> list[str]:
    """The full names of this service's own entities."""
    return [name for name in registry.full_names if registry.get(name).package == OUR_PACKAGE]


async def prepare_database(facade: EntityFacade) -> str:
    """Create the tables (idempotent), load the seed data and answer the installation id (made at the first start)."""
    await create_tables(facade.pool, facade.registry)
    await load_files(facade, [SEED_DATA_FILE], types=None)
    return await ensure_installation_id(facade)
