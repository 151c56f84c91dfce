"""The per-payment lease: gateway operations on one (client, payment) run one after another, in any number of
processes and hosts, without holding a database connection while Stripe is called.

A lease is a row of stripe.StripePaymentLease taken with one statement (an insert, or an update of an expired
row) and given back with another; in between, the holder calls Stripe with no connection checked out. The row
expires with the holder's deadline (plus `LEASE_MARGIN_SECONDS`): the holder stops waiting for Stripe at its deadline,
so a lease outliving it belongs to a holder that died, and the next request takes it over. A holder that died
before that (SIGKILL, a crash) is seen at once: the row names its process's liveness key
(moqui_bridge/entity/liveness.py), and a key whose lock nobody holds belongs to a process that is gone. Times are
the database's clock, so hosts with skewed clocks agree. Waiting for a lease is polled, with back-off, within the
waiter's deadline.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.liveness import holder_is_gone_sql
from moqui_bridge.service import ServiceError
from service.stripe_gateway.deadline import Deadline

__all__ = ["LEASE_MARGIN_SECONDS", "PAYMENT_LEASE", "LeaseBusy", "payment_lease"]

PAYMENT_LEASE: Final = "stripe.StripePaymentLease"
# Past its holder's deadline a lease is kept this much longer: the holder records Stripe's answer after the call.
LEASE_MARGIN_SECONDS: Final = 5.0
_FIRST_POLL_SECONDS: Final = 0.005
_LONGEST_POLL_SECONDS: Final = 0.1


class LeaseBusy(ServiceError):
    """Another request held the payment's lease until this request's deadline (HTTP 409)."""


@asynccontextmanager
async def payment_lease(
    entity: EntityFacade, client_name: str, payment_id: str, deadline: Deadline, *, holder_key: int, what: str
) -> AsyncIterator[None]:
    """Hold the lease of (client, payment) for the body; `what` names the waiting request in the 409 message.

    `holder_key`: this process's liveness key (0 when it has none: then only the lease's expiry frees it).
    """
    table = entity.definition(PAYMENT_LEASE).table_name
    token = secrets.token_hex(8)
    take = (
        f"INSERT INTO {table} AS lease (CLIENT_NAME, PAYMENT_ID, LEASE_TOKEN, LEASE_EXPIRES, HOLDER_KEY, "
        "LAST_UPDATED_STAMP) VALUES ($1, $2, $3, (now() AT TIME ZONE 'UTC') + make_interval(secs => $4), $5, "
        "now() AT TIME ZONE 'UTC') "
        "ON CONFLICT (CLIENT_NAME, PAYMENT_ID) DO UPDATE SET LEASE_TOKEN = EXCLUDED.LEASE_TOKEN, "
        "LEASE_EXPIRES = EXCLUDED.LEASE_EXPIRES, HOLDER_KEY = EXCLUDED.HOLDER_KEY, "
        "LAST_UPDATED_STAMP = EXCLUDED.LAST_UPDATED_STAMP "
        f"WHERE lease.LEASE_EXPIRES < (now() AT TIME ZONE 'UTC') OR {holder_is_gone_sql('lease.HOLDER_KEY')} "
        "RETURNING LEASE_TOKEN"
    )
    poll = _FIRST_POLL_SECONDS
    while True:
        async with entity.connection() as connection:
            taken = await connection.fetchval(
                take, client_name, payment_id, token, deadline.remaining() + LEASE_MARGIN_SECONDS, holder_key
            )
        if taken == token:
            break
        if deadline.remaining() <= poll:
            raise LeaseBusy(
                f"{what} is still being worked on by another request of payment {payment_id}; retry it unchanged",
                http_status=409,
            )
        await asyncio.sleep(poll)
        poll = min(poll * 2, _LONGEST_POLL_SECONDS)
    try:
        yield
    finally:
        # Given back even when the body was cancelled: shielded, so a cancelled request does not leave the
        # payment blocked until the lease expires.
        await asyncio.shield(_give_back(entity, table, client_name, payment_id, token))


async def _give_back(entity: EntityFacade, table: str, client_name: str, payment_id: str, token: str) -> None:
    async with entity.connection() as connection:
        await connection.execute(
            f"DELETE FROM {table} WHERE CLIENT_NAME = $1 AND PAYMENT_ID = $2 AND LEASE_TOKEN = $3",
            client_name,
            payment_id,
            token,
        )
