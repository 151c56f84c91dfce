"""Mantle's authorization rules: authorize#SinglePayment, authorize#StorePayment and authorize#OrderPayments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from moqui_bridge.mantle import gateway, names
from moqui_bridge.mantle.context import MantleContext
from moqui_bridge.mantle.records import (
    Record,
    delivered_date,
    load_order,
    load_payment,
    load_payment_method,
    update_payment,
)
from moqui_bridge.mantle.rule_call import PaymentOutcome, RuleCall, leased_rule_call
from moqui_bridge.mantle.status import change_payment_status, require_transition

_ALREADY_CAPTURED = frozenset({names.PMNT_DELIVERED, names.PMNT_CONFIRMED})
_NEVER_AUTHORIZED = frozenset({names.PMNT_CANCELLED, names.PMNT_VOID})
_COUNTS_AS_AUTHORIZED = frozenset({names.PMNT_AUTHORIZED, names.PMNT_DELIVERED, names.PMNT_CONFIRMED})


async def authorize_payment(
    call: RuleCall,
    payment_id: str,
    *,
    config_id: str | None = None,
    card_security_code: str | None = None,
    product_store_id: str | None = None,
) -> PaymentOutcome:
    """authorize#SinglePayment (and, with a product store, authorize#StorePayment) inside an open rule call.

    The caller holds the payment's lock. Declines and gateway errors are results, not exceptions; a ServiceError is
    raised only for a payment whose status cannot become Authorized, or a dangling gateway config id.
    """
    entity = call.entity
    payment = await load_payment(entity, call.connection, payment_id)
    status = payment.get("statusId")
    if status in _ALREADY_CAPTURED:
        call.note(f"Payment {payment_id} is already delivered (captured), not authorizing")
        return PaymentOutcome(payment, messages=call.messages)
    if status in _NEVER_AUTHORIZED:
        call.note(f"Payment {payment_id} is {status}, not authorizing")
        return PaymentOutcome(payment, messages=call.messages)
    # Refuse before the gateway moves money for a payment that could never record it.
    await require_transition(entity, call.connection, f"Payment {payment_id}", status, names.PMNT_AUTHORIZED)

    if not payment.get("amount"):
        # Nothing to hold: Mantle marks a zero payment authorized and delivered without a gateway (one write unit).
        connection = await call.writing()
        payment = await change_payment_status(entity, connection, payment, names.PMNT_AUTHORIZED)
        payment = await change_payment_status(
            entity, connection, payment, names.PMNT_DELIVERED, {"effectiveDate": delivered_date(payment)}
        )
        return PaymentOutcome(payment, messages=call.messages)

    payment_method = await load_payment_method(entity, call.connection, payment)
    chosen_config_id = await gateway.config_id_for_authorize(
        entity, call.connection, payment, payment_method, config_id, product_store_id
    )
    if chosen_config_id is None:
        call.note(f"No payment gateway is configured for Payment {payment_id}, not authorizing")
        return PaymentOutcome(payment, messages=call.messages)
    config = await gateway.load_config(entity, call.connection, chosen_config_id)
    implementation = gateway.service_name(config, "authorize")
    if implementation is None:
        call.note(f"Payment gateway {chosen_config_id} has no authorize service, not authorizing Payment {payment_id}")
        return PaymentOutcome(payment, messages=call.messages)
    payment, response = await call.run_gateway_operation(
        implementation,
        {"paymentId": payment_id, "cardSecurityCode": card_security_code, "paymentGatewayConfigId": chosen_config_id},
    )
    if not payment.get("paymentGatewayConfigId"):
        # Mantle writes it before the call in the transaction that then records the answer; here it goes into the
        # write unit holding the PGR, so a gateway error leaves it unwritten just the same.
        payment = await update_payment(
            entity, await call.writing(), payment, {"paymentGatewayConfigId": chosen_config_id}
        )
    payment = await apply_authorize_response(call, payment, chosen_config_id, response)
    return PaymentOutcome(payment, response, call.messages)


async def apply_authorize_response(
    call: RuleCall, payment: Record, config_id: str, response: Mapping[str, object] | None
) -> Record:
    """Move the Payment as an authorization's PGR says: success -> Authorized (Delivered for authorize-and-capture),
    decline -> Declined, anything else (error, NSF-only, no PGR) -> unchanged. Written in the write unit that holds
    the PGR."""
    entity = call.entity
    if gateway.succeeded(response):
        assert response is not None
        connection = await call.writing()
        payment = await change_payment_status(
            entity,
            connection,
            payment,
            names.PMNT_AUTHORIZED,
            {
                "paymentGatewayConfigId": config_id,
                "paymentAuthCode": response.get("approvalCode"),
                "paymentRefNum": response.get("referenceNum"),
            },
        )
        if response.get("paymentOperationEnumId") == names.PGO_AUTH_AND_CAPTURE:
            payment = await change_payment_status(
                entity, connection, payment, names.PMNT_DELIVERED, {"effectiveDate": delivered_date(payment)}
            )
        await _forget_card_security_code(call, payment)
    elif gateway.declined(response):
        payment = await change_payment_status(
            entity, await call.writing(), payment, names.PMNT_DECLINED, {"paymentGatewayConfigId": config_id}
        )
    return payment


async def _forget_card_security_code(call: RuleCall, payment: Mapping[str, object]) -> None:
    # PCI: a card's security code may be kept only until the authorization is done.
    payment_method_id = payment.get("paymentMethodId")
    if not payment_method_id:
        return
    key = {"paymentMethodId": payment_method_id}
    card = await call.entity.find_one(names.CREDIT_CARD, key, connection=call.connection)
    if card is not None and card.get("cardSecurityCode") is not None:
        await call.entity.update(names.CREDIT_CARD, key, {"cardSecurityCode": None}, connection=await call.writing())


@dataclass
class OrderAuthorization:
    """What authorize#OrderPayments did: None for both when the order has no product store (nothing tried)."""

    auth_failed: bool | None = None
    total_authorized: Decimal | None = None
    messages: list[str] = field(default_factory=list)


async def authorize_order_payments(
    context: MantleContext,
    order_id: str,
    card_security_codes: Mapping[str, str] | None = None,
    *,
    placing: bool = False,
) -> OrderAuthorization:
    """authorize#OrderPayments: authorize every open payment of an order through its product store's gateways.

    Each payment is authorized in its own rule call under its own lease, so one payment's gateway answer is
    recorded even when a later payment of the same order fails. ``placing``: place#Order calls it before it writes
    the placement, so the order counts as Placed.
    """
    entity = context.entity
    order = await load_order(entity, None, order_id)
    outcome = OrderAuthorization()
    product_store_id = order.get("productStoreId")
    if not product_store_id:
        outcome.messages.append(f"Order {order_id} has no product store, not authorizing its payments")
        return outcome
    outcome.auth_failed = False
    outcome.total_authorized = Decimal(0)
    payments = await entity.find(names.PAYMENT, {"orderId": order_id}, order_by=["paymentId"])
    for payment in payments:
        status = payment.get("statusId")
        # Refunds point at the order only for reference; they are not money toward it.
        if status in _NEVER_AUTHORIZED or payment.get("refundForPaymentId"):
            continue
        if status in _COUNTS_AS_AUTHORIZED:
            outcome.total_authorized += payment.get("amount") or Decimal(0)
            continue
        if not payment.get("paymentMethodId") and not payment.get("finAccountId"):
            continue
        payment_id = str(payment["paymentId"])
        async with leased_rule_call(context, "payment", payment_id) as call:
            result = await authorize_payment(
                call,
                payment_id,
                card_security_code=(card_security_codes or {}).get(payment_id),
                product_store_id=str(product_store_id),
            )
        outcome.messages.extend(result.messages)
        if result.payment.get("statusId") in _COUNTS_AS_AUTHORIZED:
            counted = result.response.get("amount") if gateway.succeeded(result.response) and result.response else None
            outcome.total_authorized += counted or result.payment.get("amount") or Decimal(0)
        else:
            outcome.auth_failed = True
            outcome.messages.append(_failure_message(payment_id, result.response))
    if (placing or order.get("statusId") == names.ORDER_PLACED) and outcome.total_authorized >= (
        order.get("grandTotal") or 0
    ):
        # Mantle would now run autoApprove#Order; approval rules are outside this subset.
        outcome.messages.append(f"Order {order_id} payments are authorized for the grand total")
    return outcome


def _failure_message(payment_id: str, response: Mapping[str, object] | None) -> str:
    if response is not None:
        if response.get("resultNsf") == "Y":
            return f"Payment {payment_id} has insufficient funds"
        if response.get("resultBadExpire") == "Y":
            return f"Payment {payment_id} has an invalid expiration date"
        if response.get("resultBadCardNumber") == "Y":
            return f"Payment {payment_id} has an invalid card number"
        if response.get("resultDeclined") == "Y":
            return f"Payment {payment_id} was declined"
    return f"Payment {payment_id} could not be authorized"
