"""The per-payment lock: operations on one Payment run one after another, across processes.

A PostgreSQL advisory lock, never a row lock: Moqui's calling transaction may hold a row lock on the Payment while
it waits for our answer. The lock is transaction-scoped, so it lives in a transaction of its own on a connection
of its own, held for the whole operation while the operation commits its journal and PGR on other connections.
If the process dies, PostgreSQL drops the connection and with it the lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from moqui_bridge.entity import EntityFacade, advisory_lock

__all__ = ["payment_lock"]


# Connections one locked operation may hold at once: the lock's, its final write transaction's and a sequence
# bank refill's (the journal commits before the Stripe call); one more for margin.
_CONNECTIONS_PER_OPERATION = 4


@asynccontextmanager
async def payment_lock(entity: EntityFacade, payment_id: str) -> AsyncIterator[None]:
    """Hold the lock on `payment:<paymentId>` for the body of the `async with`.

    Admission first: under load, operations wait for a slot rather than all taking a lock connection and then
    starving each other of the connections they need next.
    """
    async with (
        entity.admission("payment-operation", _CONNECTIONS_PER_OPERATION),
        entity.transaction() as connection,
        advisory_lock(connection, f"payment:{payment_id}"),
    ):
        yield
