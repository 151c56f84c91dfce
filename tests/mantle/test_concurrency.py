"""Concurrent calls on one payment run one after the other (advisory lock), so money moves once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.mantle.conftest import PaymentMaker
from tests.mantle.gateway_services import MantleTestContext

SERVICES = "mantle.account.PaymentServices."


async def test_concurrent_captures_capture_once(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_APPROVE")
    results = await asyncio.gather(
        *(context.call_service(SERVICES + "capture#SinglePayment", {"paymentId": payment_id}) for _ in range(4)),
        return_exceptions=True,
    )
    # One captures; the other three find it captured and answer the same success, with the PGR that recorded it.
    assert not [result for result in results if isinstance(result, BaseException)], results
    response_ids = {result["paymentGatewayResponseId"] for result in results if isinstance(result, dict)}
    assert len(response_ids) == 1 and None not in response_ids
    assert len(context.gateway.calls_to("approve#Authorize")) == 1
    assert len(context.gateway.calls_to("approve#Capture")) == 1
    assert (await make.get(payment_id))["statusId"] == "PmntDelivered"


async def test_concurrent_refunds_never_exceed_the_payment(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(status="PmntDelivered", paymentGatewayConfigId="TEST_APPROVE")
    results = await asyncio.gather(
        *(
            context.call_service(SERVICES + "refund#SinglePayment", {"paymentId": payment_id, "amount": "60"})
            for _ in range(3)
        ),
        return_exceptions=True,
    )
    succeeded = [result for result in results if not isinstance(result, BaseException)]
    assert len(succeeded) == 1
    assert len(context.gateway.calls_to("approve#Refund")) == 1
    refunds = await context.entity.find("mantle.account.payment.Payment", {"refundForPaymentId": payment_id})
    assert [refund["amount"] for refund in refunds] == [Decimal("60.0000")]
