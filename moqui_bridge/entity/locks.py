"""PostgreSQL advisory locks keyed by strings.

Work on one Moqui row (a payment, an order) is serialised with transaction-scoped advisory locks, never with
``SELECT ... FOR UPDATE``: Moqui may hold a row lock on that very row while it waits for our HTTP answer, and a
row lock here would deadlock against it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from moqui_bridge.entity.connection import Connection
from moqui_bridge.entity.errors import EntityError

# A fixed namespace so our keys do not land on the numbers another application hashes its own keys to.
_NAMESPACE = b"moqui-stripe/advisory-lock/"


def advisory_lock_key(key: str) -> int:
    """A stable signed 64-bit number for ``key`` (the same in every process and Python run)."""
    digest = hashlib.blake2b(_NAMESPACE + key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _require_transaction(connection: Connection) -> None:
    if not connection.is_in_transaction():
        # An xact lock outside a transaction would be released as soon as the statement ends.
        raise EntityError("advisory locks are transaction-scoped: call them inside entity.transaction()")


@asynccontextmanager
async def advisory_lock(connection: Connection, key: str) -> AsyncIterator[None]:
    """Wait for the advisory lock on ``key`` and hold it until the surrounding transaction ends.

    The lock cannot be released early: leaving the ``async with`` block does not unlock it, commit or
    rollback of the transaction does.
    """
    _require_transaction(connection)
    await connection.execute("SELECT pg_advisory_xact_lock($1)", advisory_lock_key(key))
    yield


async def try_advisory_lock(connection: Connection, key: str) -> bool:
    """Take the advisory lock on ``key`` if it is free (held until the transaction ends); False if it is taken."""
    _require_transaction(connection)
    acquired = await connection.fetchval("SELECT pg_try_advisory_xact_lock($1)", advisory_lock_key(key))
    return bool(acquired)
