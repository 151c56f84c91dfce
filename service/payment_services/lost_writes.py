"""Whether the write of an in-doubt attempt happened at Stripe, found by reading Stripe, never by sending it again.

Stripe forgets an idempotency key after 24 hours; a key replayed later runs as a new request (a second refund). So an
attempt older than the safe age (`reconciler.safe_age_hours`) is settled from what Stripe holds:

- create: the PaymentIntents created in a window around the attempt (of its Customer, when it has one) whose metadata
  `moquiStripeOperation` names the attempt (a list, not the Search API, which lags and is rate-limited);
- confirm, capture, cancel: the PaymentIntent acted on, by the state our write would have left it in;
- refund: the Refund by id when the row knows it, else the PaymentIntent's refund whose metadata names the attempt.

`read_write` answers the object the write made or changed, as the write itself would have, or raises `WriteNotMade`
when Stripe shows the write never happened (the identity is then free for a new attempt with a new key).
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Final

import stripe

from service.payment_services.gateway_call import GatewayCall
from service.payment_services.journal import Attempt
from service.payment_services.stripe_writes import (
    CANCEL,
    CAPTURE,
    CONFIRM,
    CREATE,
    OPERATION_METADATA,
    REFUND,
    StripeWrite,
    operation_reference,
)
from service.stripe_gateway.answers import StripeAnswer
from service.stripe_gateway.operations import (
    list_payment_intents,
    list_refunds,
    metadata_value,
    retrieve_payment_intent,
    retrieve_refund,
)

__all__ = ["CREATED_WINDOW", "READABLE_WRITES", "WriteNotMade", "read_write"]

# Around the journal's startedDate: our clock and Stripe's may differ, and a create may be retried by the SDK.
CREATED_WINDOW: Final = timedelta(minutes=15)
# The writes whose effect a read can tell (the checkout page's creates are confirmed by the shopper, not by us).
READABLE_WRITES: Final = frozenset({CREATE, CONFIRM, CAPTURE, CANCEL, REFUND})
# The states a PaymentIntent leaves once it has been confirmed (authorized, paid, or waiting on the bank).
_CONFIRMED_STATES: Final = frozenset({"requires_capture", "succeeded", "processing", "requires_action"})


class WriteNotMade(Exception):
    """Stripe shows that the attempt's write never happened."""


async def read_write(call: GatewayCall, attempt: Attempt) -> StripeWrite:
    """The object the attempt's write made or changed, read from Stripe; WriteNotMade when it never happened."""
    kind = attempt.stripe_call
    if kind not in READABLE_WRITES:
        raise ValueError(f"journal row {attempt.operation_id} ({kind}) cannot be settled by reading Stripe")
    if kind == CREATE:
        return StripeAnswer.of(await _created_intent(call, attempt))
    if kind == REFUND:
        return StripeAnswer.of(await _our_refund(call, attempt))
    intent_id = attempt.request.payment_intent_id
    if intent_id is None:
        raise ValueError(f"journal row {attempt.operation_id} ({kind}) names no PaymentIntent")
    intent = await retrieve_payment_intent(call.gateway, intent_id)
    if (
        (kind == CAPTURE and intent.status == "succeeded")
        or (kind == CANCEL and intent.status == "canceled" and intent.cancellation_reason != "expired")
        or (kind == CONFIRM and intent.status in _CONFIRMED_STATES)
    ):
        return StripeAnswer.of(intent)
    raise WriteNotMade(f"PaymentIntent {intent_id} is {intent.status}: the {kind} of {attempt.operation_id} never ran")


async def _created_intent(call: GatewayCall, attempt: Attempt) -> stripe.PaymentIntent:
    started = attempt.started.replace(tzinfo=UTC)
    reference = operation_reference(call, attempt)
    candidates = await list_payment_intents(
        call.gateway,
        created_from=int((started - CREATED_WINDOW).timestamp()),
        created_to=int((started + CREATED_WINDOW).timestamp()),
        customer=attempt.request.customer,
    )
    for intent in candidates:
        if metadata_value(intent, OPERATION_METADATA) == reference:
            # Read again with the charge expanded: the answer needs its card checks, as the create's would have.
            return await retrieve_payment_intent(call.gateway, intent.id)
    raise WriteNotMade(f"no PaymentIntent in Stripe carries {OPERATION_METADATA} {reference}")


async def _our_refund(call: GatewayCall, attempt: Attempt) -> stripe.Refund:
    known = attempt.row.get("stripeObjectId")
    if isinstance(known, str) and known.startswith("re_"):
        return await retrieve_refund(call.gateway, known)
    intent_id = attempt.request.payment_intent_id
    if intent_id is None:
        raise ValueError(f"journal row {attempt.operation_id} (refund) names no PaymentIntent")
    reference = operation_reference(call, attempt)
    for refund in await list_refunds(call.gateway, intent_id):
        if metadata_value(refund, OPERATION_METADATA) == reference:
            return refund
    raise WriteNotMade(f"no refund of {intent_id} carries {OPERATION_METADATA} {reference}")
