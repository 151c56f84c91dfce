"""Events about the configured Moqui's PaymentIntents: sent to the component's REST resources, where Moqui records them.

A PaymentIntent is the Moqui client's when our intent link (written by the gateway journal) names that client, or,
without a link, when its metadata does (`moquiStripeClient`). Moqui keeps the payment, so nothing is written here
beyond the event's row; the event log runs each event once, and the component's services find a refund or a
dispute already recorded by its `re_`/`dp_` id, so a retried delivery or a later event repeating a refund records
nothing twice:

| event                                        | Moqui resource                                  |
| -------------------------------------------- | ----------------------------------------------- |
| charge.refunded                              | gatewayRefunds, once per refund not made by us  |
| charge.refund.updated (status failed)        | gatewayRefunds/{refundId}/failure               |
| charge.refund.updated (succeeded, not ours)  | gatewayRefunds                                  |
| charge.dispute.created / updated / closed    | disputes, with the dispute as Stripe has it now |
| payment_intent.canceled                      | gatewayStatus (Mantle's get#SinglePaymentGatewayDetails) |
| payment_intent.amount_capturable_updated /   | orders/{orderId}/parts/{seq}/checkoutPayments, for the   |
| payment_intent.succeeded                     | checkout page's PaymentIntents (the shopper never came   |
|                                              | back): record#CheckoutPayment, as the return page does   |

Refunds made by us (the gateway API's refund) carry our `paymentId` metadata: Moqui recorded them from our answer.
Other payment_intent events need nothing: Moqui's own gateway calls recorded what they did.

A checkout payment is recorded under the order's lease (service/checkout/order_lease.py), the lease the return page
holds, and record#CheckoutPayment finds a Payment already authorized and an order already placed: whichever of the
page and the two events comes first records it, the others change nothing. An event that finds the order leased until
its deadline is failed for Stripe to retry (processing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import stripe

from moqui_bridge.mantle.remote_moqui import StripeDispute, StripeRefund
from service.checkout.checkout_side import moqui_checkout_payment
from service.checkout.order_lease import order_lease
from service.money import from_minor_units
from service.payment_services.intent_link import PAYMENT_INTENT_LINK
from service.payment_services.journal import GATEWAY_OPERATION
from service.payment_services.stripe_writes import CLIENT_METADATA
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import PAYMENT_ID, list_refunds, retrieve_dispute, retrieve_payment_intent
from service.stripe_gateway.outcome import StripeRequestRejected
from service.webhooks.context import MoquiRecipient, WebhookContext
from service.webhooks.disputes import DISPUTE_EVENTS
from service.webhooks.outcome import Handled
from service.webhooks.payment_lookup import CONFIG_KEY, intent_metadata
from service.webhooks.refund_events import MONEY_MOVED, REFUND_EVENTS

__all__ = ["handle_moqui_event"]

_CANCELED: Final = "payment_intent.canceled"
_CHARGE_REFUNDED: Final = "charge.refunded"
_CHECKOUT_PAID: Final = frozenset({"payment_intent.amount_capturable_updated", "payment_intent.succeeded"})
_HOLDS_MONEY: Final = frozenset({"requires_capture", "succeeded"})


@dataclass(frozen=True)
class _MoquiEvent:
    """One event about a Moqui payment: where to send it and what it is about."""

    context: WebhookContext
    moqui: MoquiRecipient
    payment_id: str
    intent_id: str
    occurred: datetime


async def handle_moqui_event(
    context: WebhookContext, event_type: str, snapshot: dict[str, Any], occurred: datetime
) -> Handled | None:
    """Send the event to Moqui when it is about the Moqui client's PaymentIntent; None when it is not (the local
    handlers decide). Raises the REST client's error when Moqui cannot be reached or refuses (Stripe retries)."""
    moqui = context.moqui
    if moqui is None:
        return None
    intent_id = _intent_id_of(snapshot)
    if intent_id is None:
        return None
    if event_type in _CHECKOUT_PAID:
        return await _record_checkout_payment(context, moqui, intent_id)
    if not (event_type in REFUND_EVENTS or event_type in DISPUTE_EVENTS or event_type == _CANCELED):
        return None
    payment_id = await _moqui_payment_of(context, moqui.client_name, intent_id)
    if payment_id is None:
        return None
    event = _MoquiEvent(context, moqui, payment_id, intent_id, occurred)
    if event_type == _CANCELED:
        refresh = await moqui.side.refresh_payment_status(payment_id)
        return Handled.processed(f"payment {payment_id} refreshed in Moqui: {refresh.status_id}")
    if event_type in DISPUTE_EVENTS:
        return await _send_dispute(event, str(snapshot.get("id")))
    if event_type == _CHARGE_REFUNDED:
        refunds = await list_refunds(context.gateway, intent_id)
        notes = [await _send_refund(event, refund) for refund in reversed(refunds)]
        return Handled.processed("; ".join(notes) if notes else f"PaymentIntent {intent_id} has no refunds")
    refund = stripe.Refund.construct_from(snapshot, None)
    return Handled.processed(await _send_refund(event, refund))


def _intent_id_of(snapshot: dict[str, Any]) -> str | None:
    if snapshot.get("object") == "payment_intent":
        value: Any = snapshot.get("id")
    else:
        value = snapshot.get("payment_intent")
        if isinstance(value, dict):
            value = value.get("id")
    return value if isinstance(value, str) and value.startswith("pi_") else None


async def _moqui_payment_of(context: WebhookContext, client_name: str, intent_id: str) -> str | None:
    """Moqui's paymentId when the PaymentIntent is the Moqui client's of this gateway config, else None."""
    config_id = context.payment_gateway_config_id
    link = await context.entity.find_one(PAYMENT_INTENT_LINK, {"paymentIntentId": intent_id})
    if link is not None:
        mine = link["clientName"] == client_name and link["paymentGatewayConfigId"] == config_id
        return str(link["paymentId"]) if mine else None
    try:
        intent = await retrieve_payment_intent(context.gateway, intent_id, expand=())
    except StripeRequestRejected:
        return None
    metadata = intent_metadata(intent)
    if metadata.get(CLIENT_METADATA) != client_name or metadata.get(CONFIG_KEY, config_id) != config_id:
        return None
    return metadata.get(PAYMENT_ID) or None


async def _record_checkout_payment(context: WebhookContext, moqui: MoquiRecipient, intent_id: str) -> Handled | None:
    """record#CheckoutPayment for a checkout page's PaymentIntent of the Moqui client that holds money; None for a
    PaymentIntent that is not one (Moqui's own authorize#Payment recorded those)."""
    entity = context.entity
    link = await entity.find_one(PAYMENT_INTENT_LINK, {"paymentIntentId": intent_id})
    if (
        link is None
        or link["clientName"] != moqui.client_name
        or link["paymentGatewayConfigId"] != context.payment_gateway_config_id
        or not link["operationId"]
        or not link["orderId"]
    ):
        return None
    made_by = await entity.find_one(GATEWAY_OPERATION, {"operationId": link["operationId"]})
    if made_by is None or made_by["operationName"] != GatewayOperation.CHECKOUT:
        return None
    lease = order_lease(
        entity,
        str(link["orderId"]),
        context.deadline,
        holder_key=context.liveness_key,
        what=f"the webhook recording PaymentIntent {intent_id}",
    )
    async with lease:
        # Read again: the event may be older than what the shopper did since.
        intent = await retrieve_payment_intent(context.gateway, intent_id, expand=())
        if intent.status not in _HOLDS_MONEY:
            return Handled.processed(f"checkout PaymentIntent {intent_id} is {intent.status}: nothing to record")
        recorded = await moqui.side.record_checkout_payment(
            moqui_checkout_payment(link, intent, place_order=moqui.place_order)
        )
    done = "recorded" if recorded.payment_gateway_response_id else "already recorded"
    return Handled.processed(
        f"checkout payment {recorded.payment_id} {done} in Moqui ({recorded.payment_status_id}, order "
        f"{recorded.order_status_id})"
    )


async def _send_refund(event: _MoquiEvent, refund: stripe.Refund) -> str:
    status = str(refund.status)
    ours = intent_metadata(refund).get(PAYMENT_ID) == event.payment_id
    stripe_refund = StripeRefund(
        refund_id=refund.id,
        amount=from_minor_units(refund.amount, refund.currency),
        status=status,
        created=datetime.fromtimestamp(refund.created, UTC),
        failure_reason=getattr(refund, "failure_reason", None),
    )
    if status == "failed":
        # Ours or the dashboard's: Moqui has its response (subReference) either way and voids the refund Payment.
        await event.moqui.side.record_refund_failure(event.payment_id, stripe_refund)
        return f"refund {refund.id} failed ({stripe_refund.failure_reason}): sent to Moqui"
    if ours:
        return f"refund {refund.id} was made through the gateway API; Moqui recorded it"
    if status not in MONEY_MOVED:
        return f"refund {refund.id} is {status}; nothing refunded, nothing sent"
    recorded = await event.moqui.side.record_stripe_refund(event.payment_id, stripe_refund)
    done = "recorded" if recorded.created else "already recorded"
    return f"refund {refund.id} made in Stripe {done} in Moqui as payment {recorded.refund_payment_id}"


async def _send_dispute(event: _MoquiEvent, dispute_id: str) -> Handled:
    try:
        # Read again: a late `created` after an `updated` must not put an older status back.
        dispute = await retrieve_dispute(event.context.gateway, dispute_id)
    except StripeRequestRejected:
        return Handled.ignored(f"dispute {dispute_id} is unknown to this gateway's Stripe account")
    due = dispute.evidence_details.due_by if dispute.evidence_details else None
    await event.moqui.side.record_dispute(
        event.payment_id,
        StripeDispute(
            dispute_id=dispute.id,
            amount=from_minor_units(dispute.amount, dispute.currency),
            reason=dispute.reason[:63] if dispute.reason else None,
            status=dispute.status,
            evidence_due_by=datetime.fromtimestamp(due, UTC) if due else None,
            changed=event.occurred,
        ),
    )
    return Handled.processed(f"dispute {dispute.id} on payment {event.payment_id} sent to Moqui ({dispute.status})")
