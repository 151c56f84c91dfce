"""capture#SinglePayment of less than the payment's amount: the captured Payment shrinks to what moved and the rest
becomes a new Promised Payment (a deliberate difference from Mantle, see moqui_bridge.mantle's docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tests.mantle.conftest import PAYMENT, PaymentMaker
from tests.mantle.gateway_services import MantleTestContext

SERVICES = "mantle.account.PaymentServices."
AUTHORIZE = SERVICES + "authorize#SinglePayment"
CAPTURE = SERVICES + "capture#SinglePayment"
REFUND = SERVICES + "refund#SinglePayment"

# Fields the remainder must share with the captured Payment, and those it must not inherit from the capture.
SHARED_FIELDS = (
    "paymentTypeEnumId",
    "fromPartyId",
    "toPartyId",
    "paymentInstrumentEnumId",
    "paymentMethodId",
    "toPaymentMethodId",
    "paymentGatewayConfigId",
    "orderId",
    "orderPartSeqId",
    "amountUomId",
)
CAPTURE_FACTS = ("paymentAuthCode", "paymentRefNum", "effectiveDate", "settlementDate", "refundForPaymentId")


async def order_payment(context: MantleTestContext, make: PaymentMaker, config_id: str = "TEST_APPROVE") -> str:
    """An authorized 100.00 EUR payment for the single part of a new order."""
    order = await context.call_service(
        "mantle.order.OrderServices.create#Order",
        {"customerPartyId": "CUSTOMER", "vendorPartyId": "VENDOR", "currencyUomId": "EUR", "grandTotal": "100.00"},
    )
    payment_id = await make.payment(
        orderId=order["orderId"],
        orderPartSeqId=order["orderPartSeqId"],
        amountUomId="EUR",
        paymentGatewayConfigId=config_id,
    )
    await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["statusId"] == "PmntAuthorized"
    context.gateway.calls.clear()
    return payment_id


async def order_payments(context: MantleTestContext, payment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every Payment of the payment's order part, oldest id first."""
    found = await context.entity.find(
        PAYMENT, {"orderId": payment["orderId"], "orderPartSeqId": payment["orderPartSeqId"]}
    )
    return sorted(found, key=lambda record: int(record["paymentId"]))


async def test_partial_capture_splits_off_the_rest_as_a_promised_payment(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await order_payment(context, make)
    authorized = await make.get(payment_id)

    result = await context.call_service(CAPTURE, {"paymentId": payment_id, "amount": "60.00"})

    assert context.gateway.calls_to("approve#Capture")[0]["amount"] == Decimal("60.00")
    assert result["paymentGatewayResponse"]["paymentOperationEnumId"] == "PgoCapture"
    captured = await make.get(payment_id)
    assert (captured["statusId"], captured["amount"]) == ("PmntDelivered", Decimal("60.00"))
    assert captured["effectiveDate"] is not None
    # The capture keeps its own authorization facts.
    assert (captured["paymentAuthCode"], captured["paymentRefNum"]) == (
        authorized["paymentAuthCode"],
        authorized["paymentRefNum"],
    )

    payments = await order_payments(context, captured)
    assert len(payments) == 2 and payments[0]["paymentId"] == payment_id
    remainder = payments[1]
    assert (remainder["statusId"], remainder["amount"]) == ("PmntPromised", Decimal("40.00"))
    assert {name: remainder[name] for name in SHARED_FIELDS} == {name: authorized[name] for name in SHARED_FIELDS}
    assert remainder["paymentGatewayConfigId"] == "TEST_APPROVE" and remainder["amountUomId"] == "EUR"
    assert {name: remainder[name] for name in CAPTURE_FACTS} == dict.fromkeys(CAPTURE_FACTS)
    # The id comes from Payment's sequence, and the caller is told about it (capture#SinglePayment has no out-parameter
    # for it in Mantle).
    assert remainder["paymentId"].isdigit() and int(remainder["paymentId"]) > int(payment_id)
    assert result["messages"][-1] == (
        f"Payment {payment_id} captured 60.00 of 100.00; the remaining 40.00 is now Payment "
        f"{remainder['paymentId']} (Promised)"
    )
    assert payment_id in remainder["comments"]


async def test_after_a_split_refund_defaults_to_the_captured_amount_and_the_rest_can_be_captured(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await order_payment(context, make)
    await context.call_service(CAPTURE, {"paymentId": payment_id, "amount": "60.00"})
    remainder_id = (await order_payments(context, await make.get(payment_id)))[1]["paymentId"]

    refunded = await context.call_service(REFUND, {"paymentId": payment_id})
    assert context.gateway.calls_to("approve#Refund")[-1]["amount"] == Decimal("60.00")
    refund = await make.get(refunded["refundPaymentId"])
    assert (refund["amount"], refund["refundForPaymentId"]) == (Decimal("60.00"), payment_id)

    # A later shipment: the remainder is authorized on its own and captured in full, with no further split.
    context.gateway.calls.clear()
    later = await context.call_service(CAPTURE, {"paymentId": remainder_id})
    assert [name.rsplit(".", 1)[1] for name, _ in context.gateway.calls] == ["approve#Authorize", "approve#Capture"]
    assert context.gateway.calls_to("approve#Capture")[0]["amount"] == Decimal("40.00")
    remainder = await make.get(remainder_id)
    assert (remainder["statusId"], remainder["amount"]) == ("PmntDelivered", Decimal("40.00"))
    assert [record["paymentId"] for record in await order_payments(context, remainder)] == [payment_id, remainder_id]
    assert not any("remaining" in message for message in later.get("messages") or [])


async def test_full_capture_does_not_split(context: MantleTestContext, make: PaymentMaker) -> None:
    for amount in (None, "100.00"):
        payment_id = await order_payment(context, make)
        parameters = {"paymentId": payment_id} if amount is None else {"paymentId": payment_id, "amount": amount}
        result = await context.call_service(CAPTURE, parameters)
        captured = await make.get(payment_id)
        assert (captured["statusId"], captured["amount"]) == ("PmntDelivered", Decimal("100.00"))
        assert [record["paymentId"] for record in await order_payments(context, captured)] == [payment_id]
        assert result.get("messages") is None


async def test_declined_partial_capture_does_not_split(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await order_payment(context, make)
    # Authorized through TEST_APPROVE; the capture goes to a gateway that declines it.
    await context.entity.update(PAYMENT, {"paymentId": payment_id}, {"paymentGatewayConfigId": "TEST_DECLINE"})

    result = await context.call_service(CAPTURE, {"paymentId": payment_id, "amount": "60.00"})

    assert context.gateway.calls_to("decline#Capture")[0]["amount"] == Decimal("60.00")
    assert result["paymentGatewayResponse"]["resultDeclined"] == "Y"
    declined = await make.get(payment_id)
    assert (declined["statusId"], declined["amount"]) == ("PmntDeclined", Decimal("100.00"))
    assert [record["paymentId"] for record in await order_payments(context, declined)] == [payment_id]
