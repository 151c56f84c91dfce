"""What a running service holds of its database right now, for tests that show no connection is held while Stripe
or Moqui is waited for: its busy backends (PostgreSQL's view) and its pool's checked-out connections (ours)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from moqui_bridge.entity.connection import Pool

__all__ = ["HeldConnections", "busy_connections", "checked_out", "sample_held_connections"]


async def busy_connections(watcher: asyncpg.Connection, database: str) -> int:
    """The service's backends on its database doing something now: running a statement or inside a transaction."""
    count = await watcher.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'moqui-stripe' "
        "AND state <> 'idle'",
        database,
    )
    return int(count)


def checked_out(pool: Pool) -> int:
    """Pooled connections checked out, less the one the process's liveness lock keeps for good (liveness.py)."""
    return pool.get_size() - pool.get_idle_size() - 1


@dataclass(frozen=True)
class HeldConnections:
    """Samples taken 0.1 s apart: busy backends, checked-out connections, and rows of each lease table named."""

    busy: list[int]
    checked_out: list[int]
    leased: dict[str, list[int]]


async def sample_held_connections(
    dsn: str, pool: Pool, lease_tables: tuple[str, ...] = (), samples: int = 4
) -> HeldConnections:
    """Watch the service's database from a connection of the test's own (another application name)."""
    watcher = await asyncpg.connect(dsn, server_settings={"application_name": "lease-test"})
    try:
        database = str(await watcher.fetchval("SELECT current_database()"))
        busy, held = [], []
        leased: dict[str, list[int]] = {table: [] for table in lease_tables}
        for _ in range(samples):
            busy.append(await busy_connections(watcher, database))
            held.append(checked_out(pool))
            for table in lease_tables:
                leased[table].append(int(await watcher.fetchval(f"SELECT count(*) FROM {table}")))
            await asyncio.sleep(0.1)
    finally:
        await watcher.close()
    return HeldConnections(busy, held, leased)
