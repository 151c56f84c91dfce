"""One journaled Stripe call: reserve the key, call, then record the PGR and the journal row in one transaction.

Every mutating use case goes through `journaled_call`, so the exactly-once rules live in one place:

- The key is committed (`SgoStarted`) before Stripe is called; a crash after Stripe's answer leaves it there and the
  next call replays it.
- Declines are definitive answers (a PGR with resultDeclined). Timeouts, connection failures, 5xx and rate limits
  leave the attempt `SgoInDoubt`: the PGR says resultError and the next call repeats the same key.
- Rate limits are waited out a few times with the same key before giving up (the SDK does not retry 429).
- A request Stripe refuses as such (400/404) is a bug or a bad request, not a card outcome: the journal row is
  closed and the caller gets a ServiceError; no PGR is written.
- An answer that does not match the request (amount, currency, owner) is recorded as a resultError PGR: Stripe
  acted, but not as asked, so Mantle must not count it as success; the attempt is over (replaying gives the same).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import stripe

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from moqui_bridge.service import ServiceError
from service import metrics
from service.payment_services.operation_journal import (
    JournalEntry,
    OperationScope,
    ScopeAttempts,
    begin_operation,
    finish_operation,
)
from service.payment_services.payment_subject import PaymentSubject
from service.payment_services.response_writer import write_response
from service.stripe_gateway.operations import StripeIntegrityError
from service.stripe_gateway.outcome import GatewayOutcome, StripeRequestRejected, outcome_from_error, safe_message

__all__ = ["CallRecord", "journaled_call", "stripe_request_id"]

StripeObjectT = TypeVar("StripeObjectT", bound=stripe.StripeObject)

# Waits before repeating a rate-limited request (same key); Stripe's limits are per second.
RATE_LIMIT_BACKOFF_SECONDS = (0.5, 1.0, 2.0)
# Errors after which Stripe has not acted (the card or the key said no): the attempt is over.
_DEFINITIVE_ERRORS = (stripe.CardError, stripe.AuthenticationError, stripe.PermissionError)


@dataclass(frozen=True)
class CallRecord(Generic[StripeObjectT]):
    """What a use case's recorder gets, inside the transaction that writes the PGR and finishes the journal row."""

    connection: Connection
    answer: StripeObjectT | None  # None when the call raised (a decline, an outage)
    outcome: GatewayOutcome
    payment_gateway_response_id: str
    operation_id: str


def stripe_request_id(obj: Any) -> str | None:
    """Stripe's request id (req_...) of the response an object came from, when the SDK kept it."""
    response = getattr(obj, "last_response", None)
    request_id = getattr(response, "request_id", None)
    return request_id if isinstance(request_id, str) else None


async def _with_rate_limit_backoff(send: Callable[[], Awaitable[StripeObjectT]]) -> StripeObjectT:
    for delay in RATE_LIMIT_BACKOFF_SECONDS:
        try:
            return await send()
        except stripe.RateLimitError:
            await asyncio.sleep(delay)
    return await send()


async def journaled_call(
    entity: EntityFacade,
    subject: PaymentSubject,
    scope: OperationScope,
    *,
    payment_operation_enum_id: str,
    amount: Decimal | None,
    client_request_key: str | None,
    send: Callable[[JournalEntry], Awaitable[StripeObjectT]],
    interpret: Callable[[StripeObjectT], GatewayOutcome],
    record: Callable[[CallRecord[StripeObjectT]], Awaitable[None]] | None = None,
    attempts: ScopeAttempts | None = None,
    connection: Connection | None = None,
) -> str:
    """Make one mutating Stripe call exactly once and record it; answer the id of the PGR written.

    `send(entry)` performs the call with `entry.idempotency_key`, asking for `entry.amount`: on a replay that is
    the unfinished attempt's journaled amount, so Stripe gets the very request it keyed. `interpret` maps the answer
    to a GatewayOutcome (checking the echoed amount and currency); `record` writes our own rows (intent link,
    refund) in the transaction of the PGR. `amount` is what a new attempt asks for, in the payment's currency.
    `connection` is the operation's own (the payment lock's, outside a transaction): the journal row commits on it
    before the call, and the PGR's transaction runs on it after. `attempts`: the scope's journal rows if the use
    case already read them under the lock.
    """
    entry = await begin_operation(
        entity,
        scope,
        amount=amount,
        amount_uom_id=subject.currency,
        client_request_key=client_request_key,
        attempts=attempts,
        connection=connection,
    )
    answer: StripeObjectT | None = None
    request_id: str | None = None
    try:
        answer = await _with_rate_limit_backoff(lambda: send(entry))
        outcome = interpret(answer)
        definitive = True
        request_id = stripe_request_id(answer)
    except StripeRequestRejected as rejected:
        if rejected.code == "idempotency_error" and entry.replay:
            # The unfinished attempt asked for something else; its outcome stays unknown, so its key must not be
            # given up (a new key could act twice). The operator has to look at the payment in Stripe.
            raise ServiceError(
                f"Stripe refused to repeat the unfinished {scope.operation.value} of payment {subject.payment_id} "
                f"because the request changed meanwhile ({rejected.message}); check the payment in Stripe"
            ) from rejected
        await finish_operation(
            entity,
            entry,
            definitive=True,
            stripe_object_id=None,
            payment_gateway_response_id=None,
            stripe_request_id=rejected.request_id,
            connection=connection,
        )
        raise ServiceError(
            f"Stripe refused the {scope.operation.value} of payment {subject.payment_id}: {rejected.message}"
        ) from rejected
    except StripeIntegrityError as mismatch:
        outcome = GatewayOutcome(
            result_error=True,
            response_code="integrity_error",
            reason_code="echo_mismatch",
            reason_message=safe_message(str(mismatch)),
            reference_num=mismatch.object_id if (mismatch.object_id or "").startswith("pi_") else None,
        )
        definitive = True
    except stripe.StripeError as error:
        outcome = outcome_from_error(error)
        definitive = isinstance(error, _DEFINITIVE_ERRORS)
        request_id = error.request_id
    metrics.count_gateway_operation(payment_operation_enum_id, outcome, definitive=definitive)
    async with entity.transaction(connection) as active:
        pgr_id = await write_response(
            entity, subject, payment_operation_enum_id, outcome, requested_amount=entry.amount, connection=active
        )
        await finish_operation(
            entity,
            entry,
            definitive=definitive,
            stripe_object_id=getattr(answer, "id", None) or outcome.sub_reference or outcome.reference_num,
            payment_gateway_response_id=pgr_id,
            stripe_request_id=request_id,
            connection=active,
        )
        if record is not None:
            await record(CallRecord(active, answer, outcome, pgr_id, entry.operation_id))
    return pgr_id
