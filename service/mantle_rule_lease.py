"""The lease of a standalone Mantle rule call's record: rule calls on one Payment (or order) run one at a time, in
any number of processes and hosts, without holding a database connection while the gateway they call waits for
Stripe.

A row of stripe.StripeRuleLease, taken and given back as every row lease is (service/row_lease.py: one statement
each, an expiry at the holder's deadline plus a margin, the holder's process liveness key). The rule's work is cut
at its deadline (`RuleOverran`), so the lease's expiry never lets a second rule call in beside a live, slow one. A
call that finds the record leased polls within its deadline, then gives up with `RuleBusy` (409: retry it
unchanged). The ServiceContext hands it to the rules as `rule_lease` (moqui_bridge/mantle/context.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.service import ServiceError
from service.row_lease import RowLease, cut_at_deadline
from service.stripe_gateway.deadline import Deadline

__all__ = ["RULE_LEASE", "RuleBusy", "RuleLease", "RuleOverran", "rule_lease"]

RULE_LEASE: Final = "stripe.StripeRuleLease"


class RuleBusy(ServiceError):
    """Another rule call held the record's lease until this call's deadline (HTTP 409)."""


class RuleOverran(ServiceError):
    """The rule call reached its deadline and was stopped; what it had committed stands (HTTP 503)."""


@dataclass
class RuleLease(RowLease):
    """One rule call's lease of a record."""

    LEASE_ENTITY = RULE_LEASE

    @classmethod
    def of(cls, entity: EntityFacade, kind: str, record_id: str, holder_key: int) -> RuleLease:
        """A lease not yet taken, with a token of its own."""
        return cls(entity, {"recordKind": kind, "recordId": record_id}, holder_key)

    def busy(self, what: str) -> RuleBusy:
        """A 409 naming the rule call that waited: the caller retries it unchanged."""
        return RuleBusy(f"{what} is still being worked on by another call; retry it unchanged", http_status=409)


@asynccontextmanager
async def rule_lease(
    entity: EntityFacade, kind: str, record_id: str, deadline: Deadline, *, holder_key: int
) -> AsyncIterator[None]:
    """Hold the lease of the record (`kind` "payment" or "order") for the body, which must end by `deadline` (else
    `RuleOverran`, the lease given back); `RuleBusy` when another call held it until then. `holder_key` is this
    process's liveness key (0: none, then only the lease's expiry frees it)."""
    what = f"A Mantle rule call on {kind} {record_id}"
    async with (
        RuleLease.of(entity, kind, record_id, holder_key).held(deadline, what),
        cut_at_deadline(deadline, lambda: RuleOverran(f"{what} reached its deadline; retry it", http_status=503)),
    ):
        yield
