"""Two service databases on one Stripe account (production and a staging copy, or two installs) never share a key
or a PaymentIntent, even with identical journal row ids and payment ids; `moqui-stripe rekey` gives a staging copy
its own installation id and refuses to run without being told it is one."""

from __future__ import annotations

import asyncio

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity import EntityFacade
from service.cli import main
from service.database_setup import load_entity_registry
from service.payment_services.installation import ensure_installation_id
from stripe_emulator.control import EmulatorControl
from tests.gateway_api.conftest import gateway_settings, next_payment_id, running_world


async def test_two_databases_with_identical_payment_ids_never_share_a_payment_intent(
    entity_database_dsn: str, database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    overrides = gateway_settings(stripe_emulator_url)
    payment_id = next_payment_id()
    async with (
        running_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as production,
        running_world(database_dsn, stripe_emulator_url, emulator_control, overrides) as staging,
    ):
        first = await production.authorize(payment_id)
        second = await staging.authorize(payment_id)
        assert first.flags == second.flags == {"resultSuccess"}
        assert first.body["paymentIntentId"] != second.body["paymentIntentId"]
        [row_one], [row_two] = await production.journal(payment_id), await staging.journal(payment_id)
        # The same journal row id in both databases: only the installation id tells their keys apart.
        assert row_one["operationId"] == row_two["operationId"]
        intents = await production.intents(payment_id)
        operations = {intent.metadata["moquiStripeOperation"] for intent in intents}
        assert len(intents) == 2 and len({operation.split("/")[0] for operation in operations}) == 2


async def _installation_id(dsn: str) -> str:
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        return await ensure_installation_id(EntityFacade(pool, load_entity_registry()))
    finally:
        await pool.close()


async def test_rekey_needs_its_confirmation_then_gives_a_new_installation_id(entity_database_dsn: str) -> None:
    before = await _installation_id(entity_database_dsn)
    refused = await asyncio.to_thread(main, ["rekey", "--database-url", entity_database_dsn])
    assert refused == 2
    assert await _installation_id(entity_database_dsn) == before
    assert await asyncio.to_thread(main, ["rekey", "--staging-copy", "--database-url", entity_database_dsn]) == 0
    after = await _installation_id(entity_database_dsn)
    assert after != before and len(after) == 32
