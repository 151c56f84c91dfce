"""The checkout's Mantle Payment and its one PaymentIntent: made on the first visit, found again on every reload.

This is the "create or reuse the checkout PaymentIntent for a payment" step, built on the payment services' intent
link (`stripe.StripePaymentIntent`) and the gateway's typed Stripe calls. It lives here rather than with the six
gateway services because only the checkout makes a PaymentIntent that the shopper confirms in the browser.

Reload and double-click safety, in three layers:

1. an advisory lock per order (`checkout-order:<orderId>`) serializes the find-or-create of the Payment and the
   PaymentIntent across requests and processes;
2. an existing Promised (or declined) checkout Payment of the right amount is reused, and its linked PaymentIntent
   with it, unless Stripe canceled that one;
3. the PaymentIntent is created with an idempotency key from our ids,
   `moqui-stripe/<paymentGatewayConfigId>/<paymentId>/checkout/<n>` (n = PaymentIntents this Payment had before), so
   a crash between Stripe's answer and our intent link makes the next visit get the same PaymentIntent back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import stripe

from moqui_bridge.entity import EntityFacade, advisory_lock
from moqui_bridge.mantle import names
from moqui_bridge.mantle.side import MantleSide
from service.checkout.order_check import PayableOrder, checkout_payments
from service.context import ServiceContext
from service.payment_services.intent_link import PAYMENT_INTENT_LINK, current_intent_id, record_intent
from service.payment_services.outcome_records import intent_link_for_payment
from service.stripe_gateway.idempotency import KEY_PREFIX, key_segment
from service.stripe_gateway.operations import (
    PaymentIntentRequest,
    StripeIntegrityError,
    check_intent_amount,
    create_payment_intent,
    metadata_value,
    retrieve_payment_intent,
)

__all__ = [
    "CHECKOUT_OPERATION",
    "CheckoutPayment",
    "checkout_idempotency_key",
    "checkout_lock",
    "prepare_checkout_payment",
    "reuse_or_create_intent",
]

Record = dict[str, Any]

# Its own operation name in idempotency keys: never the same key as authorize#Payment's on the same payment.
CHECKOUT_OPERATION: Final = "checkout"
_OPEN_STATUSES: Final = frozenset({names.PMNT_PROMISED, names.PMNT_DECLINED})


@dataclass(frozen=True)
class CheckoutPayment:
    """The Payment the shopper pays and the PaymentIntent they confirm (its client secret goes to the page)."""

    payment: Record
    intent: stripe.PaymentIntent

    @property
    def payment_id(self) -> str:
        """The Mantle paymentId."""
        return str(self.payment["paymentId"])


def checkout_idempotency_key(payment_gateway_config_id: str, payment_id: str, attempt: int) -> str:
    """The Idempotency-Key of the checkout's `attempt`-th PaymentIntent for a Payment (0 for the first)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # The gateway services' key layout with an operation of the checkout's own (not a GatewayOperation).
    parts = (
        KEY_PREFIX,
        key_segment("paymentGatewayConfigId", payment_gateway_config_id),
        key_segment("paymentId", payment_id),
        CHECKOUT_OPERATION,
    )
    return "/".join((*parts, str(attempt)))


# Connections a checkout holds at once: the lock's transaction, a statement of its own and a sequence-bank refill
# under a create. The Mantle rule calls (add#OrderPartPayment) it makes are admitted under their own kind.
_CONNECTIONS_PER_CHECKOUT: Final = 3


@asynccontextmanager
async def checkout_lock(entity: EntityFacade, order_id: str) -> AsyncIterator[None]:
    """Hold the order's checkout lock for the body (a transaction of its own; never a row lock on Moqui's rows).

    Admitted first, so that concurrent checkouts each holding a lock connection cannot starve one another of the
    connections their bodies take next.
    """
    async with (
        entity.admission("checkout", _CONNECTIONS_PER_CHECKOUT),
        entity.transaction() as connection,
        advisory_lock(connection, f"checkout-order:{order_id}"),
    ):
        yield


def _check_matches(intent: stripe.PaymentIntent, payment: Record) -> None:
    # A linked PaymentIntent for another amount or payment must never be shown to the shopper to confirm. Unlike
    # the gateway's echo check, a PaymentIntent without our metadata passes on its amount and currency alone.
    payment_id = metadata_value(intent, "paymentId")
    if payment_id not in (None, str(payment["paymentId"])):
        raise StripeIntegrityError(intent.id, "metadata.paymentId", payment["paymentId"], payment_id)
    check_intent_amount(intent, payment["amount"], str(payment["amountUomId"]))


async def _record_link(context: ServiceContext, intent: stripe.PaymentIntent, payment: Record, config_id: str) -> None:
    link = intent_link_for_payment(payment, config_id, intent.id, intent.status, intent.capture_method)
    await record_intent(context.entity, link)


async def reuse_or_create_intent(
    context: ServiceContext, payment: Record, payable: PayableOrder
) -> stripe.PaymentIntent:
    """The Payment's current PaymentIntent unless Stripe canceled it, else a new one (not confirmed: the browser
    confirms it with the card). Call it under `checkout_lock`. Raises stripe.StripeError subclasses when Stripe
    cannot be reached, StripeRequestRejected / StripeIntegrityError when Stripe's answer cannot be used."""
    entity = context.entity
    gateway = context.gateways.get(payable.payment_gateway_config_id)
    intent_id = await current_intent_id(entity, payment)
    if intent_id is not None:
        intent = await retrieve_payment_intent(gateway, intent_id)
        if intent.status != "canceled":
            _check_matches(intent, payment)
            await _record_link(context, intent, payment, payable.payment_gateway_config_id)
            return intent
    earlier = await entity.find(PAYMENT_INTENT_LINK, {"paymentId": payment["paymentId"]})
    request = PaymentIntentRequest(
        payment_id=str(payment["paymentId"]),
        amount=payment["amount"],
        currency=str(payment["amountUomId"]),
        capture_method="automatic" if payable.capture_method == "automatic" else "manual",
        confirm=False,
        order_id=payable.order_id,
        description=payable.order_name[:255],
        metadata={"orderPartSeqId": payable.order_part_seq_id},
    )
    key = checkout_idempotency_key(payable.payment_gateway_config_id, str(payment["paymentId"]), len(earlier))
    intent = await create_payment_intent(gateway, request, idempotency_key=key)
    await _record_link(context, intent, payment, payable.payment_gateway_config_id)
    return intent


async def prepare_checkout_payment(
    context: ServiceContext, mantle: MantleSide, payable: PayableOrder
) -> CheckoutPayment:
    """Find or make (through the Mantle side: add#OrderPartPayment) the Payment for what is due, and its
    PaymentIntent, under the order's checkout lock."""
    entity = context.entity
    async with checkout_lock(entity, payable.order_id):
        # Read again under the lock: a request that held it may have just made the Payment.
        ours = await checkout_payments(
            entity, payable.order_id, payable.order_part_seq_id, payable.payment_gateway_config_id
        )
        payment = next(
            (
                candidate
                for candidate in ours
                if candidate.get("statusId") in _OPEN_STATUSES and candidate.get("amount") == payable.amount_due
            ),
            None,
        )
        if payment is None:
            payment_id = await mantle.add_order_part_payment(
                payable.order_id, payable.order_part_seq_id, payable.amount_due, None, payable.payment_gateway_config_id
            )
            payment = await entity.find_one(names.PAYMENT, {"paymentId": payment_id})
            if payment is None:
                raise RuntimeError(f"Payment {payment_id} made by add#OrderPartPayment cannot be read back")
        intent = await reuse_or_create_intent(context, payment, payable)
    return CheckoutPayment(payment, intent)
