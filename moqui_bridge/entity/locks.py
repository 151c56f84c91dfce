"""PostgreSQL advisory locks keyed by strings.

Work on one Moqui row (a payment, an order) is serialised with advisory locks, never with ``SELECT ... FOR UPDATE``:
Moqui may hold a row lock on that very row while it waits for our HTTP answer, and a row lock here would deadlock
against it. Transaction-scoped locks (``advisory_lock``) end with their transaction; a session lock
(``session_advisory_lock``) is held by one connection across the several transactions of a unit of work.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import asyncpg

from moqui_bridge.entity.connection import Connection, note_session_state
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


@asynccontextmanager
async def session_advisory_lock(connection: Connection, key: str) -> AsyncIterator[None]:
    """Wait for the session-level advisory lock on ``key`` and hold it for the body of the ``async with``.

    The body may commit any number of transactions on ``connection`` while it holds the lock. Unlocked on the way
    out; if the unlock cannot run (the task was cancelled mid-statement, the connection broke), the lock still
    goes with the connection: its release resets it with ``pg_advisory_unlock_all()`` (noted as holding session
    state, connection.py) or closes it, and a dead process's connection takes its locks with it.
    """
    if connection.is_in_transaction():
        # Taken inside a transaction, a failed statement after it would leave the unlock unable to run.
        raise EntityError("session advisory locks are taken outside a transaction")
    lock_key = advisory_lock_key(key)
    note_session_state(connection)
    await connection.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        yield
    finally:
        if not connection.is_in_transaction():
            # A broken connection is not the body's failure; the pool's reset or close releases the lock.
            with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await connection.execute("SELECT pg_advisory_unlock($1)", lock_key)
