"""Named leases: work on one named thing (a webhook event, the payment a recovery page records, a customer's
renewals) runs one holder at a time, in any number of processes and hosts, without holding a database connection
while the holder waits for Stripe or Moqui.

A row of stripe.StripeNamedLease keyed by the lease's name (`<kind>:<id>...`, e.g.
`webhook-event:<paymentGatewayConfigId>:<eventId>`), taken and given back as every row lease is
(service/row_lease.py: one statement each, an expiry at the holder's deadline plus a margin, the holder's process
liveness key). The work under it is cut off at the holder's deadline (`LeaseOverran`), so the lease's expiry never
lets a second holder in beside a live, slow one; a request that finds the name leased polls within its own deadline,
then gives up with `LeaseTaken` (both are `LeaseUnavailable`, service/row_lease.py). Each database step under the
lease takes a pooled connection for itself alone, so the holders need no admission (moqui_bridge/entity/facade.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from moqui_bridge.entity import EntityFacade
from service.row_lease import RowLease
from service.stripe_gateway.deadline import Deadline

__all__ = ["NAMED_LEASE", "NamedLease", "named_lease"]

NAMED_LEASE: Final = "stripe.StripeNamedLease"


@dataclass
class NamedLease(RowLease):
    """One request's lease of a name (its `busy` and `overran` errors are RowLease's: LeaseTaken, LeaseOverran)."""

    LEASE_ENTITY = NAMED_LEASE

    @classmethod
    def of(cls, entity: EntityFacade, name: str, holder_key: int) -> NamedLease:
        """A lease of `name` not yet taken, with a token of its own."""
        return cls(entity, {"leaseName": name}, holder_key)


@asynccontextmanager
async def named_lease(
    entity: EntityFacade, name: str, deadline: Deadline, *, holder_key: int, what: str
) -> AsyncIterator[None]:
    """Hold the lease of `name` for the body, which must end by `deadline` (else `LeaseOverran`, the lease given
    back); `LeaseTaken` when another request held it until then. `what` names the request in errors;
    `holder_key` is this process's liveness key (0: none, then only the lease's expiry frees it)."""
    async with NamedLease.of(entity, name, holder_key).held_to_deadline(deadline, what):
        yield
