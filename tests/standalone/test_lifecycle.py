"""The happy lifecycles through Mantle's REST paths: authorize, capture (full and partial), refund, release,
authorize-and-capture, and capture of a payment nobody authorized yet. Status asserted after every step."""

from __future__ import annotations

import re
from decimal import Decimal

from tests.standalone.conftest import AUTH_CAPTURE_CONFIG_ID, CONFIG_ID, StandaloneWorld, flags_set, only


async def test_authorize_then_capture_in_full(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("100.00")

    authorized = await world.gateway_call("authorize", payment_id)
    assert authorized["paymentGatewayResponse"]["paymentOperationEnumId"] == "PgoAuthorize"
    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntAuthorized"
    assert payment["paymentGatewayConfigId"] == CONFIG_ID
    intent = await world.only_intent(payment_id)
    # Mantle keeps the gateway's reference on the Payment; ours is the PaymentIntent.
    assert payment["paymentRefNum"] == intent.id
    assert (intent.status, intent.amount, intent.currency, intent.capture_method) == (
        "requires_capture",
        10000,
        "usd",
        "manual",
    )

    captured = await world.gateway_call("capture", payment_id)
    assert captured["paymentGatewayResponse"]["amount"] == Decimal("100.00")
    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntDelivered"
    assert isinstance(payment["effectiveDate"], int)  # Mantle's SECA insists on it; epoch millis over REST

    responses = await world.responses(payment_id)
    # The capture pre-check (details) writes nothing when Stripe agrees with the Payment's status.
    assert [row["paymentOperationEnumId"] for row in responses] == ["PgoAuthorize", "PgoCapture"]
    assert all(flags_set(row) == {"resultSuccess"} for row in responses)
    assert all(row["referenceNum"] == intent.id for row in responses)
    assert responses == payment["paymentGatewayResponses"]
    intent = await world.only_intent(payment_id)
    assert (intent.status, intent.amount_received) == ("succeeded", 10000)


async def test_partial_capture_two_partial_refunds_and_an_over_refund(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("100.00")
    await world.gateway_call("authorize", payment_id)
    assert await world.status(payment_id) == "PmntAuthorized"

    captured = await world.gateway_call("capture", payment_id, Decimal("60.00"))
    assert captured["paymentGatewayResponse"]["amount"] == Decimal("60.00")
    assert await world.status(payment_id) == "PmntDelivered"
    intent = await world.only_intent(payment_id)
    assert (intent.status, intent.amount_received) == ("succeeded", 6000)

    refund_payment_ids = []
    for _ in range(2):
        refunded = await world.gateway_call("refund", payment_id, Decimal("30.00"))
        refund_payment_ids.append(refunded["refundPaymentId"])
        # Refunding never moves the refunded Payment: it stays Delivered.
        assert await world.status(payment_id) == "PmntDelivered"
    assert len(set(refund_payment_ids)) == 2

    payment = await world.payment(payment_id)
    refunds = payment["refundPayments"]
    assert [row["paymentId"] for row in refunds] == refund_payment_ids
    for row in refunds:
        assert (row["paymentTypeEnumId"], row["statusId"], row["amount"]) == ("PtRefund", "PmntDelivered", 30)
        assert (row["fromPartyId"], row["toPartyId"], row["refundForPaymentId"]) == (
            payment["toPartyId"],
            payment["fromPartyId"],
            payment_id,
        )
    stripe_refunds = await world.refunds(intent.id)
    assert sorted(refund.amount for refund in stripe_refunds) == [3000, 3000]
    # Each refund Payment names its own Stripe refund, so two equal refunds are never taken for one.
    assert {row["paymentRefNum"] for row in refunds} == {refund.id for refund in stripe_refunds}
    refund_responses = [
        row for row in payment["paymentGatewayResponses"] if row["paymentOperationEnumId"] == "PgoRefund"
    ]
    assert [row["amount"] for row in refund_responses] == [Decimal("30.00"), Decimal("30.00")]
    assert all(flags_set(row) == {"resultSuccess"} for row in refund_responses)

    # All 60 captured are refunded: another 10 is refused in Moqui's shape and writes nothing anywhere.
    before = await world.snapshot(payment_id)
    message = await world.gateway_refused("refund", payment_id, Decimal("10.00"))
    assert "refund" in message.lower()
    assert await world.snapshot(payment_id) == before
    assert len(await world.refunds(intent.id)) == 2
    charge = (await world.charges(intent.id))[0]
    # Since 2025-03-31.basil the released rest of a partial capture is no refund: only the two refunds count.
    assert (charge.amount, charge.amount_captured, charge.amount_refunded) == (10000, 6000, 6000)


async def test_refund_beyond_the_payment_is_refused_by_mantle_before_stripe(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("50.00")
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("capture", payment_id)
    assert await world.status(payment_id) == "PmntDelivered"
    before = await world.snapshot(payment_id)
    message = await world.gateway_refused("refund", payment_id, Decimal("50.01"))
    assert "more than" in message and "50.00" in message
    assert await world.snapshot(payment_id) == before
    assert await world.refunds((await world.only_intent(payment_id)).id) == []


async def test_release_then_authorize_again(world: StandaloneWorld) -> None:
    # A saved card: a new authorization after a release needs one (issue 10 item 6).
    payment_id = await world.new_payment("25.00", card=await world.saved_card())
    await world.gateway_call("authorize", payment_id)
    first = await world.payment(payment_id)
    assert first["statusId"] == "PmntAuthorized" and first["paymentRefNum"]

    released = await world.gateway_call("release", payment_id)
    assert released["paymentGatewayResponseId"]
    payment = await world.payment(payment_id)
    # Mantle's release goes back to Promised (not Void) and forgets the authorization.
    assert payment["statusId"] == "PmntPromised"
    assert "paymentRefNum" not in payment and "paymentAuthCode" not in payment  # nulls are left out, as Moqui does
    released_intent = await world.only_intent(payment_id)
    assert released_intent.status == "canceled"
    assert flags_set(only(await world.responses(payment_id), "PgoRelease")) == {"resultSuccess"}

    await world.gateway_call("authorize", payment_id)
    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntAuthorized"
    intents = await world.intents(payment_id)
    assert [pi.status for pi in intents] == ["canceled", "requires_capture"]
    assert payment["paymentRefNum"] == intents[1].id
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoRelease", "PgoAuthorize"]

    await world.gateway_call("capture", payment_id)
    assert await world.status(payment_id) == "PmntDelivered"
    assert (await world.intents(payment_id))[1].status == "succeeded"


async def test_release_then_authorize_again_without_a_saved_card_is_declined(world: StandaloneWorld) -> None:
    card = await world.stripe_client.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    payment_id = await world.new_payment("25.00", card=card.id)
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("release", payment_id)

    await world.gateway_call("authorize", payment_id)

    # Mantle takes the decline (PmntDeclined); the PGR tells the shopper's card must be entered again.
    assert await world.status(payment_id) == "PmntDeclined"
    declined = (await world.responses(payment_id))[-1]
    assert flags_set(declined) == {"resultDeclined"}
    assert str(declined["reasonMessage"]).startswith("The card must be entered again")
    assert [pi.status for pi in await world.intents(payment_id)] == ["canceled"]


async def test_releasing_a_captured_payment_is_refused(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("20.00")
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("capture", payment_id)
    before = await world.snapshot(payment_id)
    message = await world.gateway_refused("release", payment_id)
    assert "refund instead" in message
    assert await world.snapshot(payment_id) == before
    assert (await world.only_intent(payment_id)).status == "succeeded"


async def test_authorize_and_capture_config_goes_straight_to_delivered(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("42.00", config_id=AUTH_CAPTURE_CONFIG_ID)

    authorized = await world.gateway_call("authorize", payment_id)
    assert authorized["paymentGatewayResponse"]["paymentOperationEnumId"] == "PgoAuthAndCapture"
    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntDelivered"
    assert payment["paymentGatewayConfigId"] == AUTH_CAPTURE_CONFIG_ID
    intent = await world.only_intent(payment_id)
    assert (intent.status, intent.capture_method, intent.amount_received) == ("succeeded", "automatic", 4200)

    refunded = await world.gateway_call("refund", payment_id)
    refund = await world.payment(refunded["refundPaymentId"])
    # No amount: Mantle refunds what is left of the payment, all of it.
    assert (refund["statusId"], refund["amount"], refund["refundForPaymentId"]) == (
        "PmntDelivered",
        Decimal("42.00"),
        payment_id,
    )
    assert await world.status(payment_id) == "PmntDelivered"
    assert [refund.amount for refund in await world.refunds(intent.id)] == [4200]
    assert await world.operations(payment_id) == ["PgoAuthAndCapture", "PgoRefund"]


async def test_capture_of_a_promised_payment_authorizes_first(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("75.50")

    captured = await world.gateway_call("capture", payment_id)
    assert captured["paymentGatewayResponse"]["paymentOperationEnumId"] == "PgoCapture"
    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntDelivered"
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoCapture"]
    intent = await world.only_intent(payment_id)
    assert (intent.status, intent.amount_received) == ("succeeded", 7550)
    assert payment["paymentRefNum"] == intent.id


async def test_refund_without_amount_after_partial_capture_refunds_what_was_captured(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("100.00")
    await world.gateway_call("authorize", payment_id)
    captured = await world.gateway_call("capture", payment_id, Decimal("60.00"))

    # The capture split the Payment: it now says what moved, and the rest waits, uncharged, in a Promised Payment.
    assert (await world.payment(payment_id))["amount"] == Decimal("60.00")
    split = re.fullmatch(r".* the remaining 40\.00 is now Payment (\S+) \(Promised\)", captured["messages"][-1])
    assert split is not None, captured["messages"]
    remainder = await world.payment(split.group(1))
    assert (remainder["statusId"], remainder["amount"]) == ("PmntPromised", Decimal("40.00"))
    assert await world.intents(split.group(1)) == []

    refunded = await world.gateway_call("refund", payment_id)
    refund = await world.payment(refunded["refundPaymentId"])
    assert refund["amount"] == Decimal("60.00")
    assert [r.amount for r in await world.refunds((await world.only_intent(payment_id)).id)] == [6000]
