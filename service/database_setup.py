"""Preparing this service's own database: its tables (the journal and the other `stripe.*` entities, and the Mantle
subset the standalone client's rules keep), the seed data those rules need, and the installation id.

The service never connects to Moqui's database: Moqui keeps its own rows and calls the gateway API.
"""

from __future__ import annotations

from collections.abc import Collection

from moqui_bridge.data import MANTLE_SEED_DATA
from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.data_loader import load_files
from moqui_bridge.entity.ddl import create_tables
from moqui_bridge.resources import package_path
from service.gateway_configs import ensure_gateway_configs, warn_without_gateways
from service.payment_services.installation import ensure_installation_id
from service.payment_services.journal_functions import install_journal_functions

# entity-defs/ in the source tree, installed as this package (setup.py).
ENTITY_DEFS_PACKAGE = "moqui_stripe_entity_defs"


def load_entity_registry() -> EntityRegistry:
    """Every entity definition the service knows (the Mantle subset and ours)."""
    return EntityRegistry.load([package_path(ENTITY_DEFS_PACKAGE)])


async def prepare_database(facade: EntityFacade, gateway_config_ids: Collection[str] = ()) -> str:
    """Create the tables (idempotent) and the journal's functions (journal_functions.py), load the seed data and the
    configured gateways' PaymentGatewayConfig rows (service/gateway_configs.py), and answer the installation id (made
    at the first start)."""
    warn_without_gateways(gateway_config_ids)
    await create_tables(facade.pool, facade.registry)
    await install_journal_functions(facade)
    await load_files(facade, [MANTLE_SEED_DATA], types=None)
    await ensure_gateway_configs(facade, gateway_config_ids)
    return await ensure_installation_id(facade)
