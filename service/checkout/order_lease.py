"""The order's checkout lease: the checkout page's requests, its saved-card actions and the webhooks that record a
Moqui checkout work on one order one at a time, across requests, processes and hosts, without holding a database
connection while they wait for Stripe or Moqui.

A row of stripe.StripeOrderLease, taken and given back as every row lease is (service/row_lease.py: one statement
each, an expiry at the holder's deadline plus a margin, the holder's process liveness key). The holder's work is cut
at its deadline (`CheckoutOverran`), so the lease's expiry never lets a second holder in beside a live, slow one. A
request that finds the order leased polls within its own deadline, then gives up with `CheckoutBusy`: the page
answers "try again in a moment", a webhook asks Stripe to retry.

Under the lease each database step takes a pooled connection for itself alone and gives it back; none waits for a
second connection while it holds one, so the checkout needs no admission (moqui_bridge/entity/facade.py): it cannot
starve the pool. The Mantle rule calls it makes (add#OrderPartPayment, authorize#SinglePayment) and the gateway
operations they make are admitted under their own kinds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from moqui_bridge.entity import EntityFacade
from service.row_lease import RowLease, cut_at_deadline
from service.stripe_gateway.deadline import Deadline

__all__ = ["ORDER_LEASE", "CheckoutBusy", "CheckoutLeaseError", "CheckoutOverran", "OrderLease", "order_lease"]

ORDER_LEASE: Final = "stripe.StripeOrderLease"


class CheckoutLeaseError(Exception):
    """The checkout of an order could not be worked on now; the same request can be made again (what a request cut
    off at its deadline had done is found and reused, checkout_payment.py)."""


class CheckoutBusy(CheckoutLeaseError):
    """Another request held the order's lease until this request's deadline."""


class CheckoutOverran(CheckoutLeaseError):
    """The work under the order's lease reached the request's deadline and was stopped."""


@dataclass
class OrderLease(RowLease):
    """One request's lease of an order's checkout."""

    LEASE_ENTITY = ORDER_LEASE

    @classmethod
    def of(cls, entity: EntityFacade, order_id: str, holder_key: int) -> OrderLease:
        """A lease not yet taken, with a token of its own."""
        return cls(entity, {"orderId": order_id}, holder_key)

    def busy(self, what: str) -> CheckoutBusy:
        """The order stayed leased by another request until `what`'s deadline."""
        order_id = self.key["orderId"]
        return CheckoutBusy(f"{what}: the checkout of order {order_id} is still being worked on by another request")


@asynccontextmanager
async def order_lease(
    entity: EntityFacade, order_id: str, deadline: Deadline, *, holder_key: int, what: str
) -> AsyncIterator[None]:
    """Hold the order's checkout lease for the body, which must end by `deadline` (else `CheckoutOverran`, the
    lease given back); `CheckoutBusy` when another request held it until then. `what` names the request in errors;
    `holder_key` is this process's liveness key (0: none, then only the lease's expiry frees it)."""
    async with (
        OrderLease.of(entity, order_id, holder_key).held(deadline, what),
        cut_at_deadline(
            deadline, lambda: CheckoutOverran(f"{what}: the checkout of order {order_id} reached its deadline")
        ),
    ):
        yield
