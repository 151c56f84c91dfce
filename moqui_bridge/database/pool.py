"""asyncpg pool creation with one clear error for an unreachable database."""

from __future__ import annotations

from typing import Any

import asyncpg

from moqui_bridge.entity.connection import Pool, SessionAwareConnection
from moqui_bridge.redaction import redact_secrets


class DatabaseUnavailableError(RuntimeError):
    """The database could not be reached or refused the connection."""


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced (URL user info, `password=` parameter or keyword), fit for messages."""
    return redact_secrets(dsn)


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, connect_timeout: float = 10.0, **options: Any
) -> Pool:
    """Create an asyncpg pool for ``dsn``; raise DatabaseUnavailableError if the database cannot be used.

    Its connections are `SessionAwareConnection`s: given back without a reset statement unless they noted session
    state (moqui_bridge/entity/connection.py).
    """
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout,
            server_settings={"application_name": "moqui-stripe"},
            **{"connection_class": SessionAwareConnection, **options},
        )
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise DatabaseUnavailableError(
            f"Cannot connect to the database at {redact_dsn(dsn)}: {type(error).__name__}: {error}"
        ) from error
    return pool
