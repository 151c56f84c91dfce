"""The per-payment lease: gateway operations on one (client, payment) run one after another, in any number of
processes and hosts, without holding a database connection while Stripe is called.

A row of stripe.StripePaymentLease, taken and given back as every row lease is (service/row_lease.py: one statement
each, an expiry at the holder's deadline plus a margin, the holder's liveness key). A gateway operation takes it in
the same round trip as it journals its attempt, and gives it back in the same round trip as it records Stripe's
answer (journal_functions.py); the reconciler takes it alone (`payment_lease`). The holder stops waiting for Stripe
at its deadline, so the lease's expiry never cuts a live holder short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.service import ServiceError
from service.row_lease import RowLease
from service.stripe_gateway.deadline import Deadline

__all__ = ["PAYMENT_LEASE", "LeaseBusy", "PaymentLease", "payment_lease"]

PAYMENT_LEASE: Final = "stripe.StripePaymentLease"


class LeaseBusy(ServiceError):
    """Another request held the payment's lease until this request's deadline (HTTP 409)."""


@dataclass
class PaymentLease(RowLease):
    """One request's lease of (client, payment)."""

    LEASE_ENTITY = PAYMENT_LEASE

    @classmethod
    def of(cls, entity: EntityFacade, client_name: str, payment_id: str, holder_key: int) -> PaymentLease:
        """A lease not yet taken, with a token of its own."""
        return cls(entity, {"clientName": client_name, "paymentId": payment_id}, holder_key)

    @property
    def client_name(self) -> str:
        """The gateway API client whose payment it is."""
        return self.key["clientName"]

    @property
    def payment_id(self) -> str:
        """The leased payment."""
        return self.key["paymentId"]

    def busy(self, what: str) -> LeaseBusy:
        """A 409 naming the request that waited: the caller retries it unchanged."""
        return LeaseBusy(
            f"{what} is still being worked on by another request of payment {self.payment_id}; retry it unchanged",
            http_status=409,
        )


@asynccontextmanager
async def payment_lease(
    entity: EntityFacade, client_name: str, payment_id: str, deadline: Deadline, *, holder_key: int, what: str
) -> AsyncIterator[None]:
    """Hold the lease of (client, payment) for the body; `what` names the waiting request in the 409 message.

    `holder_key`: this process's liveness key (0 when it has none: then only the lease's expiry frees it).
    """
    async with PaymentLease.of(entity, client_name, payment_id, holder_key).held(deadline, what):
        yield
