"""Type aliases for the asyncpg objects the entity engine works with, and taking a pooled connection with a timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from moqui_bridge.entity.errors import PoolExhaustedError

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

# Long enough for any healthy operation to hand its connection back, short enough that an exhausted pool shows up
# as an error in the log instead of requests that hang for ever.
DEFAULT_ACQUIRE_TIMEOUT: Final = 30.0


@asynccontextmanager
async def acquire(pool: Pool, wait_seconds: float) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
    """A pooled connection, released after the body; PoolExhaustedError when none is free within `wait_seconds`.

    Only the wait for the connection is timed: a TimeoutError raised by the body passes through unchanged.
    """
    try:
        connection = await pool.acquire(timeout=wait_seconds)
    except TimeoutError as error:
        raise PoolExhaustedError(
            f"no database connection became free within {wait_seconds:g} s (pool of {pool.get_max_size()})"
        ) from error
    try:
        yield connection
    finally:
        await pool.release(connection)
