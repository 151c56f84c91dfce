"""Where the checkout's order and Payment live: Mantle's rules in this process (standalone), or a Moqui reached through
the component's REST resources (`moqui.base_url`).

The page's rules (order_check.py) and its PaymentIntent (checkout_payment.py) are the same either way; only reading
the order, adding the Payment and recording the paid PaymentIntent differ:

| step                | standalone (`LocalCheckoutSide`)          | with a Moqui (`MoquiCheckoutSide`)               |
| ------------------- | ----------------------------------------- | ------------------------------------------------ |
| read the order      | the local tables                          | GET .../orders/{orderId}/checkout                |
| add the Payment     | add#OrderPartPayment (local rules)        | POST .../parts/{seq}/payments                    |
| record it once paid | authorize#SinglePayment, then place#Order | POST .../parts/{seq}/checkoutPayments (both, in  |
|                     |                                           | one Moqui transaction)                           |
| gateway API client  | `standalone`                              | the Moqui's client (`moqui.client_name`)         |

With a Moqui, its authorize#Payment (called by Mantle's authorize#SinglePayment) reaches the gateway API as the
Moqui's client and names the page's PaymentIntent (Payment.paymentRefNum), which the page made as that client: it is
found authorized and nothing is written to Stripe again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import stripe

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from moqui_bridge.mantle.remote_moqui import CheckoutPayment, RemoteMantleSide
from moqui_bridge.mantle.side import MantleSide
from moqui_bridge.moqui_rest_client import (
    MoquiConnectionError,
    MoquiRateLimitedError,
    MoquiRestError,
    MoquiServerError,
)
from moqui_bridge.service import ServiceError
from service.checkout.order_check import PAID_STATUSES, CheckoutSide, OrderSnapshot, gateway_unavailable
from service.config import Settings
from service.context import STANDALONE_CLIENT
from service.stripe_gateway.outcome import field_value

__all__ = [
    "MANTLE_PROBLEMS",
    "MOQUI_UNAVAILABLE",
    "LocalCheckoutSide",
    "MoquiCheckoutSide",
    "checkout_side",
]

log = logging.getLogger(__name__)

Record = dict[str, Any]

# What the Mantle side raises: the local rules' Moqui errors, or a remote Moqui's REST failures.
MANTLE_PROBLEMS: Final = (ServiceError, MoquiRestError)
# A Moqui that cannot answer now (down, overloaded, too slow): worth trying again later, nothing was refused.
MOQUI_UNAVAILABLE: Final = (MoquiConnectionError, MoquiServerError, MoquiRateLimitedError)


@dataclass(frozen=True)
class LocalCheckoutSide:
    """The order and its Payments in this service's own tables, moved by the ported Mantle rules."""

    entity: EntityFacade
    mantle: MantleSide
    place_order: bool
    client_name: str = STANDALONE_CLIENT

    async def read_order(self, order_id: str, default_gateway_config_id: str) -> OrderSnapshot | None:
        """The order, its parts and Payments, and the card gateway of its store (else the default)."""
        entity = self.entity
        order = await entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
        if order is None:
            return None
        parts = await entity.find(names.ORDER_PART, {"orderId": order_id}, order_by=["orderPartSeqId"])
        payments = await entity.find(names.PAYMENT, {"orderId": order_id}, order_by=["-paymentId"])
        config_id = default_gateway_config_id
        if order.get("productStoreId"):
            store_gateway = await entity.find_one(
                names.STORE_GATEWAY,
                {"productStoreId": order["productStoreId"], "paymentInstrumentEnumId": names.PI_CREDIT_CARD},
            )
            if store_gateway is not None and store_gateway.get("paymentGatewayConfigId"):
                config_id = str(store_gateway["paymentGatewayConfigId"])
        config = await entity.find_one(names.GATEWAY_CONFIG, {"paymentGatewayConfigId": config_id})
        return OrderSnapshot(order, tuple(parts), tuple(payments), config_id, config)

    async def add_payment(
        self, order_id: str, order_part_seq_id: str, amount: Decimal, payment_gateway_config_id: str
    ) -> Record:
        """add#OrderPartPayment through the local rules, read back."""
        payment_id = await self.mantle.add_order_part_payment(
            order_id, order_part_seq_id, amount, None, payment_gateway_config_id
        )
        payment = await self.entity.find_one(names.PAYMENT, {"paymentId": payment_id})
        if payment is None:
            raise RuntimeError(f"Payment {payment_id} made by add#OrderPartPayment cannot be read back")
        return payment

    async def record_paid(self, payment: Record, intent: stripe.PaymentIntent) -> str | None:
        """authorize#SinglePayment (our authorize#Payment finds the PaymentIntent authorized), then place#Order."""
        status = payment.get("statusId")
        if status not in PAID_STATUSES:
            status = (await self.mantle.authorize_payment(str(payment["paymentId"]))).status_id
        if status in PAID_STATUSES:
            await self.place_paid_order(str(payment["orderId"]))
        return status

    async def place_paid_order(self, order_id: str) -> None:
        """place#Order when configured and the order is still open; a failure is logged (the payment is recorded,
        the application can still place the order itself)."""
        if not self.place_order:
            return
        order = await self.entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
        if order is None or order.get("statusId") != names.ORDER_OPEN:
            return
        try:
            await self.mantle.place_order(order_id)
        except MANTLE_PROBLEMS:
            log.exception("checkout: placing order %s after its payment failed", order_id)


def _decimal(value: Any) -> Any:
    # Moqui writes BigDecimal as a JSON number: one without a fraction reads as an int.
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _moqui_record(value: Any, *amounts: str) -> Record:
    record = dict(value) if isinstance(value, dict) else {}
    for name in amounts:
        if name in record:
            record[name] = _decimal(record[name])
    return record


def _moqui_records(value: Any, *amounts: str) -> tuple[Record, ...]:
    return tuple(_moqui_record(item, *amounts) for item in value) if isinstance(value, list) else ()


def moqui_checkout_payment(payment: Record, intent: stripe.PaymentIntent, *, place_order: bool) -> CheckoutPayment:
    """record#CheckoutPayment's request for a checkout Payment (or its PaymentIntent link, which has the same
    fields) and its authorized PaymentIntent."""
    method = field_value(intent, "payment_method")
    method_id = method if isinstance(method, str) or method is None else field_value(method, "id")
    return CheckoutPayment(
        order_id=str(payment["orderId"]),
        order_part_seq_id=str(payment["orderPartSeqId"]),
        payment_intent_id=intent.id,
        payment_gateway_config_id=str(payment["paymentGatewayConfigId"]),
        stripe_payment_method_id=method_id,
        amount=None,
        place_order=place_order,
        payment_id=str(payment["paymentId"]),
    )


@dataclass(frozen=True)
class MoquiCheckoutSide:
    """The order and its Payments in a Moqui, read and moved through the component's REST resources."""

    moqui: RemoteMantleSide
    client_name: str
    place_order: bool

    async def read_order(self, order_id: str, default_gateway_config_id: str) -> OrderSnapshot | None:
        """get#CheckoutOrder: the order, its parts and Payments, the card gateway Moqui chose and its config."""
        answer = await self.moqui.checkout_order(order_id, default_gateway_config_id)
        order = answer.get("orderHeader")
        if not isinstance(order, dict):
            return None
        config = answer.get("paymentGatewayConfig")
        return OrderSnapshot(
            order=_moqui_record(order, "grandTotal"),
            parts=_moqui_records(answer.get("orderParts"), "partTotal"),
            payments=_moqui_records(answer.get("payments"), "amount"),
            payment_gateway_config_id=str(answer.get("paymentGatewayConfigId") or default_gateway_config_id),
            gateway_config=config if isinstance(config, dict) else None,
            items=_moqui_records(answer.get("orderItems"), "quantity", "unitAmount"),
        )

    async def add_payment(
        self, order_id: str, order_part_seq_id: str, amount: Decimal, payment_gateway_config_id: str
    ) -> Record:
        """add#CheckoutPayment: the Payment as Moqui made it."""
        payment = await self.moqui.add_checkout_payment(order_id, order_part_seq_id, amount, payment_gateway_config_id)
        return _moqui_record(payment, "amount")

    async def record_paid(self, payment: Record, intent: stripe.PaymentIntent) -> str | None:
        """record#CheckoutPayment: Mantle's authorize#SinglePayment and, when configured, place#Order in Moqui."""
        recorded = await self.moqui.record_checkout_payment(
            moqui_checkout_payment(payment, intent, place_order=self.place_order)
        )
        return recorded.payment_status_id

    async def place_paid_order(self, order_id: str) -> None:
        """Nothing: record#CheckoutPayment placed the order in the transaction that recorded its payment."""


def checkout_side(settings: Settings, entity: EntityFacade, mantle: MantleSide) -> CheckoutSide:
    """The side for the configured deployment; CheckoutRefused (gateway_not_configured) when a Moqui is configured
    but which api key's client it is cannot be told (several keys and no `moqui.client_name`)."""
    place_order = settings.checkout.place_order
    if not isinstance(mantle, RemoteMantleSide):
        return LocalCheckoutSide(entity, mantle, place_order)
    client_name = settings.moqui_client_name()
    if client_name is None:
        log.error("checkout: moqui.client_name is not set and several api keys are configured")
        raise gateway_unavailable()
    return MoquiCheckoutSide(mantle, client_name, place_order)
