"""refund#SinglePayment, recording gateway refunds, and get#SinglePaymentGatewayDetails."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import pytest

from moqui_bridge.mantle.refunds import record_gateway_refund
from moqui_bridge.service.errors import ServiceError
from tests.mantle.conftest import PaymentMaker
from tests.mantle.gateway_services import MantleTestContext

SERVICES = "mantle.account.PaymentServices."
REFUND = SERVICES + "refund#SinglePayment"
DETAILS = SERVICES + "get#SinglePaymentGatewayDetails"
PAYMENT = "mantle.account.payment.Payment"


async def captured_payment(make: PaymentMaker, config_id: str = "TEST_APPROVE", status: str = "PmntDelivered") -> str:
    return await make.payment(
        status=status, paymentGatewayConfigId=config_id, paymentRefNum="ch_1", effectiveDate=datetime(2024, 1, 2)
    )


async def test_refund_creates_a_delivered_refund_payment(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await captured_payment(make)
    result = await context.call_service(REFUND, {"paymentId": payment_id, "amount": "30.00"})

    refund = await make.get(result["refundPaymentId"])
    response = await context.entity.find_one(
        "mantle.account.method.PaymentGatewayResponse", {"paymentGatewayResponseId": result["paymentGatewayResponseId"]}
    )
    assert response is not None
    assert refund["paymentTypeEnumId"] == "PtRefund"
    assert refund["statusId"] == "PmntDelivered" and refund["effectiveDate"] is not None
    assert (refund["fromPartyId"], refund["toPartyId"]) == ("VENDOR", "CUSTOMER")
    original = await make.get(payment_id)
    assert (refund["paymentMethodId"], refund["toPaymentMethodId"]) == (
        original["toPaymentMethodId"],
        original["paymentMethodId"],
    )
    assert refund["refundForPaymentId"] == payment_id
    assert refund["amount"] == Decimal("30.00") and refund["amountUomId"] == "USD"
    assert refund["paymentRefNum"] == response["referenceNum"]
    # The refunded payment's own status does not change (PmntRefunded no longer exists).
    assert original["statusId"] == "PmntDelivered"
    assert context.gateway.calls_to("approve#Refund") == [
        {"paymentId": payment_id, "paymentGatewayConfigId": "TEST_APPROVE", "amount": Decimal("30.00")}
    ]


async def test_refund_amount_defaults_to_what_is_left(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await captured_payment(make, status="PmntConfirmed")
    await context.call_service(REFUND, {"paymentId": payment_id, "amount": "30.00"})
    # A cancelled refund does not count against what is left.
    await context.entity.create(
        PAYMENT, {"refundForPaymentId": payment_id, "statusId": "PmntCancelled", "amount": Decimal("50.00")}
    )
    result = await context.call_service(REFUND, {"paymentId": payment_id})
    assert (await make.get(result["refundPaymentId"]))["amount"] == Decimal("70.00")
    with pytest.raises(ServiceError, match=re.escape("is more than the 0.00 left to refund")):
        await context.call_service(REFUND, {"paymentId": payment_id, "amount": "0.01"})


@pytest.mark.parametrize(
    ("amount", "message"),
    [("0", "Refund amount must be greater than zero"), ("-5", "greater than zero"), ("100.01", "is more than the")],
)
async def test_bad_refund_amounts_change_nothing(
    context: MantleTestContext, make: PaymentMaker, amount: str, message: str
) -> None:
    payment_id = await captured_payment(make)
    with pytest.raises(ServiceError, match=message):
        await context.call_service(REFUND, {"paymentId": payment_id, "amount": amount})
    assert context.gateway.calls == []
    assert await context.entity.find(PAYMENT, {"refundForPaymentId": payment_id}) == []


@pytest.mark.parametrize("status", ["PmntPromised", "PmntAuthorized", "PmntDeclined", "PmntVoid"])
async def test_refund_of_an_uncaptured_payment_is_an_error(
    context: MantleTestContext, make: PaymentMaker, status: str
) -> None:
    payment_id = await make.payment(status=status, paymentGatewayConfigId="TEST_APPROVE")
    with pytest.raises(ServiceError, match=f"must be delivered \\(captured\\) or confirmed to refund, but is {status}"):
        await context.call_service(REFUND, {"paymentId": payment_id})
    assert context.gateway.calls == []


async def test_refund_uses_a_given_refund_payment(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await captured_payment(make)
    prepared = await context.entity.create(
        PAYMENT,
        {"paymentTypeEnumId": "PtRefund", "statusId": "PmntPromised", "amount": Decimal("25.00"), "amountUomId": "USD"},
    )
    result = await context.call_service(REFUND, {"paymentId": payment_id, "refundPaymentId": prepared["paymentId"]})
    assert result["refundPaymentId"] == prepared["paymentId"]
    refund = await make.get(prepared["paymentId"])
    assert refund["statusId"] == "PmntDelivered"
    assert refund["refundForPaymentId"] == payment_id
    assert refund["amount"] == Decimal("25.00")
    assert len(await context.entity.find(PAYMENT, {"refundForPaymentId": payment_id})) == 1


async def test_a_given_refund_payment_must_exist_and_not_be_delivered(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await captured_payment(make)
    with pytest.raises(ServiceError, match="Refund Payment NOPE not found"):
        await context.call_service(REFUND, {"paymentId": payment_id, "refundPaymentId": "NOPE"})
    delivered = await context.entity.create(PAYMENT, {"statusId": "PmntDelivered", "amount": Decimal("1.00")})
    with pytest.raises(ServiceError, match="has already been delivered"):
        await context.call_service(REFUND, {"paymentId": payment_id, "refundPaymentId": delivered["paymentId"]})


async def test_declined_refund_records_no_refund_payment(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await captured_payment(make, "TEST_DECLINE")
    result = await context.call_service(REFUND, {"paymentId": payment_id})
    assert result["paymentGatewayResponseId"] and result["refundPaymentId"] is None
    assert await context.entity.find(PAYMENT, {"refundForPaymentId": payment_id}) == []


async def test_gateway_refund_is_recorded_once(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await captured_payment(make)
    response = await context.entity.create(
        "mantle.account.method.PaymentGatewayResponse",
        {"paymentId": payment_id, "paymentOperationEnumId": "PgoRefund", "resultSuccess": "Y", "referenceNum": "re_1"},
    )
    first = await record_gateway_refund(context, payment_id, Decimal("10.00"), response["paymentGatewayResponseId"])
    again = await record_gateway_refund(context, payment_id, Decimal("10.00"), response["paymentGatewayResponseId"])
    assert first.created and not again.created
    assert first.refund_payment_id == again.refund_payment_id
    refund = await make.get(first.refund_payment_id)
    assert (refund["paymentTypeEnumId"], refund["statusId"], refund["amount"]) == (
        "PtRefund",
        "PmntDelivered",
        Decimal("10.00"),
    )
    assert context.gateway.calls == []
    with pytest.raises(ServiceError, match=re.escape("is more than the 90.00 left")):
        other = await context.entity.create(
            "mantle.account.method.PaymentGatewayResponse", {"paymentId": payment_id, "referenceNum": "re_2"}
        )
        await record_gateway_refund(context, payment_id, Decimal("95.00"), other["paymentGatewayResponseId"])
    with pytest.raises(ServiceError, match="PaymentGatewayResponse NOPE for Payment"):
        await record_gateway_refund(context, payment_id, Decimal("1.00"), "NOPE")


class TestGatewayDetails:
    """get#SinglePaymentGatewayDetails takes the gateway's status when it differs."""

    async def test_a_new_status_is_taken(self, context: MantleTestContext, make: PaymentMaker) -> None:
        payment_id = await make.payment(status="PmntAuthorized", paymentGatewayConfigId="TEST_DETAILS")
        context.gateway.statuses[payment_id] = "PmntVoid"
        result = await context.call_service(DETAILS, {"paymentId": payment_id})
        assert (await make.get(payment_id))["statusId"] == "PmntVoid"
        assert result["paymentGatewayResponseId"]
        assert result["messages"] == [f"Status for Payment {payment_id} updated from gateway transaction status"]

    async def test_confirmed_goes_through_delivered_with_both_dates(
        self, context: MantleTestContext, make: PaymentMaker
    ) -> None:
        payment_id = await make.payment(status="PmntAuthorized", paymentGatewayConfigId="TEST_DETAILS")
        context.gateway.statuses[payment_id] = "PmntConfirmed"
        context.gateway.settlement_dates[payment_id] = datetime(2024, 5, 6, 7, 8, 9)
        await context.call_service(DETAILS, {"paymentId": payment_id})
        payment = await make.get(payment_id)
        assert payment["statusId"] == "PmntConfirmed"
        assert payment["effectiveDate"] is not None
        assert payment["settlementDate"] == datetime(2024, 5, 6, 7, 8, 9)

    async def test_same_status_only_fills_a_missing_settlement_date(
        self, context: MantleTestContext, make: PaymentMaker
    ) -> None:
        payment_id = await captured_payment(make, "TEST_DETAILS", status="PmntConfirmed")
        context.gateway.statuses[payment_id] = "PmntConfirmed"
        context.gateway.settlement_dates[payment_id] = datetime(2024, 2, 3)
        result = await context.call_service(DETAILS, {"paymentId": payment_id})
        payment = await make.get(payment_id)
        assert payment["statusId"] == "PmntConfirmed" and payment["settlementDate"] == datetime(2024, 2, 3)
        assert result.get("messages") is None

    async def test_no_gateway_status_changes_nothing(self, context: MantleTestContext, make: PaymentMaker) -> None:
        payment_id = await make.payment(status="PmntAuthorized", paymentGatewayConfigId="TEST_DETAILS")
        result = await context.call_service(DETAILS, {"paymentId": payment_id})
        assert (await make.get(payment_id))["statusId"] == "PmntAuthorized"
        assert result["paymentGatewayResponseId"] is None

    async def test_a_transition_outside_the_flow_is_refused(
        self, context: MantleTestContext, make: PaymentMaker
    ) -> None:
        payment_id = await make.payment(status="PmntPromised", paymentGatewayConfigId="TEST_DETAILS")
        context.gateway.statuses[payment_id] = "PmntVoid"
        with pytest.raises(ServiceError, match="Status change from PmntPromised to PmntVoid is not valid"):
            await context.call_service(DETAILS, {"paymentId": payment_id})
        assert (await make.get(payment_id))["statusId"] == "PmntPromised"

    async def test_without_a_details_service_it_warns(self, context: MantleTestContext, make: PaymentMaker) -> None:
        payment_id = await make.payment(status="PmntAuthorized", paymentGatewayConfigId="TEST_APPROVE")
        result = await context.call_service(DETAILS, {"paymentId": payment_id})
        assert "has no details service" in result["messages"][0]
