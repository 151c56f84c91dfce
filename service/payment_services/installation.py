"""This service database's installation id: random, made once, part of every Stripe idempotency key.

A restore for disaster recovery keeps it (the restored journal's in-doubt attempts are still this installation's, and
their keys must stay the same); a copy restored for staging is re-keyed (`moqui-stripe rekey`, `rekey_installation`),
so it can never send production's keys, or find production's objects as its own, on the same Stripe account."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Final

from moqui_bridge.entity import EntityFacade

__all__ = ["INSTALLATION", "ensure_installation_id", "rekey_installation"]

INSTALLATION: Final = "stripe.StripeInstallation"
_THE_INSTALLATION: Final = "this"


def _new_installation_id() -> str:
    # 128 bits, hex: no '/', so it is one key part.
    return secrets.token_hex(16)


async def ensure_installation_id(entity: EntityFacade) -> str:
    """The database's installation id, made at the first call (concurrent first calls agree on one)."""
    table = entity.definition(INSTALLATION).table_name
    async with entity.connection() as connection:
        # One statement: of several processes starting at once, the first insert wins and all read the same row.
        await connection.execute(
            f"INSERT INTO {table} (INSTALLATION_KEY, INSTALLATION_ID, CREATED_DATE, LAST_UPDATED_STAMP) "
            "VALUES ($1, $2, $3, $3) ON CONFLICT (INSTALLATION_KEY) DO NOTHING",
            _THE_INSTALLATION,
            _new_installation_id(),
            datetime.now(UTC).replace(tzinfo=None),
        )
        installation_id = await connection.fetchval(
            f"SELECT INSTALLATION_ID FROM {table} WHERE INSTALLATION_KEY = $1", _THE_INSTALLATION
        )
    return str(installation_id)


async def rekey_installation(entity: EntityFacade) -> tuple[str, str]:
    """Give this database a new installation id (a staging copy of production's); (the old id, the new id)."""
    old = await ensure_installation_id(entity)
    new = _new_installation_id()
    await entity.update(
        INSTALLATION,
        {"installationKey": _THE_INSTALLATION},
        {"installationId": new},
    )
    return old, new
