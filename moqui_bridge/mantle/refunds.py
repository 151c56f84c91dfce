"""Mantle's refund rule (refund#SinglePayment) and recording a refund the gateway made on its own.

A refund never changes the refunded Payment's status: it is a new Payment (type PtRefund, parties swapped) in
Delivered, pointing back with refundForPaymentId. Its paymentRefNum is the gateway's reference of the refund, which
is how a refund already recorded is recognised when the same gateway refund is reported again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from moqui_bridge.mantle import gateway, names
from moqui_bridge.mantle.context import MantleContext, now_timestamp
from moqui_bridge.mantle.records import Record, load_payment, load_payment_method, other_refunded_total, shown_amount
from moqui_bridge.mantle.rule_call import PaymentOutcome, RuleCall, leased_rule_call
from moqui_bridge.mantle.status import change_payment_status, require_transition
from moqui_bridge.service.errors import ServiceError

_REFUNDABLE = frozenset({names.PMNT_DELIVERED, names.PMNT_CONFIRMED})


def _require_refundable(payment: Mapping[str, Any]) -> None:
    if payment.get("statusId") not in _REFUNDABLE:
        raise ServiceError(
            f"Payment {payment['paymentId']} must be delivered (captured) or confirmed to refund, "
            f"but is {payment.get('statusId')}"
        )


def _check_amount(payment_id: str, amount: Decimal, refundable: Decimal) -> None:
    if amount <= 0:
        raise ServiceError(f"Refund amount must be greater than zero, got {shown_amount(amount)}")
    if amount > refundable:
        raise ServiceError(
            f"Refund amount {shown_amount(amount)} is more than the {shown_amount(refundable)} left to refund "
            f"on Payment {payment_id}"
        )


async def refund_payment(
    call: RuleCall, payment_id: str, amount: Decimal | None = None, refund_payment_id: str | None = None
) -> PaymentOutcome:
    """refund#SinglePayment inside an open rule call (the caller holds the payment's lock).

    ``amount`` defaults to the given refund Payment's amount, else to what is left to refund. On the gateway's
    success the refund Payment is recorded (created, or ``refund_payment_id`` moved to Delivered).
    """
    entity = call.entity
    payment = await load_payment(entity, call.connection, payment_id)
    _require_refundable(payment)
    refund_record = None
    if refund_payment_id:
        refund_record = await entity.find_one(
            names.PAYMENT, {"paymentId": refund_payment_id}, connection=call.connection
        )
        if refund_record is None:
            raise ServiceError(f"Refund Payment {refund_payment_id} not found")
        if refund_record.get("refundForPaymentId") not in (None, payment_id):
            raise ServiceError(
                f"Refund Payment {refund_payment_id} is for Payment {refund_record['refundForPaymentId']}, "
                f"not {payment_id}"
            )
        if refund_record.get("statusId") in _REFUNDABLE:
            raise ServiceError(f"Refund Payment {refund_payment_id} has already been delivered")
        await require_transition(
            entity, call.connection, f"Payment {refund_payment_id}", refund_record.get("statusId"), names.PMNT_DELIVERED
        )
    refundable = (payment.get("amount") or Decimal(0)) - await other_refunded_total(
        entity, call.connection, payment_id, exclude_payment_id=refund_payment_id
    )
    if amount is None:
        amount = (refund_record or {}).get("amount") or refundable
    _check_amount(payment_id, amount, refundable)

    payment_method = await load_payment_method(entity, call.connection, payment)
    configured = await call.gateway_service(payment, payment_method, "refund", "not refunding")
    if configured is None:
        return PaymentOutcome(payment, messages=call.messages)
    config_id, _config, implementation = configured

    payment, response = await call.run_gateway_operation(
        implementation, {"paymentId": payment_id, "amount": amount, "paymentGatewayConfigId": config_id}
    )
    outcome = PaymentOutcome(payment, response, call.messages)
    if gateway.succeeded(response):
        assert response is not None
        refund = await record_refund_payment(call, payment, amount, response, refund_record)
        outcome.refund_payment_id = str(refund["paymentId"])
    return outcome


async def find_recorded_refund(call: RuleCall, payment_id: str, reference_num: Any) -> Record | None:
    """The refund Payment already recorded for a gateway refund reference, if any."""
    if not reference_num:
        return None
    found = await call.entity.find(
        names.PAYMENT,
        {"refundForPaymentId": payment_id, "paymentRefNum": str(reference_num)},
        order_by=["paymentId"],
        limit=1,
        connection=call.connection,
    )
    return found[0] if found else None


def refund_reference(response: Mapping[str, Any]) -> Any:
    """What names one refund at the gateway: the PGR's subReference (the refund's own id) where the gateway gives
    one, else its referenceNum. The referenceNum alone is shared by every refund of a payment at gateways (Stripe)
    that reference the original transaction there, so matching on it would take a second refund for the first."""
    return response.get("subReference") or response.get("referenceNum")


async def record_refund_payment(
    call: RuleCall,
    payment: Mapping[str, Any],
    amount: Decimal,
    response: Mapping[str, Any],
    refund_record: Record | None = None,
) -> Record:
    """Record a refund the gateway made: the refund Payment in Delivered (reused if this reference is recorded)."""
    entity = call.entity
    payment_id = str(payment["paymentId"])
    recorded = await find_recorded_refund(call, payment_id, refund_reference(response))
    if recorded is not None:
        return recorded
    fields: dict[str, Any] = {
        "amount": amount,
        # The refund goes back the way the money came: the methods swap, like the parties.
        "paymentMethodId": payment.get("toPaymentMethodId"),
        "toPaymentMethodId": payment.get("paymentMethodId"),
        "refundForPaymentId": payment_id,
        "effectiveDate": now_timestamp(),
        "paymentRefNum": refund_reference(response),
    }
    if refund_record is not None:
        return await change_payment_status(entity, await call.writing(), refund_record, names.PMNT_DELIVERED, fields)
    return await entity.create(
        names.PAYMENT,
        {
            **fields,
            "paymentTypeEnumId": names.PT_REFUND,
            "statusId": names.PMNT_DELIVERED,
            "fromPartyId": payment.get("toPartyId"),
            "toPartyId": payment.get("fromPartyId"),
            "paymentInstrumentEnumId": payment.get("paymentInstrumentEnumId"),
            "paymentGatewayConfigId": response.get("paymentGatewayConfigId") or payment.get("paymentGatewayConfigId"),
            "amountUomId": payment.get("amountUomId"),
        },
        connection=await call.writing(),
    )


@dataclass(frozen=True)
class RecordedRefund:
    """A gateway refund recorded in Mantle: the refund Payment, and whether this call created it."""

    payment_id: str
    refund_payment_id: str
    created: bool


async def record_gateway_refund(
    context: MantleContext, payment_id: str, amount: Decimal, payment_gateway_response_id: str
) -> RecordedRefund:
    """Record a refund made outside Mantle (e.g. in the gateway's dashboard) whose PGR is already written.

    No gateway call: the money has moved. Reporting the same refund again returns the refund Payment recorded first.
    """
    async with leased_rule_call(context, "payment", payment_id) as call:
        await call.writing()  # no gateway call: the reads and the write are one unit
        payment = await load_payment(call.entity, call.connection, payment_id)
        response = await call.entity.find_one(
            names.GATEWAY_RESPONSE,
            {"paymentGatewayResponseId": payment_gateway_response_id},
            connection=call.connection,
        )
        if response is None or response.get("paymentId") != payment_id:
            raise ServiceError(
                f"PaymentGatewayResponse {payment_gateway_response_id} for Payment {payment_id} not found"
            )
        recorded = await find_recorded_refund(call, payment_id, refund_reference(response))
        if recorded is not None:
            return RecordedRefund(payment_id, str(recorded["paymentId"]), created=False)
        _require_refundable(payment)
        refundable = (payment.get("amount") or Decimal(0)) - await other_refunded_total(
            call.entity, call.connection, payment_id
        )
        _check_amount(payment_id, amount, refundable)
        refund = await record_refund_payment(call, payment, amount, response)
        return RecordedRefund(payment_id, str(refund["paymentId"]), created=True)
