"""This process's sign of life in PostgreSQL, so another process can tell at once that a holder died.

A row-based lease (a payment's, for example) outlives a process killed with SIGKILL until it expires. To take it
over at once, the lease row names its holder's `ProcessLiveness.key`: while the holder runs it holds a session
advisory lock on (`LIVENESS_NAMESPACE`, key) on one connection of its own; PostgreSQL drops that lock the moment the
process (and so the connection) is gone. `holder_is_gone_sql` is the condition a taking statement adds.

If the liveness connection breaks while the process lives (a database restart), the watchdog takes the lock again;
in between, another process may take over one of our leases early. That is safe for what the leases guard: the
journal keeps Stripe exactly-once, and a replayed attempt sends the same idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any, Final

from asyncpg.pool import PoolConnectionProxy

from moqui_bridge.entity.connection import Pool, note_session_state

__all__ = ["LIVENESS_NAMESPACE", "ProcessLiveness", "holder_is_gone_sql"]

log = logging.getLogger(__name__)

# The first key of the two-int advisory lock form ('MS' 'lv'); pg_locks shows it as classid, the key as objid.
LIVENESS_NAMESPACE: Final = 0x4D536C76
_WATCH_SECONDS: Final = 5.0


def holder_is_gone_sql(holder_key_column: str) -> str:
    """SQL that is true when the process whose key is in `holder_key_column` holds no liveness lock (it died).

    A key of 0 or NULL names no process (the holder had no liveness): false, so only the lease's expiry applies.
    """
    return (
        f"(COALESCE({holder_key_column}, 0) <> 0 AND NOT EXISTS (SELECT 1 FROM pg_locks AS held "
        f"WHERE held.locktype = 'advisory' AND held.classid = {LIVENESS_NAMESPACE}::oid "
        f"AND held.objid = {holder_key_column}::bigint::oid AND held.objsubid = 2 AND held.granted))"
    )


class ProcessLiveness:
    """Holds this process's liveness lock on a pooled connection kept for the process's life."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        # Positive and below 2**31, so pg_locks' unsigned objid shows it unchanged.
        self.key: Final = 1 + secrets.randbelow(2**31 - 1)
        self._connection: PoolConnectionProxy[Any] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the lock (on a connection checked out for good) and start watching that connection."""
        await self._take()
        self._watchdog = asyncio.create_task(self._watch(), name="process-liveness")

    async def stop(self) -> None:
        """Give the lock and its connection back."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        await self._release()

    async def _take(self) -> None:
        connection = await self._pool.acquire()
        note_session_state(connection)
        try:
            await connection.execute("SELECT pg_advisory_lock($1, $2)", LIVENESS_NAMESPACE, self.key)
        except BaseException:
            await self._pool.release(connection)
            raise
        self._connection = connection

    async def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # The pool's reset unlocks it (pg_advisory_unlock_all), or closing a broken connection does.
            with contextlib.suppress(Exception):
                await self._pool.release(connection)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(_WATCH_SECONDS)
            try:
                assert self._connection is not None
                await self._connection.fetchval("SELECT 1")
            except Exception:
                log.warning("the process liveness connection broke; taking the liveness lock again")
                await self._release()
                with contextlib.suppress(Exception):
                    await self._take()
