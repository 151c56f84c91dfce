"""Cards that say no, through Mantle's REST paths: declines move the Payment to Declined with Mantle's flags,
a processing error leaves it as it was, and a card that insists on 3-D Secure is declined off-session uncharged."""

from __future__ import annotations

import pytest

from tests.standalone.conftest import StandaloneWorld, flags_set, only


@pytest.mark.parametrize(
    ("card", "expected_flags", "reason_code"),
    [
        ("pm_card_visa_chargeDeclined", {"resultDeclined"}, "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", {"resultDeclined", "resultNsf"}, "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", {"resultDeclined", "resultBadExpire"}, "expired_card"),
    ],
)
async def test_decline_moves_the_payment_to_declined(
    world: StandaloneWorld, card: str, expected_flags: set[str], reason_code: str
) -> None:
    payment_id = await world.new_payment("30.00", card=card)

    answer = await world.gateway_call("authorize", payment_id)
    # A decline is an answer, not an error: 200 with the PGR that says so.
    assert flags_set(answer["paymentGatewayResponse"]) == expected_flags
    assert await world.status(payment_id) == "PmntDeclined"
    response = only(await world.responses(payment_id), "PgoAuthorize")
    assert flags_set(response) == expected_flags
    assert response["reasonCode"] == reason_code
    intent = await world.only_intent(payment_id)
    assert intent.status == "requires_payment_method" and intent.amount_received == 0
    assert [charge.status for charge in await world.charges(intent.id)] == ["failed"]

    # A declined payment can be neither captured nor released, and trying writes nothing.
    before = await world.snapshot(payment_id)
    assert "PmntDeclined" in await world.gateway_refused("capture", payment_id)
    assert "authorized status" in await world.gateway_refused("release", payment_id)
    assert await world.snapshot(payment_id) == before


async def test_processing_error_records_an_error_and_leaves_the_status(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("30.00", card="pm_card_chargeDeclinedProcessingError")

    answer = await world.gateway_call("authorize", payment_id)
    assert flags_set(answer["paymentGatewayResponse"]) == {"resultError"}
    # Mantle reads neither success nor decline, so the payment is still Promised and may be tried again.
    assert await world.status(payment_id) == "PmntPromised"
    response = only(await world.responses(payment_id), "PgoAuthorize")
    assert flags_set(response) == {"resultError"}
    assert response["reasonCode"] == "processing_error"
    intent = await world.only_intent(payment_id)
    assert intent.amount_received == 0 and intent.status != "succeeded"


async def test_card_requiring_3ds_is_declined_off_session_and_not_charged(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("55.00", card="pm_card_authenticationRequired")

    answer = await world.gateway_call("authorize", payment_id)
    assert flags_set(answer["paymentGatewayResponse"]) == {"resultDeclined"}
    assert await world.status(payment_id) == "PmntDeclined"
    response = only(await world.responses(payment_id), "PgoAuthorize")
    assert response["reasonCode"] == "authentication_required"
    intent = await world.only_intent(payment_id)
    # Nobody is there to answer the challenge: Stripe declines before charging, so no money is held or taken.
    assert (intent.status, intent.amount_received) == ("requires_payment_method", 0)
    assert await world.charges(intent.id) == []
