"""Sequenced ids from SEQUENCE_VALUE_ITEM: Moqui's numbers, banks, and no collisions under concurrency."""

from __future__ import annotations

import asyncio

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity import EntityFacade, EntityRegistry, SequenceBanks
from moqui_bridge.entity.connection import Pool

PGR = "mantle.account.method.PaymentGatewayResponse"


async def _seq_num(pool: Pool, name: str) -> int | None:
    value = await pool.fetchval("SELECT SEQ_NUM FROM SEQUENCE_VALUE_ITEM WHERE SEQ_NAME = $1", name)
    return None if value is None else int(value)


async def test_first_ids_and_bank_reservation_match_moqui(entity_facade: EntityFacade) -> None:
    ids = [await entity_facade.sequenced_id("PaymentGatewayResponse") for _ in range(51)]
    assert ids[:3] == ["100000", "100001", "100002"]
    assert ids[-1] == "100050"
    # Moqui stores the last number of the reserved bank: 100000..100049, then 100050..100099.
    assert await _seq_num(entity_facade.pool, PGR) == 100099


async def test_continues_after_a_moqui_reservation(entity_facade: EntityFacade) -> None:
    # As if Moqui had already handed out ids up to 100249 for this entity.
    await entity_facade.pool.execute(
        "INSERT INTO SEQUENCE_VALUE_ITEM (SEQ_NAME, SEQ_NUM) VALUES ($1, 100249)", "mantle.account.payment.Payment"
    )
    payment = await entity_facade.create("Payment", {})
    assert payment["paymentId"] == "100250"
    assert await _seq_num(entity_facade.pool, "mantle.account.payment.Payment") == 100299


async def test_concurrent_workers_never_duplicate(entity_facade: EntityFacade) -> None:
    async def worker() -> list[str]:
        return [await entity_facade.sequenced_id(PGR) for _ in range(500)]

    results = await asyncio.gather(*(worker() for _ in range(8)))
    all_ids = [i for ids in results for i in ids]
    assert len(all_ids) == 4000
    assert len(set(all_ids)) == 4000
    assert min(int(i) for i in all_ids) == 100000


async def test_two_processes_sharing_the_table_never_collide(
    entity_database_dsn: str, entity_registry: EntityRegistry
) -> None:
    # Two pools and two facades with their own banks stand for two processes (or us and Moqui).
    first_pool = await create_pool(entity_database_dsn, max_size=4)
    second_pool = await create_pool(entity_database_dsn, max_size=4)
    try:
        facades = [
            EntityFacade(first_pool, entity_registry),
            EntityFacade(second_pool, entity_registry, sequence_banks=SequenceBanks(second_pool, bank_size=7)),
        ]

        async def worker(facade: EntityFacade) -> list[str]:
            return [await facade.sequenced_id(PGR) for _ in range(300)]

        results = await asyncio.gather(*(worker(f) for f in facades for _ in range(4)))
    finally:
        await first_pool.close()
        await second_pool.close()
    all_ids = [i for ids in results for i in ids]
    assert len(set(all_ids)) == len(all_ids) == 2400
    assert min(int(i) for i in all_ids) == 100000


async def test_reservation_survives_a_rolled_back_caller(entity_facade: EntityFacade) -> None:
    try:
        async with entity_facade.transaction() as connection:
            await entity_facade.create("Payment", {}, connection=connection)
            raise RuntimeError("caller fails")
    except RuntimeError:
        pass
    # The bank was reserved in its own transaction, so the next id moves on instead of reusing 100000.
    assert (await entity_facade.create("Payment", {}))["paymentId"] == "100001"
    assert await _seq_num(entity_facade.pool, "mantle.account.payment.Payment") == 100049
