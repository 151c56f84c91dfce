"""The facade under pool pressure: checkouts and admitted lock-holding flows never deadlock, an exhausted pool is an
error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity import EntityError, EntityFacade, EntityRegistry, PoolExhaustedError
from moqui_bridge.entity.connection import Pool
from moqui_bridge.entity.facade import ADMISSION_SHARES
from moqui_bridge.mantle import names
from service.checkout.order_lease import order_lease
from service.stripe_gateway.deadline import Deadline

POOL_SIZE = 4


@pytest.fixture
async def small_pool(entity_database_dsn: str) -> AsyncIterator[Pool]:
    """A pool far smaller than the number of concurrent operations the tests start."""
    pool = await create_pool(entity_database_dsn, min_size=1, max_size=POOL_SIZE)
    try:
        yield pool
    finally:
        await pool.close()


async def test_concurrent_checkout_leases_beyond_the_pool_complete(
    small_pool: Pool, entity_registry: EntityRegistry
) -> None:
    entity = EntityFacade(small_pool, entity_registry, acquire_timeout=20)

    async def checkout(order_number: int) -> str:
        order_id = f"PoolOrder{order_number}"
        # What a checkout does under its order's lease: reads and writes, each on a connection of its own.
        async with order_lease(entity, order_id, Deadline.after(50), holder_key=0, what="a test checkout"):
            await entity.find(names.PAYMENT, {"orderId": order_id})
            await entity.create(names.ORDER_HEADER, {"orderId": order_id, "statusId": names.ORDER_OPEN})
            found = await entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
        assert found is not None
        return str(found["orderId"])

    orders = await asyncio.wait_for(asyncio.gather(*(checkout(n % 6) for n in range(6))), timeout=60)
    assert sorted(orders) == sorted(f"PoolOrder{n}" for n in range(6))
    more = await asyncio.wait_for(asyncio.gather(*(checkout(n) for n in range(6, 6 + 3 * POOL_SIZE))), timeout=60)
    assert len(set(more)) == 3 * POOL_SIZE


async def test_an_exhausted_pool_raises_instead_of_hanging(small_pool: Pool, entity_registry: EntityRegistry) -> None:
    entity = EntityFacade(small_pool, entity_registry, acquire_timeout=0.5)
    held = [await small_pool.acquire() for _ in range(POOL_SIZE)]
    try:
        with pytest.raises(PoolExhaustedError, match=rf"within 0.5 s \(pool of {POOL_SIZE}\)"):
            await asyncio.wait_for(entity.find(names.PAYMENT, {}), timeout=10)
        with pytest.raises(PoolExhaustedError):
            await asyncio.wait_for(entity.sequenced_id(names.PAYMENT), timeout=10)
    finally:
        for connection in held:
            await small_pool.release(connection)
    assert await entity.find(names.PAYMENT, {"paymentId": "none"}) == []


async def test_a_timeout_inside_the_body_is_not_reported_as_exhaustion(
    small_pool: Pool, entity_registry: EntityRegistry
) -> None:
    entity = EntityFacade(small_pool, entity_registry, acquire_timeout=5)
    with pytest.raises(TimeoutError) as raised:
        async with entity.transaction():
            raise TimeoutError("the body's own")
    assert not isinstance(raised.value, PoolExhaustedError)
    assert str(raised.value) == "the body's own"


def test_admission_shares_leave_headroom_and_unknown_kinds_are_refused(
    small_pool: Pool, entity_registry: EntityRegistry
) -> None:
    assert sum(ADMISSION_SHARES.values()) < 1
    entity = EntityFacade(small_pool, entity_registry)
    with pytest.raises(EntityError, match="no pool share"):
        entity.admission("unheard-of", 1)
    with pytest.raises(ValueError, match="acquire_timeout"):
        EntityFacade(small_pool, entity_registry, acquire_timeout=0)


async def test_work_nested_in_an_admitted_operation_of_its_kind_runs_in_the_callers_slot(
    small_pool: Pool, entity_registry: EntityRegistry
) -> None:
    # A pool of 4 gives "mantle-rule" one slot: an operation holding it that starts more work of its own kind (a rule
    # calling a rule) would wait forever for its own slot if the nested work took a second one.
    entity = EntityFacade(small_pool, entity_registry, acquire_timeout=5)
    entered: list[str] = []

    async def nested_rule_call(depth: int) -> None:
        async with entity.admission("mantle-rule", 4):
            entered.append(f"depth {depth}")
            if depth < 3:
                await nested_rule_call(depth + 1)

    await asyncio.wait_for(asyncio.gather(nested_rule_call(1), nested_rule_call(1)), timeout=10)
    assert sorted(entered) == ["depth 1", "depth 1", "depth 2", "depth 2", "depth 3", "depth 3"]


async def test_waiting_too_long_for_a_slot_is_an_error_not_a_hang(
    small_pool: Pool, entity_registry: EntityRegistry
) -> None:
    entity = EntityFacade(small_pool, entity_registry, acquire_timeout=0.2)
    release = asyncio.Event()

    async def holder() -> None:
        async with entity.admission("mantle-rule", 4):
            await release.wait()

    holding = asyncio.create_task(holder())
    await asyncio.sleep(0.05)
    with pytest.raises(PoolExhaustedError, match="no mantle-rule slot became free"):
        async with entity.admission("mantle-rule", 4):
            pass
    release.set()
    await holding
