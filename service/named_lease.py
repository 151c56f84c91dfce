"""Named leases: work on one named thing (a webhook event, the payment a recovery page records, a customer's
renewals) runs one holder at a time, in any number of processes and hosts, without holding a database connection
while the holder waits for Stripe or Moqui.

A row of stripe.StripeNamedLease keyed by the lease's name (`<kind>:<id>...`, e.g.
`webhook-event:<paymentGatewayConfigId>:<eventId>`), taken and given back as every row lease is
(service/row_lease.py: one statement each, an expiry at the holder's deadline plus a margin, the holder's process
liveness key). The work under it is cut off at the holder's deadline (`NamedLeaseOverran`), so the lease's expiry
never lets a second holder in beside a live, slow one; a request that finds the name leased polls within its own
deadline, then gives up with `NamedLeaseBusy`. Each database step under the lease takes a pooled connection for
itself alone, so the holders need no admission (moqui_bridge/entity/facade.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from moqui_bridge.entity import EntityFacade
from service.row_lease import RowLease
from service.stripe_gateway.deadline import Deadline

__all__ = ["NAMED_LEASE", "NamedLease", "NamedLeaseBusy", "NamedLeaseError", "NamedLeaseOverran", "named_lease"]

NAMED_LEASE: Final = "stripe.StripeNamedLease"


class NamedLeaseError(Exception):
    """The named work could not be done now; the same request can be made again."""


class NamedLeaseBusy(NamedLeaseError):
    """Another request held the lease until this request's deadline."""


class NamedLeaseOverran(NamedLeaseError):
    """The work under the lease reached the request's deadline and was stopped."""


@dataclass
class NamedLease(RowLease):
    """One request's lease of a name."""

    LEASE_ENTITY = NAMED_LEASE

    @classmethod
    def of(cls, entity: EntityFacade, name: str, holder_key: int) -> NamedLease:
        """A lease of `name` not yet taken, with a token of its own."""
        return cls(entity, {"leaseName": name}, holder_key)

    @property
    def name(self) -> str:
        """What is leased."""
        return self.key["leaseName"]

    def busy(self, what: str) -> NamedLeaseBusy:
        """`name` stayed leased by another request until `what`'s deadline."""
        return NamedLeaseBusy(f"{what}: {self.name} is still being worked on by another request")

    def overran(self, what: str) -> NamedLeaseOverran:
        """The work under the lease reached `what`'s deadline and was stopped."""
        return NamedLeaseOverran(f"{what}: the work on {self.name} reached its deadline")


@asynccontextmanager
async def named_lease(
    entity: EntityFacade, name: str, deadline: Deadline, *, holder_key: int, what: str
) -> AsyncIterator[None]:
    """Hold the lease of `name` for the body, which must end by `deadline` (else `NamedLeaseOverran`, the lease given
    back); `NamedLeaseBusy` when another request held it until then. `what` names the request in errors;
    `holder_key` is this process's liveness key (0: none, then only the lease's expiry frees it)."""
    async with NamedLease.of(entity, name, holder_key).held_to_deadline(deadline, what):
        yield
