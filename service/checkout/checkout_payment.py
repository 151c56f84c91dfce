"""The checkout's Mantle Payment and its one PaymentIntent: made on the first visit, found again on every reload.

The PaymentIntent is created through the gateway API's journal and key scheme (docs/payment-services.md), as the
client whose Payment it is (`standalone` for the local tables, the Moqui's client when a Moqui holds the order, see
checkout_side.py): a journal row per attempt (operation `checkout`, attemptNum = PaymentIntents the Payment had
before), the key `moqui-stripe/v1/<installationId>/<operationId>`, and the PaymentIntent link recorded with the row.
A later authorize of the Payment by that client names this PaymentIntent and finds it already authorized.

Reload and double-click safety, in three layers:

1. the order's lease (order_lease.py), held by the page for its whole request, serializes the read of the order and
   the find-or-create of the Payment and the PaymentIntent across requests, processes and hosts, without holding a
   database connection while Stripe or Moqui is called;
2. an existing Promised (or declined) checkout Payment of the right amount is reused, and its linked PaymentIntent
   with it, unless Stripe canceled that one;
3. a create whose answer was lost (its journal row never completed) is sent again with its own key on the next
   visit, so Stripe answers with the PaymentIntent it made the first time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import stripe

from service.checkout.order_check import CheckoutSide, PayableOrder
from service.context import ServiceContext
from service.payment_services.gateway_call import GatewayCall
from service.payment_services.intent_link import PAYMENT_INTENT_LINK, current_intent_id, record_intent, standalone_link
from service.payment_services.journal import (
    SGO_COMPLETED,
    JournaledRequest,
    begin_attempt,
    find_attempt,
    finish_attempt,
)
from service.payment_services.stripe_writes import CHECKOUT_AUTOMATIC, CHECKOUT_MANUAL, send_write
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import (
    StripeIntegrityError,
    check_intent_amount,
    metadata_value,
    retrieve_payment_intent,
)

__all__ = [
    "CheckoutPayment",
    "prepare_checkout_payment",
    "reuse_or_create_intent",
]

Record = dict[str, Any]


@dataclass(frozen=True)
class CheckoutPayment:
    """The Payment the shopper pays and the PaymentIntent they confirm (its client secret goes to the page)."""

    payment: Record
    intent: stripe.PaymentIntent

    @property
    def payment_id(self) -> str:
        """The Mantle paymentId."""
        return str(self.payment["paymentId"])


def _check_matches(intent: stripe.PaymentIntent, payment: Record) -> None:
    # A linked PaymentIntent for another amount or payment must never be shown to the shopper to confirm. Unlike
    # the gateway's echo check, a PaymentIntent without our metadata passes on its amount and currency alone.
    payment_id = metadata_value(intent, "paymentId")
    if payment_id not in (None, str(payment["paymentId"])):
        raise StripeIntegrityError(intent.id, "metadata.paymentId", payment["paymentId"], payment_id)
    check_intent_amount(intent, payment["amount"], str(payment["amountUomId"]))


async def _record_link(
    context: ServiceContext,
    client_name: str,
    intent: stripe.PaymentIntent,
    payment: Record,
    config_id: str,
    operation_id: str | None,
) -> None:
    link = standalone_link(
        payment, config_id, intent.id, intent.status, intent.capture_method, operation_id=operation_id
    )
    await record_intent(context.entity, replace(link, client_name=client_name))


async def reuse_or_create_intent(
    context: ServiceContext, client_name: str, payment: Record, payable: PayableOrder
) -> stripe.PaymentIntent:
    """The Payment's current PaymentIntent unless Stripe canceled it, else a new one (not confirmed: the browser
    confirms it with the card), made and linked as the gateway API client `client_name`. Call it under the order's
    lease (order_lease.py). Raises stripe.StripeError subclasses when Stripe cannot be reached, StripeRequestRejected /
    StripeIntegrityError when Stripe's answer cannot be used."""
    entity = context.entity
    config_id = payable.payment_gateway_config_id
    gateway = context.gateways.get(config_id)
    intent_id = await current_intent_id(entity, client_name, payment)
    if intent_id is not None:
        intent = await retrieve_payment_intent(gateway, intent_id)
        if intent.status != "canceled":
            _check_matches(intent, payment)
            await _record_link(context, client_name, intent, payment, config_id, None)
            return intent
    payment_id = str(payment["paymentId"])
    earlier = await entity.find(PAYMENT_INTENT_LINK, {"clientName": client_name, "paymentId": payment_id})
    call = GatewayCall(
        entity,
        gateway,
        context.installation_id,
        client_name,
        payment_id,
        context.deadline,
        context.clock,
        liveness_key=context.liveness_key,
    )
    request = JournaledRequest(
        call.identity(GatewayOperation.CHECKOUT, len(earlier)),
        amount=payment["amount"],
        currency=str(payment["amountUomId"]).upper(),
        order_id=payable.order_id,
        order_part_seq_id=payable.order_part_seq_id,
    )
    attempt = await find_attempt(entity, request.identity, context.installation_id)
    if attempt is not None and attempt.status == SGO_COMPLETED and attempt.row["stripeObjectId"]:
        intent = await retrieve_payment_intent(gateway, str(attempt.row["stripeObjectId"]))
        _check_matches(intent, payment)
        await _record_link(context, client_name, intent, payment, config_id, attempt.operation_id)
        return intent
    if attempt is None:
        kind = CHECKOUT_AUTOMATIC if payable.capture_method == "automatic" else CHECKOUT_MANUAL
        attempt = await begin_attempt(entity, request, kind, context.installation_id, clock=context.clock)
    answer = await send_write(call, attempt)
    if answer.object != "payment_intent":
        raise StripeIntegrityError(answer.id, "object", "payment_intent", answer.object)
    made = answer.as_object(stripe.PaymentIntent)
    await _record_link(context, client_name, made, payment, config_id, attempt.operation_id)
    await finish_attempt(
        entity,
        attempt,
        answer={"paymentIntentId": made.id},
        stripe_object_id=made.id,
        stripe_request_id=None,
        clock=context.clock,
    )
    return made


async def prepare_checkout_payment(
    context: ServiceContext, side: CheckoutSide, payable: PayableOrder
) -> CheckoutPayment:
    """Find or make (through the checkout side: add#OrderPartPayment) the Payment for what is due, and its
    PaymentIntent. Call it under the order's lease (order_lease.py), with `payable` read under it."""
    payment = payable.reusable_payment()
    if payment is None:
        payment = await side.add_payment(
            payable.order_id, payable.order_part_seq_id, payable.amount_due, payable.payment_gateway_config_id
        )
    intent = await reuse_or_create_intent(context, side.client_name, payment, payable)
    return CheckoutPayment(payment, intent)
