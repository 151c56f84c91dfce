"""`charge.dispute.*`: a chargeback opened against one of our payments becomes a stripe.StripeDispute row.

The dispute is read again from Stripe, so a late `created` after an `updated` (or a redelivery) writes the current
status, never an older one. Mantle has no dispute concept, so nothing is asked of it: operators see disputes
through `stripe.StripeWebhookServices.get#PaymentDisputes` (GET /rest/s1/stripe/payments/{paymentId}/disputes) and
answer them in Stripe's dashboard.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from service.money import from_minor_units
from service.stripe_gateway.operations import retrieve_dispute
from service.stripe_gateway.outcome import StripeRequestRejected
from service.webhooks.context import WebhookContext
from service.webhooks.outcome import Handled
from service.webhooks.payment_lookup import Foreign, lease_payment, payment_of_intent

__all__ = ["DISPUTE_EVENTS", "STRIPE_DISPUTE", "handle_dispute_event"]

log = logging.getLogger(__name__)

STRIPE_DISPUTE: Final = "stripe.StripeDispute"
DISPUTE_EVENTS: Final = frozenset({"charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"})


async def handle_dispute_event(context: WebhookContext, event_type: str, snapshot: dict[str, Any]) -> Handled:
    """Record or update the dispute that is the event's data.object."""
    dispute_id = snapshot.get("id")
    intent_id = snapshot.get("payment_intent")
    if not isinstance(dispute_id, str) or not isinstance(intent_id, str):
        return Handled.ignored("the dispute names no PaymentIntent")
    owner = await payment_of_intent(context, intent_id)
    if isinstance(owner, Foreign):
        return Handled.ignored(owner.reason)
    try:
        dispute = await retrieve_dispute(context.gateway, dispute_id)
    except StripeRequestRejected:
        return Handled.ignored(f"dispute {dispute_id} is unknown to this gateway's Stripe account")
    values = {
        "chargeId": _id_of(dispute.charge),
        "paymentIntentId": intent_id,
        "paymentId": owner,
        "amount": from_minor_units(dispute.amount, dispute.currency),
        "amountUomId": dispute.currency.upper(),
        "reason": dispute.reason[:63] if dispute.reason else None,
        "disputeStatus": dispute.status,
    }
    entity = context.entity
    async with lease_payment(context, owner, f"the webhook about dispute {dispute_id}"):
        existing = await entity.find_one(STRIPE_DISPUTE, {"disputeId": dispute_id})
        if existing is None:
            created = datetime.fromtimestamp(dispute.created, UTC).replace(tzinfo=None)
            await entity.create(STRIPE_DISPUTE, {"disputeId": dispute_id, **values, "createdDate": created})
            log.warning("dispute %s opened on payment %s (%s)", dispute_id, owner, dispute.reason)
            return Handled.processed(f"dispute {dispute_id} on payment {owner} recorded ({dispute.status})")
        if existing["disputeStatus"] != dispute.status:
            await entity.update(STRIPE_DISPUTE, {"disputeId": dispute_id}, {"disputeStatus": dispute.status})
            return Handled.processed(f"dispute {dispute_id} on payment {owner} is now {dispute.status}")
    return Handled.processed(f"dispute {dispute_id} on payment {owner} already recorded ({dispute.status})")


def _id_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None
