"""get#PaymentGatewayDetails after each step: Mantle's status for the PaymentIntent, a PGR only when it changed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.payment_services.conftest import Harness

SEVEN_DAYS_AND_AN_HOUR = 7 * 24 * 3600 + 3600


async def _details(harness: Harness, payment_id: str) -> dict[str, Any]:
    return await harness.ok("get#PaymentGatewayDetails", payment_id)


async def test_details_follow_the_payment_through_its_life(harness: Harness) -> None:
    payment_id = await harness.add_payment("70.00")
    await harness.ok("authorize#Payment", payment_id)

    authorized = await _details(harness, payment_id)
    assert authorized["gatewayStatusId"] == "PmntAuthorized"
    pgr = await harness.pgr(authorized["paymentGatewayResponseId"])
    assert pgr["paymentOperationEnumId"] == "PgoTxDetails" and pgr["transactionStatus"] == "requires_capture"

    # Mantle has moved the payment on: the same status again writes no PGR.
    await harness.set_status(payment_id, "PmntAuthorized")
    count = len(await harness.pgrs(payment_id))
    same = await _details(harness, payment_id)
    assert same["gatewayStatusId"] == "PmntAuthorized" and same["paymentGatewayResponseId"] is None
    assert len(await harness.pgrs(payment_id)) == count

    await harness.ok("capture#Payment", payment_id, Decimal("70.0000"))
    delivered = await _details(harness, payment_id)
    assert delivered["gatewayStatusId"] in ("PmntDelivered", "PmntConfirmed")
    assert delivered["effectiveDate"] is not None  # epoch millis, as Moqui's Jackson writes a Timestamp
    await harness.set_status(payment_id, delivered["gatewayStatusId"])

    await harness.ok("refund#Payment", payment_id, Decimal("5.00"))
    after_refund = await _details(harness, payment_id)
    # A refund is a separate refund Payment in Mantle: the captured payment keeps its status.
    assert after_refund["gatewayStatusId"] == delivered["gatewayStatusId"]
    assert after_refund["paymentGatewayResponseId"] is None
    assert (await harness.payment(payment_id))["statusId"] == delivered["gatewayStatusId"]


async def test_details_of_a_declined_and_a_released_payment(harness: Harness) -> None:
    declined_id = await harness.add_payment("10.00", card="pm_card_visa_chargeDeclined")
    await harness.ok("authorize#Payment", declined_id)
    assert (await _details(harness, declined_id))["gatewayStatusId"] == "PmntDeclined"

    released_id = await harness.add_payment("10.00")
    await harness.ok("authorize#Payment", released_id)
    await harness.ok("release#Payment", released_id)
    # Mantle's release returns the payment to Promised; details agree (not Void) and so write nothing.
    await harness.set_status(released_id, "PmntPromised")
    released = await _details(harness, released_id)
    assert released["gatewayStatusId"] == "PmntPromised" and released["paymentGatewayResponseId"] is None


async def test_details_of_an_expired_authorization(harness: Harness) -> None:
    payment_id = await harness.add_payment("33.00")
    await harness.ok("authorize#Payment", payment_id)
    await harness.set_status(payment_id, "PmntAuthorized")
    await harness.emulator.advance_clock(SEVEN_DAYS_AND_AN_HOUR)
    expired = await _details(harness, payment_id)
    assert expired["gatewayStatusId"] == "PmntPromised"
    pgr = await harness.pgr(expired["paymentGatewayResponseId"])
    assert pgr["transactionStatus"] == "canceled"
    assert (await harness.only_intent(payment_id)).cancellation_reason == "expired"  # basil+
    # Capturing the lapsed authorization is refused with the reason; Mantle re-authorizes instead.
    assert "expired" in await harness.error("capture#Payment", payment_id, None)
    await harness.set_status(payment_id, "PmntPromised")
    await harness.ok("authorize#Payment", payment_id)
    assert sorted(pi.status for pi in await harness.intents(payment_id)) == ["canceled", "requires_capture"]


async def test_details_without_a_paymentintent(harness: Harness) -> None:
    payment_id = await harness.add_payment("10.00")
    answer = await _details(harness, payment_id)
    assert answer["gatewayStatusId"] is None
    pgr = await harness.pgr(answer["paymentGatewayResponseId"])
    assert (
        pgr["resultSuccess"] == "N" and pgr["resultError"] == "N" and "no Stripe PaymentIntent" in pgr["reasonMessage"]
    )
