"""Mantle's rules after authorization: capture#SinglePayment, release#SinglePayment, get#SinglePaymentGatewayDetails."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.mantle import gateway, names
from moqui_bridge.mantle.authorization import authorize_payment
from moqui_bridge.mantle.context import now_timestamp
from moqui_bridge.mantle.records import (
    Record,
    delivered_date,
    load_payment,
    load_payment_method,
    shown_amount,
    update_payment,
)
from moqui_bridge.mantle.rule_call import PaymentOutcome, RuleCall
from moqui_bridge.mantle.status import change_payment_status
from moqui_bridge.service.errors import ServiceError
from moqui_bridge.service.parameter_types import ConversionError, convert_timestamp

_CAPTURED = frozenset({names.PMNT_DELIVERED, names.PMNT_CONFIRMED})


async def capture_payment(call: RuleCall, payment_id: str, amount: Decimal | None = None) -> PaymentOutcome:
    """capture#SinglePayment inside an open rule call (the caller holds the payment's lock).

    A Promised payment is authorized first; with a details service the gateway's own view is checked before
    capturing, so a payment captured elsewhere is recorded rather than captured twice. A successful capture of less
    than the payment's amount splits the payment (see `_split_partial_capture`; the new id is in the messages).
    """
    entity = call.entity
    payment = await load_payment(entity, call.connection, payment_id)
    status = payment.get("statusId")
    if status in _CAPTURED:
        return await _already_captured(call, payment, amount)
    if status not in (names.PMNT_PROMISED, names.PMNT_AUTHORIZED):
        raise ServiceError(f"Payment {payment_id} must be Promised or Authorized to capture, but is {status}")
    payment_amount = payment.get("amount")
    capture_amount = amount if amount is not None else payment_amount
    if payment_amount and capture_amount is not None:
        if capture_amount <= 0:
            raise ServiceError(f"Capture amount must be greater than zero, got {shown_amount(capture_amount)}")
        if capture_amount > payment_amount:
            raise ServiceError(
                f"Capture amount {shown_amount(capture_amount)} is more than the amount {shown_amount(payment_amount)} "
                f"of Payment {payment_id}"
            )

    just_authorized = False
    if status == names.PMNT_PROMISED:
        authorized = await _authorize_first(call, payment_id)
        if authorized is not None:
            return authorized
        just_authorized = True
        payment = await load_payment(entity, call.connection, payment_id)

    payment_method = await load_payment_method(entity, call.connection, payment)
    configured = await call.gateway_service(payment, payment_method, "capture", "not capturing")
    if configured is None:
        return PaymentOutcome(payment, messages=call.messages)
    config_id, config, implementation = configured

    if not payment.get("paymentRefNum"):
        authorize_response = await gateway.find_authorize_response(entity, call.connection, payment_id)
        if authorize_response is not None and authorize_response.get("referenceNum"):
            # Committed before the capture is sent; harmless if the rule dies after: the PGR says the same.
            payment = await update_payment(
                entity, await call.writing(), payment, {"paymentRefNum": authorize_response["referenceNum"]}
            )
        elif not just_authorized:
            authorized = await _authorize_first(call, payment_id, config_id)
            if authorized is not None:
                return authorized
            just_authorized = True
            payment = await load_payment(entity, call.connection, payment_id)

    details_implementation = gateway.service_name(config, "details")
    if details_implementation is not None and not just_authorized:
        settled = await _check_gateway_status(call, payment, config_id, details_implementation)
        if settled is not None:
            return settled
        payment = await load_payment(entity, call.connection, payment_id)

    payment, response = await call.run_gateway_operation(
        implementation, {"paymentId": payment_id, "amount": capture_amount, "paymentGatewayConfigId": config_id}
    )
    if gateway.succeeded(response):
        payment_amount = payment.get("amount")
        if payment_amount and capture_amount is not None and capture_amount < payment_amount:
            payment = await _split_partial_capture(call, payment, capture_amount)
        else:
            payment = await change_payment_status(
                entity, await call.writing(), payment, names.PMNT_DELIVERED, {"effectiveDate": delivered_date(payment)}
            )
    elif gateway.declined(response):
        payment = await change_payment_status(entity, await call.writing(), payment, names.PMNT_DECLINED)
    return PaymentOutcome(payment, response, call.messages)


async def _already_captured(call: RuleCall, payment: Record, amount: Decimal | None) -> PaymentOutcome:
    """A capture of a payment already captured answers success with the PGR that recorded the capture, whether a
    webhook recorded it before this call or this call's pre-check found it captured in the gateway: the retry of a
    capture whose answer was lost gets the same kind of answer every time. A payment delivered without such a PGR,
    or a capture of another amount, is refused as before."""
    payment_id = str(payment["paymentId"])
    response = await gateway.find_capture_response(call.entity, call.connection, payment_id)
    if response is None or (amount is not None and amount != response.get("amount")):
        raise ServiceError(f"Payment {payment_id} has already been delivered (captured)")
    settled = " and settled" if payment.get("statusId") == names.PMNT_CONFIRMED else ""
    call.note(f"Payment {payment_id} was already captured{settled} in the gateway")
    return PaymentOutcome(payment, response, call.messages)


# What a remainder Payment shares with the partly captured one: who pays whom, with what, for which order part or
# invoice, and how it is accounted. Facts of the capture itself (dates, auth code, reference, financial-account
# transaction, totals, attempts) stay with the captured Payment; the remainder has not been authorized yet.
_REMAINDER_FIELDS: Final = (
    "paymentTypeEnumId",
    "fromPartyId",
    "toPartyId",
    "paymentInstrumentEnumId",
    "paymentMethodId",
    "toPaymentMethodId",
    "paymentGatewayConfigId",
    "orderId",
    "orderPartSeqId",
    "orderItemSeqId",
    "forInvoiceId",
    "finAccountId",
    "overrideGlAccountId",
    "overrideOrgPartyId",
    "amountUomId",
)


async def _split_partial_capture(call: RuleCall, payment: Record, captured: Decimal) -> Record:
    """Deliver the captured part of a Payment and promise the rest as a new Payment; the delivered Payment.

    Mantle leaves Payment.amount at the authorized amount after a partial capture (its apply#OrderPaymentsToInvoice
    has a TODO to split instead), so the Payment overstates what moved and a refund defaulting to it asks for money
    the gateway never took. Here the Payment shrinks to what was captured and the remainder becomes a Promised
    Payment for the same order part, method and gateway, to be authorized and captured later (a later shipment).
    """
    entity = call.entity
    payment_id = str(payment["paymentId"])
    remainder = payment["amount"] - captured
    delivered = await change_payment_status(
        entity,
        await call.writing(),
        payment,
        names.PMNT_DELIVERED,
        {"effectiveDate": delivered_date(payment), "amount": captured},
    )
    created = await entity.create(
        names.PAYMENT,
        {
            **{name: payment.get(name) for name in _REMAINDER_FIELDS},
            "statusId": names.PMNT_PROMISED,
            "amount": remainder,
            "comments": f"Remainder of Payment {payment_id} after a partial capture of {shown_amount(captured)}",
        },
        connection=await call.writing(),
    )
    call.note(
        f"Payment {payment_id} captured {shown_amount(captured)} of {shown_amount(payment['amount'])}; "
        f"the remaining {shown_amount(remainder)} is now Payment {created['paymentId']} (Promised)"
    )
    return delivered


async def _authorize_first(call: RuleCall, payment_id: str, config_id: str | None = None) -> PaymentOutcome | None:
    """Authorize before capturing; the outcome to return when that did not leave the payment Authorized."""
    outcome = await authorize_payment(call, payment_id, config_id=config_id)
    status = outcome.payment.get("statusId")
    if status == names.PMNT_AUTHORIZED:
        return None
    if status in _CAPTURED:
        call.note(f"Payment {payment_id} was captured when it was authorized")
    else:
        call.note(f"Payment {payment_id} could not be authorized, not capturing")
    return outcome


async def _check_gateway_status(
    call: RuleCall, payment: Record, config_id: str, details_implementation: str
) -> PaymentOutcome | None:
    """The capture pre-check: follow the gateway's status; an outcome to return when capture must not go on."""
    entity = call.entity
    payment_id = str(payment["paymentId"])
    # Mantle also passes the Payment itself; implementations only declare these two, so cleaning drops it anyway.
    details = await call.call_gateway(
        details_implementation, {"paymentId": payment_id, "paymentGatewayConfigId": config_id}
    )
    gateway_status = details.get("gatewayStatusId")
    if gateway_status == names.PMNT_PROMISED:
        payment = await change_payment_status(entity, await call.writing(), payment, names.PMNT_PROMISED)
        return await _authorize_first(call, payment_id, config_id)
    if gateway_status in (names.PMNT_DELIVERED, names.PMNT_CONFIRMED):
        # The same moves as a details refresh; only the message differs (capture stops here, so say why).
        payment = await _apply_gateway_status(call, payment, details, announce=False)
        return await _already_captured(call, payment, None)
    if gateway_status in (names.PMNT_DECLINED, names.PMNT_VOID):
        payment = await change_payment_status(entity, await call.writing(), payment, str(gateway_status))
        call.note(f"Payment {payment_id} is {gateway_status} in the gateway, not capturing")
        return PaymentOutcome(payment, messages=call.messages)
    return None


async def release_payment(call: RuleCall, payment_id: str) -> PaymentOutcome:
    """release#SinglePayment inside an open rule call: void the authorization, back to Promised (not Void)."""
    entity = call.entity
    payment = await load_payment(entity, call.connection, payment_id)
    status = payment.get("statusId")
    if status in _CAPTURED:
        raise ServiceError(f"Payment {payment_id} has been delivered (captured), so try a refund instead.")
    if status != names.PMNT_AUTHORIZED:
        raise ServiceError(f"Payment {payment_id} must be in the authorized status to release, but is {status}")
    payment_method = await load_payment_method(entity, call.connection, payment)
    configured = await call.gateway_service(payment, payment_method, "release", "not releasing")
    if configured is None:
        return PaymentOutcome(payment, messages=call.messages)
    config_id, _config, implementation = configured
    payment, response = await call.run_gateway_operation(
        implementation, {"paymentId": payment_id, "paymentGatewayConfigId": config_id}
    )
    if gateway.succeeded(response):
        payment = await change_payment_status(
            entity, await call.writing(), payment, names.PMNT_PROMISED, {"paymentAuthCode": None, "paymentRefNum": None}
        )
    return PaymentOutcome(payment, response, call.messages)


async def refresh_payment_details(call: RuleCall, payment_id: str) -> PaymentOutcome:
    """get#SinglePaymentGatewayDetails inside an open rule call: take the gateway's status when it differs."""
    entity = call.entity
    payment = await load_payment(entity, call.connection, payment_id)
    payment_method = await load_payment_method(entity, call.connection, payment)
    configured = await call.gateway_service(payment, payment_method, "details", "not getting gateway details")
    if configured is None:
        return PaymentOutcome(payment, messages=call.messages)
    config_id, _config, implementation = configured
    details = await call.call_gateway(implementation, {"paymentId": payment_id, "paymentGatewayConfigId": config_id})
    response_id = details.get("paymentGatewayResponseId")
    # A details call writes a PGR only when it learnt something, so there is no fallback search here.
    response = (
        await entity.find_one(
            names.GATEWAY_RESPONSE, {"paymentGatewayResponseId": str(response_id)}, connection=call.connection
        )
        if response_id
        else None
    )
    payment = await load_payment(entity, call.connection, payment_id)
    payment = await _apply_gateway_status(call, payment, details)
    return PaymentOutcome(payment, response, call.messages)


async def _apply_gateway_status(
    call: RuleCall, payment: Record, details: Mapping[str, Any], *, announce: bool = True
) -> Record:
    """Move the Payment to the status a details call reported (through Delivered to Confirmed, dates kept or set);
    the Payment as it now is. `announce` leaves Mantle's "updated from gateway" message when the status changed."""
    entity = call.entity
    gateway_status = details.get("gatewayStatusId")
    effective_date = _timestamp(details.get("effectiveDate"))
    settlement_date = _timestamp(details.get("settlementDate"))
    if not gateway_status:
        return payment
    if gateway_status == payment.get("statusId"):
        if settlement_date is not None and payment.get("settlementDate") is None:
            payment = await update_payment(entity, await call.writing(), payment, {"settlementDate": settlement_date})
        return payment
    if (
        gateway_status in (names.PMNT_DELIVERED, names.PMNT_CONFIRMED)
        and payment.get("statusId") != names.PMNT_DELIVERED
    ):
        # Confirmed is only reachable through Delivered in the status flow. A capture learnt here (its own answer was
        # lost, or a webhook came first) splits the Payment as capture#SinglePayment does when it hears of it itself.
        captured = await _captured_amount(call, details)
        if captured is not None and payment.get("amount") and captured < payment["amount"]:
            payment = await _split_partial_capture(call, payment, captured)
        else:
            payment = await change_payment_status(
                entity,
                await call.writing(),
                payment,
                names.PMNT_DELIVERED,
                {"effectiveDate": effective_date or delivered_date(payment)},
            )
    if gateway_status == names.PMNT_CONFIRMED:
        payment = await change_payment_status(
            entity,
            await call.writing(),
            payment,
            names.PMNT_CONFIRMED,
            {"settlementDate": settlement_date or now_timestamp()},
        )
    elif gateway_status != names.PMNT_DELIVERED:
        payment = await change_payment_status(entity, await call.writing(), payment, str(gateway_status))
    if announce:
        call.note(f"Status for Payment {payment['paymentId']} updated from gateway transaction status")
    return payment


async def _captured_amount(call: RuleCall, details: Mapping[str, Any]) -> Decimal | None:
    """What the gateway captured, from the details call's PGR (None when it wrote none or said no amount)."""
    response_id = details.get("paymentGatewayResponseId")
    if not response_id:
        return None
    response = await call.entity.find_one(
        names.GATEWAY_RESPONSE, {"paymentGatewayResponseId": str(response_id)}, connection=call.connection
    )
    amount = response.get("amount") if response is not None else None
    return amount if isinstance(amount, Decimal) else None


def _timestamp(value: Any) -> Any:
    # Out-parameters of a local call arrive as datetimes; over JSON they may be epoch millis or text.
    if value is None or value == "":
        return None
    try:
        return convert_timestamp(value)
    except ConversionError:
        return None
