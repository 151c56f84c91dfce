"""This service database's installation id: random, made once, part of every Stripe idempotency key."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Final

from moqui_bridge.entity import EntityFacade

__all__ = ["INSTALLATION", "ensure_installation_id"]

INSTALLATION: Final = "stripe.StripeInstallation"
_THE_INSTALLATION: Final = "this"


async def ensure_installation_id(entity: EntityFacade) -> str:
    """The database's installation id, made at the first call (concurrent first calls agree on one)."""
    table = entity.definition(INSTALLATION).table_name
    async with entity.connection() as connection:
        # One statement: of several processes starting at once, the first insert wins and all read the same row.
        await connection.execute(
            f"INSERT INTO {table} (INSTALLATION_KEY, INSTALLATION_ID, CREATED_DATE, LAST_UPDATED_STAMP) "
            "VALUES ($1, $2, $3, $3) ON CONFLICT (INSTALLATION_KEY) DO NOTHING",
            _THE_INSTALLATION,
            # 128 bits, base32-free token without '/' so it is one key part.
            secrets.token_hex(16),
            datetime.now(UTC).replace(tzinfo=None),
        )
        installation_id = await connection.fetchval(
            f"SELECT INSTALLATION_ID FROM {table} WHERE INSTALLATION_KEY = $1", _THE_INSTALLATION
        )
    return str(installation_id)
