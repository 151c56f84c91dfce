"""The reconciler: settles the journal's in-doubt attempts without waiting for their caller to retry.

One pass (`reconcile_in_doubt`) takes the unresolved rows older than `reconciler.min_age_seconds` (younger ones may
be in a request right now), oldest first, and settles each under its payment's lease, as a retry of the caller
would (attempt.settle_attempt): replayed with its key within the safe age, read from Stripe past it, never sent
again once Stripe may have forgotten the key. It runs as the background job `reconcile-in-doubt` on the one leading
instance (service/maintenance) and as `moqui-stripe reconcile` (one pass, a report).

Outcomes are passed on in two ways. The row is completed with the answer, which the caller's next request of that
attempt gets (`replayed: "Y"`). And when `recipients` names a Mantle side for the row's client (the configured
Moqui's client, the standalone rules), a settled authorize, authorizeAndCapture, capture or release asks that side
to refresh the Payment's status from the gateway (status_refresh.py: owed before the row is settled, sent after,
retried while the side cannot be reached). Refunds are not pushed, and no PGR of the operation is written on the
caller's behalf: Mantle's rule that retries the attempt records it with everything else it does (a refund's Payment,
the status), and a PGR of the operation would make that retry count one more attempt and act again.
Checkout rows are left to the shopper's page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from moqui_bridge.service import ServiceError
from service import metrics
from service.context import ServiceContext
from service.payment_services.attempt import settle_attempt
from service.payment_services.gateway_call import GatewayCall
from service.payment_services.journal import GATEWAY_OPERATION, UNRESOLVED, Attempt, find_attempt
from service.payment_services.lost_writes import READABLE_WRITES
from service.payment_services.payment_lease import payment_lease
from service.payment_services.status_refresh import StatusRecipients, owe_refresh, send_owed_refreshes, wants_refresh
from service.stripe_gateway.deadline import Deadline

__all__ = ["ReconcileReport", "reconcile_in_doubt"]

log = logging.getLogger(__name__)

# Rows settled per pass: each is one Stripe call or two under its own lease; the next pass takes the rest.
BATCH_SIZE: Final = 100


@dataclass
class ReconcileReport:
    """What one pass did: rows examined, and how each ended."""

    examined: int = 0
    done: int = 0  # Stripe made the write: its answer is recorded (a success or a decline)
    not_done: int = 0  # Stripe shows it never happened: the identity is free for a new attempt
    unknown: int = 0  # still in doubt (Stripe unreachable, the payment busy, its gateway not configured)
    refreshed: int = 0  # Payments whose Mantle side was told to refresh their status
    refreshes_owed: int = 0  # status refreshes left to send (the attempt unsettled, or the side unreachable)

    def summary(self) -> str:
        """One line for logs and the command."""
        return (
            f"in-doubt attempts examined: {self.examined}, resolved as done: {self.done}, "
            f"resolved as not done: {self.not_done}, still unknown: {self.unknown}, "
            f"payment statuses refreshed: {self.refreshed}, refreshes owed: {self.refreshes_owed}"
        )


async def reconcile_in_doubt(context: ServiceContext, recipients: StatusRecipients | None = None) -> ReconcileReport:
    """One pass over the in-doubt attempts, then the status refreshes owed to `recipients` (the Mantle side of each
    client that has one here; see the module docstring); the report of what it did."""
    settings = context.settings.reconciler
    old_enough = context.clock.now() - timedelta(seconds=settings.min_age_seconds)
    rows = await context.entity.find(
        GATEWAY_OPERATION,
        {"operationStatusId": list(UNRESOLVED), "stripeCall": sorted(READABLE_WRITES)},
        order_by=["startedDate"],
        limit=BATCH_SIZE,
    )
    report = ReconcileReport()
    for row in rows:
        if row["startedDate"] > old_enough:
            break  # oldest first: the rest are younger still
        report.examined += 1
        journaled = Attempt(row, context.installation_id)
        if recipients and wants_refresh(journaled, recipients):
            await owe_refresh(context.entity, journaled, context.clock.now())
        outcome = await _settle_row(context, journaled)
        setattr(report, outcome, getattr(report, outcome) + 1)
        metrics.count_reconciled(outcome)
    if recipients:
        refreshes = await send_owed_refreshes(context.entity, recipients, context.clock)
        report.refreshed, report.refreshes_owed = refreshes.sent, refreshes.owed
    if report.examined or report.refreshed or report.refreshes_owed:
        log.info("reconciler: %s", report.summary())
    return report


async def _settle_row(context: ServiceContext, journaled: Attempt) -> str:
    """Settle one row: "done", "not_done" or "unknown"."""
    identity = journaled.request.identity
    if identity.payment_gateway_config_id not in context.gateways:
        log.warning(
            "reconciler: %s is under gateway %s, not configured here",
            identity.describe(),
            identity.payment_gateway_config_id,
        )
        return "unknown"
    call = GatewayCall(
        entity=context.entity,
        gateway=context.gateways.get(identity.payment_gateway_config_id),
        installation_id=context.installation_id,
        client_name=identity.client_name,
        payment_id=identity.payment_id,
        deadline=Deadline.after(context.settings.server.request_deadline_seconds),
        clock=context.clock,
        safe_age=timedelta(hours=context.settings.reconciler.safe_age_hours),
        liveness_key=context.liveness_key,
    )
    try:
        async with payment_lease(
            call.entity,
            identity.client_name,
            identity.payment_id,
            call.deadline,
            holder_key=call.liveness_key,
            what=identity.describe(),
        ):
            # Read again under the lease: the caller's own retry may have settled it meanwhile.
            attempt = await find_attempt(call.entity, identity, call.installation_id)
            if attempt is None or attempt.operation_id != journaled.operation_id:
                return "not_done"
            if attempt.status not in UNRESOLVED:
                return "done"
            answer = await settle_attempt(call, attempt)
    except ServiceError as error:
        # Stripe refused the write as such (the row is gone: nothing happened), or the payment stayed busy.
        gone = await find_attempt(call.entity, identity, call.installation_id) is None
        log.info("reconciler: %s: %s", identity.describe(), error)
        return "not_done" if gone else "unknown"
    if answer is None:
        log.info("reconciler: %s never reached Stripe; its identity is free again", identity.describe())
        return "not_done"
    if answer["paymentGatewayResponse"].get("resultError") == "Y":
        return "unknown"
    log.info("reconciler: %s was done at Stripe; its answer is recorded", identity.describe())
    return "done"
