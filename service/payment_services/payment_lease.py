"""The per-payment lease: gateway operations on one (client, payment) run one after another, in any number of
processes and hosts, without holding a database connection while Stripe is called.

A lease is a row of stripe.StripePaymentLease taken with one statement (an insert, or an update of an expired
row) and given back with another; in between, the holder calls Stripe with no connection checked out. A gateway
operation takes it in the same round trip as it journals its attempt, and gives it back in the same round trip as it
records Stripe's answer (journal_functions.py); the reconciler takes it alone (`payment_lease`). The row expires with
the holder's deadline (plus `LEASE_MARGIN_SECONDS`): the holder stops waiting for Stripe at its deadline, so a lease
outliving it belongs to a holder that died, and the next request takes it over. A holder that died before that
(SIGKILL, a crash) is seen at once: the row names its process's liveness key (moqui_bridge/entity/liveness.py), and a
key whose lock nobody holds belongs to a process that is gone. Times are the database's clock, so hosts with skewed
clocks agree. A request that finds the lease taken polls, with back-off, within its deadline; an uncontended request
takes it at the first try.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.liveness import holder_is_gone_sql
from moqui_bridge.service import ServiceError
from service.stripe_gateway.deadline import Deadline

__all__ = ["LEASE_MARGIN_SECONDS", "PAYMENT_LEASE", "LeaseBusy", "PaymentLease", "payment_lease"]

PAYMENT_LEASE: Final = "stripe.StripePaymentLease"
# Past its holder's deadline a lease is kept this much longer: the holder records Stripe's answer after the call.
LEASE_MARGIN_SECONDS: Final = 5.0
_FIRST_POLL_SECONDS: Final = 0.005
_LONGEST_POLL_SECONDS: Final = 0.1


class LeaseBusy(ServiceError):
    """Another request held the payment's lease until this request's deadline (HTTP 409)."""


@dataclass
class PaymentLease:
    """One request's lease of (client, payment): its random token and the holder's liveness key (0 when it has
    none: then only the lease's expiry frees it); given back once."""

    entity: EntityFacade
    client_name: str
    payment_id: str
    holder_key: int
    token: str
    given_back: bool = False

    @classmethod
    def of(cls, entity: EntityFacade, client_name: str, payment_id: str, holder_key: int) -> PaymentLease:
        """A lease not yet taken, with a token of its own."""
        return cls(entity, client_name, payment_id, holder_key, secrets.token_hex(8))

    @staticmethod
    def seconds(deadline: Deadline) -> float:
        """How long a lease taken now lasts: the holder's deadline, plus the margin for recording its answer."""
        return deadline.remaining() + LEASE_MARGIN_SECONDS

    async def take(self, deadline: Deadline) -> bool:
        """One try at the lease; whether it is ours now."""
        table = self.entity.definition(PAYMENT_LEASE).table_name
        statement = (
            f"INSERT INTO {table} AS lease (CLIENT_NAME, PAYMENT_ID, LEASE_TOKEN, LEASE_EXPIRES, HOLDER_KEY, "
            "LAST_UPDATED_STAMP) VALUES ($1, $2, $3, (now() AT TIME ZONE 'UTC') + make_interval(secs => $4), $5, "
            "now() AT TIME ZONE 'UTC') "
            "ON CONFLICT (CLIENT_NAME, PAYMENT_ID) DO UPDATE SET LEASE_TOKEN = EXCLUDED.LEASE_TOKEN, "
            "LEASE_EXPIRES = EXCLUDED.LEASE_EXPIRES, HOLDER_KEY = EXCLUDED.HOLDER_KEY, "
            "LAST_UPDATED_STAMP = EXCLUDED.LAST_UPDATED_STAMP "
            f"WHERE lease.LEASE_EXPIRES < (now() AT TIME ZONE 'UTC') OR {holder_is_gone_sql('lease.HOLDER_KEY')} "
            "RETURNING LEASE_TOKEN"
        )
        async with self.entity.connection() as connection:
            taken = await connection.fetchval(
                statement, self.client_name, self.payment_id, self.token, self.seconds(deadline), self.holder_key
            )
        return bool(taken == self.token)

    async def give_back(self) -> None:
        """Delete the lease row if it is still ours (once)."""
        if self.given_back:
            return
        table = self.entity.definition(PAYMENT_LEASE).table_name
        async with self.entity.connection() as connection:
            await connection.execute(
                f"DELETE FROM {table} WHERE CLIENT_NAME = $1 AND PAYMENT_ID = $2 AND LEASE_TOKEN = $3",
                self.client_name,
                self.payment_id,
                self.token,
            )
        self.given_back = True

    @asynccontextmanager
    async def held(
        self, deadline: Deadline, what: str, take: Callable[[], Awaitable[bool]] | None = None
    ) -> AsyncIterator[None]:
        """Hold the lease for the body: taken by `take` (default: `take(deadline)` alone), tried again with back-off
        until the deadline (then a 409 naming `what`); given back at the end unless the body already gave it back."""
        poll = _FIRST_POLL_SECONDS
        try:
            while not await (take() if take is not None else self.take(deadline)):
                if deadline.remaining() <= poll:
                    raise LeaseBusy(
                        f"{what} is still being worked on by another request of payment {self.payment_id}; retry "
                        "it unchanged",
                        http_status=409,
                    )
                await asyncio.sleep(poll)
                poll = min(poll * 2, _LONGEST_POLL_SECONDS)
        except asyncio.CancelledError:
            # Cancelled while a try was under way: it may have taken the lease.
            await asyncio.shield(self.give_back())
            raise
        try:
            yield
        finally:
            # Shielded, so a cancelled request does not leave the payment blocked until the lease expires.
            await asyncio.shield(self.give_back())


@asynccontextmanager
async def payment_lease(
    entity: EntityFacade, client_name: str, payment_id: str, deadline: Deadline, *, holder_key: int, what: str
) -> AsyncIterator[None]:
    """Hold the lease of (client, payment) for the body; `what` names the waiting request in the 409 message.

    `holder_key`: this process's liveness key (0 when it has none: then only the lease's expiry frees it).
    """
    async with PaymentLease.of(entity, client_name, payment_id, holder_key).held(deadline, what):
        yield
