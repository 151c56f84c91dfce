"""Advisory locks serialise work on one key and leave other keys free."""

from __future__ import annotations

import asyncio

import pytest

from moqui_bridge.entity import EntityError, EntityFacade, advisory_lock, session_advisory_lock, try_advisory_lock
from moqui_bridge.entity.locks import advisory_lock_key


def test_keys_are_stable_signed_64_bit() -> None:
    key = advisory_lock_key("payment:100000")
    assert key == advisory_lock_key("payment:100000")
    assert key != advisory_lock_key("payment:100001")
    assert -(2**63) <= key < 2**63


async def test_lock_serialises_critical_sections(entity_facade: EntityFacade) -> None:
    inside = 0
    most_inside = 0
    order: list[int] = []

    async def worker(number: int) -> None:
        nonlocal inside, most_inside
        async with entity_facade.transaction() as connection, advisory_lock(connection, "payment:100000"):
            inside += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0.02)
            order.append(number)
            inside -= 1

    await asyncio.gather(*(worker(n) for n in range(5)))
    assert most_inside == 1
    assert sorted(order) == list(range(5))


async def test_try_lock_reports_a_held_lock_until_commit(entity_facade: EntityFacade) -> None:
    async with entity_facade.transaction() as holder:
        assert await try_advisory_lock(holder, "order:1")
        async with entity_facade.transaction() as other:
            assert not await try_advisory_lock(other, "order:1")
            assert await try_advisory_lock(other, "order:2")
    async with entity_facade.transaction() as later:
        assert await try_advisory_lock(later, "order:1")


async def test_locks_need_a_transaction(entity_facade: EntityFacade) -> None:
    async with entity_facade.pool.acquire() as connection:
        with pytest.raises(EntityError, match="transaction"):
            async with advisory_lock(connection, "payment:1"):
                pass
        with pytest.raises(EntityError, match="transaction"):
            await try_advisory_lock(connection, "payment:1")


async def test_session_lock_spans_transactions_and_is_released_after(entity_facade: EntityFacade) -> None:
    async with entity_facade.connection() as holder, session_advisory_lock(holder, "payment:7"):
        async with entity_facade.transaction(holder):
            pass  # a commit on the holder's connection does not release a session lock
        async with entity_facade.transaction() as other:
            assert not await try_advisory_lock(other, "payment:7")
    async with entity_facade.transaction() as later:
        assert await try_advisory_lock(later, "payment:7")


async def test_session_lock_is_released_when_the_body_fails(entity_facade: EntityFacade) -> None:
    with pytest.raises(RuntimeError):
        async with entity_facade.connection() as holder, session_advisory_lock(holder, "payment:8"):
            raise RuntimeError("the operation failed")
    async with entity_facade.transaction() as later:
        assert await try_advisory_lock(later, "payment:8")


async def test_session_lock_is_refused_inside_a_transaction(entity_facade: EntityFacade) -> None:
    async with entity_facade.transaction() as connection:
        with pytest.raises(EntityError, match="outside a transaction"):
            async with session_advisory_lock(connection, "payment:9"):
                pass
