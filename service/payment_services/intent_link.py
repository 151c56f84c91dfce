"""stripe.StripePaymentIntent: every PaymentIntent this service made, and the client, payment and gateway config it
was made for.

The gateway API acts on a PaymentIntent only for the client and payment it was made for, under the config it was made
under (docs/gateway-api.md: a PaymentIntent that is not this client's payment's, or was made under another gateway
config, is refused). The checkout page and the webhooks use the links of the standalone client's payments: the
newest link that is not canceled is a payment's current PaymentIntent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from moqui_bridge.service import ServiceError
from service.context import STANDALONE_CLIENT

__all__ = [
    "PAYMENT_INTENT_LINK",
    "IntentLink",
    "current_intent_id",
    "record_intent",
    "required_link",
    "standalone_link",
]

PAYMENT_INTENT_LINK: Final = "stripe.StripePaymentIntent"
_CANCELED = "canceled"


@dataclass(frozen=True)
class IntentLink:
    """What we record of a PaymentIntent we made."""

    payment_intent_id: str
    client_name: str
    payment_id: str
    payment_gateway_config_id: str
    operation_id: str | None
    order_id: str | None
    order_part_seq_id: str | None
    capture_method: str | None
    intent_status: str | None
    amount: Decimal | None
    amount_uom_id: str | None


async def current_intent_id(
    entity: EntityFacade, client_name: str, payment: dict[str, Any], *, connection: Connection | None = None
) -> str | None:
    """The payment's current PaymentIntent id (the client's newest link not canceled, else its newest), or None."""
    links = await entity.find(
        PAYMENT_INTENT_LINK,
        {"clientName": client_name, "paymentId": payment["paymentId"]},
        order_by=["-createdDate"],
        connection=connection,
    )
    for link in links:
        if link["intentStatus"] != _CANCELED:
            return str(link["paymentIntentId"])
    return str(links[0]["paymentIntentId"]) if links else None


async def required_link(
    entity: EntityFacade, client_name: str, payment_gateway_config_id: str, payment_id: str, payment_intent_id: str
) -> dict[str, Any]:
    """The link of a PaymentIntent the request names, once it is known to be this client's payment's, made under
    this gateway config; a ServiceError (400) otherwise, before anything is journaled or sent."""
    link = await entity.find_one(PAYMENT_INTENT_LINK, {"paymentIntentId": payment_intent_id})
    if link is None or link["clientName"] != client_name or link["paymentId"] != payment_id:
        raise ServiceError(f"PaymentIntent {payment_intent_id} is not one moqui-stripe made for payment {payment_id}")
    if link["paymentGatewayConfigId"] != payment_gateway_config_id:
        raise ServiceError(
            f"PaymentIntent {payment_intent_id} of payment {payment_id} was made under gateway config "
            f"{link['paymentGatewayConfigId']}, not {payment_gateway_config_id}"
        )
    return link


async def record_intent(entity: EntityFacade, link: IntentLink, *, connection: Connection | None = None) -> None:
    """Create the link, or bring its status up to date (the rest of a link never changes).

    One conditional upsert: a new link is inserted whole; an existing one takes only the status, and only when it
    differs (so `createdDate`, which orders a payment's links, and the rest stay as first recorded).
    """
    await entity.create_or_update(
        PAYMENT_INTENT_LINK,
        {
            "paymentIntentId": link.payment_intent_id,
            "clientName": link.client_name,
            "paymentId": link.payment_id,
            "paymentGatewayConfigId": link.payment_gateway_config_id,
            "operationId": link.operation_id,
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


def standalone_link(
    payment: dict[str, Any],
    payment_gateway_config_id: str,
    payment_intent_id: str,
    intent_status: str | None,
    capture_method: str | None = None,
    *,
    operation_id: str | None = None,
) -> IntentLink:
    """The link of a PaymentIntent to a Payment of the local (standalone) tables, as the checkout page and the
    webhooks record it."""
    return IntentLink(
        payment_intent_id=payment_intent_id,
        client_name=STANDALONE_CLIENT,
        payment_id=str(payment["paymentId"]),
        payment_gateway_config_id=payment_gateway_config_id,
        operation_id=operation_id,
        order_id=payment.get("orderId"),
        order_part_seq_id=payment.get("orderPartSeqId"),
        capture_method=capture_method,
        intent_status=intent_status,
        amount=payment.get("amount"),
        amount_uom_id=payment.get("amountUomId"),
    )
