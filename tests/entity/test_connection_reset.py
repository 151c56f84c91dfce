"""Giving a pooled connection back (moqui_bridge/entity/connection.py): no reset statement for a connection that kept
no session state, asyncpg's full reset for one that took a session advisory lock, so a lock whose unlock never ran
still goes with the release."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity.connection import Pool, note_session_state
from moqui_bridge.entity.locks import advisory_lock_key
from tests.throughput.postgres_wire import WireCounter, counting_proxy


@pytest.fixture
async def counted_pool(entity_database_dsn: str) -> AsyncIterator[tuple[Pool, WireCounter]]:
    """A one-connection pool whose every statement is counted."""
    async with counting_proxy(entity_database_dsn) as wire:
        pool = await create_pool(wire.dsn(entity_database_dsn), min_size=1, max_size=1)
        try:
            yield pool, wire
        finally:
            await pool.close()


async def test_a_connection_without_session_state_goes_back_without_a_statement(
    counted_pool: tuple[Pool, WireCounter],
) -> None:
    pool, wire = counted_pool
    before = wire.snapshot()
    for _ in range(3):
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT 41 + 1") == 42
    sent = wire.snapshot().since(before)
    assert (sent.statement_count, sent.round_trips) == (3, 3), sent.statements


async def test_a_connection_left_holding_a_session_lock_is_reset_on_release(
    counted_pool: tuple[Pool, WireCounter], entity_database_dsn: str
) -> None:
    pool, wire = counted_pool
    key = advisory_lock_key("payment:reset")
    async with pool.acquire() as connection:
        note_session_state(connection)
        assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", key)
        # No unlock: the body was cancelled mid-statement, say.
    assert wire.counts.statements["SELECT pg_advisory_unlock_all()"] == 1
    other = await create_pool(entity_database_dsn, min_size=1, max_size=1)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", key)
    finally:
        await other.close()
    # Only once: the next checkout of the same connection is clean again.
    async with pool.acquire() as connection:
        await connection.fetchval("SELECT 1")
    assert wire.counts.statements["SELECT pg_advisory_unlock_all()"] == 1
