"""stripe.StripePaymentIntent: which Stripe PaymentIntent belongs to which Mantle Payment.

A Payment has at most one live PaymentIntent; after a release (or an expired authorization) a new authorize makes a
new one. The newest link that is not canceled is the current PaymentIntent; without one, the newest canceled link
still answers "what happened" (a repeated release, a capture after a release). A PaymentIntent confirmed elsewhere
(the checkout page) may be known only by `Payment.paymentRefNum`, which Mantle sets from our `referenceNum`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection

__all__ = ["PAYMENT_INTENT_LINK", "IntentLink", "current_intent_id", "record_intent"]

PAYMENT_INTENT_LINK: Final = "stripe.StripePaymentIntent"
_CANCELED = "canceled"


@dataclass(frozen=True)
class IntentLink:
    """What we record of a PaymentIntent we made or adopted for a Payment."""

    payment_intent_id: str
    payment_id: str
    payment_gateway_config_id: str
    order_id: str | None
    order_part_seq_id: str | None
    capture_method: str | None
    intent_status: str | None
    amount: Decimal | None
    amount_uom_id: str | None


async def current_intent_id(
    entity: EntityFacade, payment: dict[str, Any], *, connection: Connection | None = None
) -> str | None:
    """The Payment's current PaymentIntent id, or None when it never had one."""
    links = await entity.find(
        PAYMENT_INTENT_LINK, {"paymentId": payment["paymentId"]}, order_by=["-createdDate"], connection=connection
    )
    for link in links:
        if link["intentStatus"] != _CANCELED:
            return str(link["paymentIntentId"])
    reference = payment.get("paymentRefNum")
    if (
        isinstance(reference, str)
        and reference.startswith("pi_")
        and all(link["paymentIntentId"] != reference for link in links)
    ):
        return reference
    return str(links[0]["paymentIntentId"]) if links else None


async def record_intent(entity: EntityFacade, link: IntentLink, *, connection: Connection | None = None) -> None:
    """Create the link, or bring its status up to date (the rest of a link never changes).

    One conditional upsert: a new link is inserted whole; an existing one takes only the status, and only when it
    differs (so `createdDate`, which orders a payment's links, and the rest stay as first recorded).
    """
    await entity.create_or_update(
        PAYMENT_INTENT_LINK,
        {
            "paymentIntentId": link.payment_intent_id,
            "paymentId": link.payment_id,
            "paymentGatewayConfigId": link.payment_gateway_config_id,
            "orderId": link.order_id,
            "orderPartSeqId": link.order_part_seq_id,
            "captureMethod": link.capture_method,
            "intentStatus": link.intent_status,
            "amount": link.amount,
            "amountUomId": link.amount_uom_id,
            "createdDate": datetime.now(UTC).replace(tzinfo=None),
        },
        update=("intentStatus",),
        connection=connection,
    )
