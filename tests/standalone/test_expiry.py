"""An authorization Stripe lets lapse after seven days: Mantle's details rule takes the payment back to Promised,
and capture re-authorizes instead of failing on the dead PaymentIntent."""

from __future__ import annotations

from moqui_bridge.mantle import names
from tests.standalone.conftest import StandaloneWorld, flags_set

# Stripe cancels an uncaptured card authorization after 7 days; a little more makes the emulator do so.
PAST_AUTHORIZATION_WINDOW = 7 * 24 * 3600 + 60


async def _authorized_then_lapsed(world: StandaloneWorld) -> str:
    # A saved card: the re-authorization after the lapse needs one (issue 10 item 6).
    payment_id = await world.new_payment("80.00", card=await world.saved_card())
    await world.gateway_call("authorize", payment_id)
    assert await world.status(payment_id) == "PmntAuthorized"
    await world.emulator.advance_clock(PAST_AUTHORIZATION_WINDOW)
    intent = await world.only_intent(payment_id)
    assert (intent.status, intent.cancellation_reason) == ("canceled", "expired")  # basil+
    return payment_id


async def test_details_after_expiry_back_to_promised_then_capture_reauthorizes(world: StandaloneWorld) -> None:
    payment_id = await _authorized_then_lapsed(world)

    # Mantle has no REST path for get#SinglePaymentGatewayDetails (it runs from its poll job), so call it in process.
    details = await world.context.call_service(names.GET_SINGLE_PAYMENT_GATEWAY_DETAILS, {"paymentId": payment_id})
    assert details["paymentGatewayResponseId"]
    assert await world.status(payment_id) == "PmntPromised"
    responses = await world.responses(payment_id)
    assert [row["paymentOperationEnumId"] for row in responses] == ["PgoAuthorize", "PgoTxDetails"]
    assert responses[-1]["paymentGatewayResponseId"] == details["paymentGatewayResponseId"]

    await world.gateway_call("capture", payment_id)
    assert await world.status(payment_id) == "PmntDelivered"
    intents = await world.intents(payment_id)
    assert [pi.status for pi in intents] == ["canceled", "succeeded"]
    assert intents[1].amount_received == 8000
    payment = await world.payment(payment_id)
    assert payment["paymentRefNum"] == intents[1].id
    assert [row["paymentOperationEnumId"] for row in payment["paymentGatewayResponses"]] == [
        "PgoAuthorize",
        "PgoTxDetails",
        "PgoAuthorize",
        "PgoCapture",
    ]
    assert all(
        flags_set(row) == {"resultSuccess"}
        for row in payment["paymentGatewayResponses"]
        if row["paymentOperationEnumId"] != "PgoTxDetails"
    )


async def test_capture_after_expiry_finds_it_in_the_pre_check_and_reauthorizes(world: StandaloneWorld) -> None:
    payment_id = await _authorized_then_lapsed(world)

    # Still Authorized in Mantle: capture's details pre-check learns the authorization lapsed.
    await world.gateway_call("capture", payment_id)
    assert await world.status(payment_id) == "PmntDelivered"
    intents = await world.intents(payment_id)
    assert [pi.status for pi in intents] == ["canceled", "succeeded"]
    assert intents[1].amount_received == 8000
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoTxDetails", "PgoAuthorize", "PgoCapture"]
