"""Type aliases for the asyncpg objects the entity engine works with, taking a pooled connection with a timeout, and
the connection class whose release costs no round trip unless the session kept state.

asyncpg resets every connection given back to its pool with one statement (`pg_advisory_unlock_all(); CLOSE ALL;
UNLISTEN *; RESET ALL`): a round trip per checkout, as many as the work itself. Our connections keep session state
in one way only, session advisory locks (locks.session_advisory_lock, liveness.py, the Idempotency-Key owners), and
each such holder says so (`note_session_state`): only those connections are reset that way when released. The
rest are given back as they are (an open transaction is still rolled back, without a statement when none is open).
No code here uses SET, LISTEN, cursors held across transactions or temporary tables; anything that starts to must
call `note_session_state` too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias

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


class SessionAwareConnection(asyncpg.Connection):
    """A connection whose pool reset runs asyncpg's reset statement only after session state was noted on it."""

    __slots__ = ("_session_state",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_state = False

    def note_session_state(self) -> None:
        """Session state (an advisory lock) may outlive the work: reset this connection fully when it is released."""
        self._session_state = True

    def get_reset_query(self) -> str:
        """asyncpg's reset statement when session state was noted since the last release, else none."""
        if not self._session_state:
            return ""
        self._session_state = False
        query: str = super().get_reset_query()
        return query


def note_session_state(connection: Connection) -> None:
    """Tell `connection`'s pool to reset its session when it is released (a no-op for other connection classes,
    whose pools reset every connection anyway)."""
    note = getattr(connection, "note_session_state", None)
    if note is not None:
        note()
