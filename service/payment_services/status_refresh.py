"""Status refreshes the reconciler owes the Mantle side (`stripe.StripeStatusRefresh`): how a settled attempt's
outcome reaches a Payment whose caller has not retried.

When the reconciler settles an in-doubt authorize, authorizeAndCapture, capture or release of a client that has a
Mantle side here (the configured Moqui's client, or `standalone`), the Payment that client keeps still shows the
state before the attempt (Mantle left it as it was on the `resultError` response). The reconciler then asks that side
to refresh the Payment from the gateway, as Stripe's `payment_intent.canceled` webhook does: Mantle's
get#SinglePaymentGatewayDetails, which reads our `details` and moves the Payment to the status Stripe's state means
(mantle-usl PaymentServices.xml get#SinglePaymentGatewayDetails, lines 1923-1990). For a Moqui client that is the
component's `POST /rest/s1/moqui-stripe/payments/{paymentId}/gatewayStatus`; standalone, the local rule.

A refresh writes no response of the operation's kind (a details response, `PgoTxDetails`, when the status changed),
so the caller's count of attempts (docs/gateway-api.md, attemptNum) is unchanged and its retry of the same attempt
is still answered from the journal. Refunds are never pushed: the refund Payment Mantle records comes with a
`PgoRefund` response, which would count as one more attempt and turn the caller's retry into a second refund; a
settled refund is answered to that retry instead. A refresh reads and moves a status, so sending one twice (an answer
lost on the way back) changes nothing more.

The refresh is owed from before the attempt is settled (`owe_refresh`), so a crash between settling and sending
loses nothing. `send_owed_refreshes` sends each one whose journal row is completed; a row Stripe showed never
happened is gone from the journal and its refresh is dropped; a failed send (Moqui unreachable, an error answer)
is kept and tried again at the next pass after a back-off doubling from one minute to an hour.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.remote_moqui import RemoteMantleSide
from moqui_bridge.mantle.side import MantleSide
from service.clock import Clock
from service.payment_services.journal import GATEWAY_OPERATION, SGO_COMPLETED, Attempt
from service.stripe_gateway.idempotency import GatewayOperation

__all__ = [
    "REFRESHED_OPERATIONS",
    "STATUS_REFRESH",
    "RefreshReport",
    "StatusRecipients",
    "owe_refresh",
    "send_owed_refreshes",
    "wants_refresh",
]

log = logging.getLogger(__name__)

STATUS_REFRESH: Final = "stripe.StripeStatusRefresh"
# Operations whose settled outcome moves the Payment's status; refund is deliberately absent (module docstring).
REFRESHED_OPERATIONS: Final = frozenset(
    {
        GatewayOperation.AUTHORIZE,
        GatewayOperation.AUTHORIZE_AND_CAPTURE,
        GatewayOperation.CAPTURE,
        GatewayOperation.RELEASE,
    }
)
FIRST_RETRY: Final = timedelta(minutes=1)
_AUTHORIZATIONS: Final = (GatewayOperation.AUTHORIZE, GatewayOperation.AUTHORIZE_AND_CAPTURE)
LAST_RETRY: Final = timedelta(hours=1)
# A claim: while one sender works on a refresh, another pass (`moqui-stripe reconcile` beside the leader) skips it.
CLAIM: Final = timedelta(minutes=5)
BATCH_SIZE: Final = 100

# The Mantle side that keeps the Payments of a client, by client name.
StatusRecipients = Mapping[str, MantleSide]


@dataclass
class RefreshReport:
    """What one round of sending did."""

    sent: int = 0
    dropped: int = 0  # the attempt never happened at Stripe: nothing to tell
    owed: int = 0  # still owed: the attempt unsettled, or the send failed (tried again later)


def wants_refresh(attempt: Attempt, recipients: StatusRecipients) -> bool:
    """Whether settling this attempt owes its client's Mantle side a status refresh."""
    identity = attempt.request.identity
    return identity.operation in REFRESHED_OPERATIONS and identity.client_name in recipients


async def owe_refresh(entity: EntityFacade, attempt: Attempt, now: datetime) -> None:
    """Record, before the attempt is settled, that its Payment's status is to be refreshed (once per attempt)."""
    identity = attempt.request.identity
    await entity.create_or_update(
        STATUS_REFRESH,
        {
            "operationId": attempt.operation_id,
            "clientName": identity.client_name,
            "paymentId": identity.payment_id,
            "operationName": identity.operation.value,
            "createdDate": now,
            "sendCount": 0,
            "nextSendDate": now,
        },
        update=(),
    )


async def send_owed_refreshes(entity: EntityFacade, recipients: StatusRecipients, clock: Clock) -> RefreshReport:
    """Send every refresh that is due and whose attempt is settled; the report."""
    report = RefreshReport()
    now = clock.now()
    for refresh in await _due(entity, now):
        operation_id = str(refresh["operationId"])
        if refresh["operationStatusId"] is None:
            await entity.delete(STATUS_REFRESH, {"operationId": operation_id})
            report.dropped += 1
            continue
        recipient = recipients.get(str(refresh["clientName"]))
        if recipient is None or not await _claim(entity, operation_id, now):
            continue
        payment_id = str(refresh["paymentId"])
        try:
            await _refresh(recipient, refresh)
        except Exception as error:  # whatever the side raised (Moqui unreachable, its error): kept, sent again later
            count = int(refresh["sendCount"] or 0) + 1
            retry = min(FIRST_RETRY * 2 ** (count - 1), LAST_RETRY)
            await entity.update(
                STATUS_REFRESH,
                {"operationId": operation_id},
                {"sendCount": count, "nextSendDate": now + retry, "lastError": str(error)[:255]},
            )
            log.warning("reconciler: status refresh of payment %s failed (%s); again in %s", payment_id, error, retry)
            continue
        await entity.delete(STATUS_REFRESH, {"operationId": operation_id})
        log.info("reconciler: payment %s refreshed after its %s was settled", payment_id, refresh["operationName"])
        report.sent += 1
    report.owed = await _count_owed(entity)
    return report


def _columns(entity: EntityFacade, entity_name: str, *names: str) -> tuple[str, ...]:
    definition = entity.definition(entity_name)
    return (definition.table_name, *(definition.field(name).column_name for name in names))


async def _due(entity: EntityFacade, now: datetime) -> list[dict[str, Any]]:
    """Refreshes due now whose attempt is settled (completed, or gone from the journal), oldest first, with the
    journal's status (None: gone) and answer."""
    refresh = _columns(entity, STATUS_REFRESH, "operationId", "clientName", "paymentId", "operationName", "sendCount")
    table, key, client, payment, operation, count = refresh
    _, next_send, created = _columns(entity, STATUS_REFRESH, "nextSendDate", "createdDate")
    journal, journal_key, status, answer = _columns(
        entity, GATEWAY_OPERATION, "operationId", "operationStatusId", "answerText"
    )
    statement = (
        f"SELECT r.{key}, r.{client}, r.{payment}, r.{operation}, r.{count}, j.{status}, j.{answer} "
        f"FROM {table} r LEFT JOIN {journal} j ON j.{journal_key} = r.{key} "
        f"WHERE r.{next_send} <= $1 AND (j.{journal_key} IS NULL OR j.{status} = $2) "
        f"ORDER BY r.{created}, r.{key} LIMIT {BATCH_SIZE}"
    )
    async with entity.pool.acquire() as connection:
        rows = await connection.fetch(statement, now, SGO_COMPLETED)
    fields = ("operationId", "clientName", "paymentId", "operationName", "sendCount", "operationStatusId", "answerText")
    return [dict(zip(fields, row, strict=True)) for row in rows]


async def _count_owed(entity: EntityFacade) -> int:
    """Refreshes left owed after this round (their attempt unsettled, or their send failed)."""
    table, *_ = _columns(entity, STATUS_REFRESH)
    async with entity.pool.acquire() as connection:
        owed: int = await connection.fetchval(f"SELECT count(*) FROM {table}")
    return owed


async def _claim(entity: EntityFacade, operation_id: str, now: datetime) -> bool:
    """Move the refresh's next send ahead in one statement; False when another sender did so first."""
    table, key, next_send = _columns(entity, STATUS_REFRESH, "operationId", "nextSendDate")
    statement = f"UPDATE {table} SET {next_send} = $3 WHERE {key} = $1 AND {next_send} <= $2"
    async with entity.pool.acquire() as connection:
        status = await connection.execute(statement, operation_id, now, now + CLAIM)
    return str(status).endswith(" 1")


async def _refresh(recipient: MantleSide, refresh: Mapping[str, Any]) -> None:
    payment_id = str(refresh["paymentId"])
    operation = GatewayOperation(str(refresh["operationName"]))
    if operation in _AUTHORIZATIONS and isinstance(recipient, RemoteMantleSide):
        answer = json.loads(refresh["answerText"]) if refresh["answerText"] else {}
        response = answer.get("paymentGatewayResponse") or {}
        if response.get("resultSuccess") == "Y" and answer.get("paymentIntentId"):
            # Moqui has no reference of an authorization whose answer it never got, and Mantle's refresh needs one
            # (PaymentServices.xml:1938): the component takes it from us.
            await recipient.refresh_payment_status(payment_id, payment_intent_id=str(answer["paymentIntentId"]))
            return
    await recipient.refresh_payment_status(payment_id)
