"""Preparing the database for either deployment mode.

Standalone: this service owns the database and creates the Mantle subset and its own tables, then loads the seed
data Mantle's rules need. Shared database: Moqui made Mantle's tables; we create only our own (`stripe.*`) and check
that the Mantle tables we read are there, so a wrong DATABASE_URL fails at start with one clear line.
"""

from __future__ import annotations

from collections.abc import Collection

from moqui_bridge.data import MANTLE_SEED_DATA
from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.data_loader import load_files
from moqui_bridge.entity.ddl import create_tables
from moqui_bridge.resources import package_path
from service.gateway_configs import ensure_gateway_configs, warn_without_gateways

# entity-defs/ in the source tree, installed as this package (setup.py).
ENTITY_DEFS_PACKAGE = "moqui_stripe_entity_defs"
OUR_PACKAGE = "stripe"
# The Mantle tables the gateway services read in shared-database mode.
MANTLE_TABLES_READ = ("PAYMENT", "PAYMENT_METHOD", "PAYMENT_GATEWAY_CONFIG", "PAYMENT_GATEWAY_RESPONSE", "ORDER_HEADER")


class SchemaError(RuntimeError):
    """The database does not hold what this mode needs."""


def load_entity_registry() -> EntityRegistry:
    """Every entity definition the service knows (the Mantle subset and ours)."""
    return EntityRegistry.load([package_path(ENTITY_DEFS_PACKAGE)])


def our_entity_names(registry: EntityRegistry) -> list[str]:
    """The full names of this service's own entities."""
    return [name for name in registry.full_names if registry.get(name).package == OUR_PACKAGE]


async def prepare_database(facade: EntityFacade, mode: str, gateway_config_ids: Collection[str] = ()) -> None:
    """Create what the mode needs (idempotent) and, standalone, load the seed data and the configured gateways'
    PaymentGatewayConfig rows (service/gateway_configs.py)."""
    warn_without_gateways(gateway_config_ids)
    if mode == "standalone":
        await create_tables(facade.pool, facade.registry)
        await load_files(facade, [MANTLE_SEED_DATA], types=None)
        await ensure_gateway_configs(facade, gateway_config_ids)
        return
    async with facade.pool.acquire() as connection:
        present = {
            row["table_name"].upper()
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        }
    missing = [table for table in MANTLE_TABLES_READ if table not in present]
    if missing:
        raise SchemaError(
            "shared-database mode needs Moqui's Mantle tables, but these are missing: "
            + ", ".join(missing)
            + " (is DATABASE_URL Moqui's database?)"
        )
    await create_tables(facade.pool, facade.registry, our_entity_names(facade.registry))
