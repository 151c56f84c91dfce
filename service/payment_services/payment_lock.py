"""The per-payment lock: operations on one Payment run one after another, across processes.

A PostgreSQL advisory lock, never a row lock: Moqui's calling transaction may hold a row lock on the Payment while
it waits for our answer. The lock is session-level, held by the operation's own pooled connection for the whole
operation, and the operation runs its reads, its journal commit and its final write transaction on that same
connection: one connection and one pool checkout per operation. It is unlocked when the operation ends; if that
cannot run, the pool's reset (`pg_advisory_unlock_all()`) or the closing of the connection releases it, and if the
process dies, PostgreSQL drops the connection and with it the lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from moqui_bridge.entity import EntityFacade, session_advisory_lock
from moqui_bridge.entity.connection import Connection

__all__ = ["payment_lock"]


# Connections one locked operation may hold at once: the lock's, a write transaction's (callers that do not write
# on the lock's connection, such as the webhooks) and a sequence bank refill's; one more for margin.
_CONNECTIONS_PER_OPERATION = 4


@asynccontextmanager
async def payment_lock(entity: EntityFacade, payment_id: str) -> AsyncIterator[Connection]:
    """Hold the lock on `payment:<paymentId>` for the body of the `async with`; yields the lock's connection.

    The connection is outside any transaction: statements on it commit one by one, and `entity.transaction(
    connection)` opens a transaction on it. Admission first: under load, operations wait for a slot rather than all
    taking a lock connection and then starving each other of the connections they need next.
    """
    async with (
        entity.admission("payment-operation", _CONNECTIONS_PER_OPERATION),
        entity.connection() as connection,
        session_advisory_lock(connection, f"payment:{payment_id}"),
    ):
        yield connection
