"""A fresh Moqui loads the component's data: file order and types as EntityDataLoaderImpl does them, on Mantle's own
schema and seed (foreign keys on), and every row lands."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator

import pytest

from moqui_bridge.component.writer import TEMPLATE_ROOT
from moqui_bridge.database.pool import create_pool
from moqui_bridge.database.postgres_server import PostgresServer
from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.data_loader import load_records
from tests.contract.mantle_reference import data_file_records
from tests.moqui_harness.moqui_database import build_moqui_database, component_data_files, load_component_data

# build.gradle of moqui-framework: `load` takes every type, `loadProduction` seed, seed-initial and install.
LOAD_PRODUCTION = frozenset({"seed", "seed-initial", "install"})
_numbers = itertools.count(1)


@pytest.fixture
async def fresh_moqui(postgres_server: PostgresServer, mantle_entities: EntityRegistry) -> AsyncIterator[EntityFacade]:
    """An empty database with Mantle's tables, keys and entity seed data, as a new Moqui has before data files."""
    name = f"moqui_data_{os.getpid()}_{next(_numbers)}"
    pool = await create_pool(await postgres_server.create_database(name), max_size=3)
    try:
        yield await build_moqui_database(pool, mantle_entities)
    finally:
        await pool.close()
        await postgres_server.drop_database(name)


def test_setup_data_sorts_before_what_references_it() -> None:
    names = [path.name for path in component_data_files(TEMPLATE_ROOT)]
    assert names == ["10_StripeSeedData.xml", "20_StripeGatewayConfigData.xml"]


@pytest.mark.parametrize("types", [LOAD_PRODUCTION, None], ids=["loadProduction", "load"])
async def test_a_fresh_load_lands_every_row(fresh_moqui: EntityFacade, types: frozenset[str] | None) -> None:
    loaded = await load_component_data(fresh_moqui, TEMPLATE_ROOT, types)

    assert [(f.name, f.skipped, f.error) for f in loaded] == [
        ("10_StripeSeedData.xml", False, None),
        ("20_StripeGatewayConfigData.xml", False, None),
    ]
    for path in component_data_files(TEMPLATE_ROOT):
        for record in data_file_records(fresh_moqui.registry, path):
            definition = record.definition
            key = {name: record.values[name] for name in definition.pk_field_names}
            row = await fresh_moqui.find_one(definition.full_name, key)
            assert row is not None, (path.name, key)
            assert {name: row[name] for name in record.values} == record.values


async def test_the_gateway_configs_need_the_seed_first(fresh_moqui: EntityFacade) -> None:
    # What the old file names did (demo data sorting before the setup data): the configs' file fails on its own.
    configs = data_file_records(fresh_moqui.registry, TEMPLATE_ROOT / "data" / "20_StripeGatewayConfigData.xml")
    with pytest.raises(Exception, match="foreign key"):
        await load_records(fresh_moqui, configs)


async def test_only_seed_is_loaded_when_only_seed_is_asked(fresh_moqui: EntityFacade) -> None:
    loaded = await load_component_data(fresh_moqui, TEMPLATE_ROOT, frozenset({"seed"}))
    assert [(f.name, f.skipped) for f in loaded] == [
        ("10_StripeSeedData.xml", False),
        ("20_StripeGatewayConfigData.xml", True),
    ]
    assert (
        await fresh_moqui.find("mantle.account.method.PaymentGatewayConfig", {"paymentGatewayTypeEnumId": "PgtStripe"})
        == []
    )
