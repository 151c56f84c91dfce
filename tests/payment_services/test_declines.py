"""Declines and failures are answers with their PGR (never JSON-RPC errors), flagged the way Mantle reads them."""

from __future__ import annotations

import pytest

from tests.payment_services.conftest import Harness

# card, reasonCode, flags (declined, error, nsf, badExpire, badCardNumber)
DECLINES = [
    ("pm_card_visa_chargeDeclined", "generic_decline", ("Y", "N", "N", "N", "N")),
    ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds", ("Y", "N", "Y", "N", "N")),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", ("Y", "N", "N", "Y", "N")),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", ("Y", "N", "N", "N", "N")),
    ("pm_card_radarBlock", "fraudulent", ("Y", "N", "N", "N", "N")),
    # A processing error says nothing about the card: an error (Mantle changes nothing), not a decline.
    ("pm_card_chargeDeclinedProcessingError", "processing_error", ("N", "Y", "N", "N", "N")),
]


@pytest.mark.parametrize(("card", "reason", "flags"), DECLINES, ids=[reason for _, reason, _ in DECLINES])
async def test_decline_is_a_pgr_with_its_flags(
    harness: Harness, card: str, reason: str, flags: tuple[str, ...]
) -> None:
    payment_id = await harness.add_payment("20.00", card=card)
    result = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(result["paymentGatewayResponseId"])
    assert pgr["resultSuccess"] == "N"
    assert (pgr["resultDeclined"], pgr["resultError"], pgr["resultNsf"], pgr["resultBadExpire"]) == flags[:4]
    assert pgr["resultBadCardNumber"] == flags[4]
    assert pgr["reasonCode"] == reason and pgr["paymentOperationEnumId"] == "PgoAuthorize"
    assert pgr["reasonMessage"] and len(pgr["reasonMessage"]) <= 255 and "sk_test" not in pgr["reasonMessage"]
    intent = await harness.only_intent(payment_id)
    assert pgr["referenceNum"] == intent.id and intent.status == "requires_payment_method"
    assert (await harness.payment(payment_id))["statusId"] == "PmntPromised"
    # The declined attempt is over: the journal does not replay it.
    assert [row["operationStatusId"] for row in await harness.journal(payment_id)] == ["SgoCompleted"]


async def test_declined_payment_is_retried_on_its_paymentintent_with_a_new_card(harness: Harness) -> None:
    payment_id = await harness.add_payment("20.00", card="pm_card_visa_chargeDeclined")
    declined = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(declined["paymentGatewayResponseId"]))["resultDeclined"] == "Y"
    # Mantle: Declined, the customer gives another card (same PaymentMethod row, new Stripe PaymentMethod).
    await harness.set_status(payment_id, "PmntDeclined")
    method_id = (await harness.payment(payment_id))["paymentMethodId"]
    await harness.entity.update(
        "mantle.account.method.PaymentMethod", {"paymentMethodId": method_id}, {"gatewayCimId": "pm_card_mastercard"}
    )
    approved = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(approved["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    intent = await harness.only_intent(payment_id)  # the same PaymentIntent, confirmed again
    assert intent.status == "requires_capture"
    assert [row["attemptNum"] for row in await harness.journal(payment_id)] == [0, 0]


async def test_three_d_secure_card_off_session_is_declined_not_left_waiting(harness: Harness) -> None:
    customer = await harness.gateway.client.v1.customers.create_async({"email": "shopper@example.com"})
    payment_id = await harness.add_payment("15.00", card="pm_card_authenticationRequired", customer_id=customer.id)
    result = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(result["paymentGatewayResponseId"])
    assert (pgr["resultSuccess"], pgr["resultDeclined"], pgr["resultError"]) == ("N", "Y", "N")
    assert pgr["reasonCode"] == "authentication_required"
    intent = await harness.only_intent(payment_id)
    assert intent.customer == customer.id and intent.status == "requires_payment_method"
    assert await harness.charges(intent.id) == []


async def test_three_d_secure_waiting_on_the_shopper_is_pending_not_declined(harness: Harness) -> None:
    """A PaymentIntent the checkout page left in requires_action: the shopper may still authenticate."""
    payment_id = await harness.add_payment("15.00")
    intent = await harness.gateway.client.v1.payment_intents.create_async(
        {
            "amount": 1500,
            "currency": "usd",
            "payment_method": "pm_card_threeDSecure2Required",
            "capture_method": "manual",
            "confirm": True,
            "metadata": {"paymentId": payment_id},
        }
    )
    assert intent.status == "requires_action"
    await harness.entity.update(
        "mantle.account.payment.Payment", {"paymentId": payment_id}, {"paymentRefNum": intent.id}
    )
    result = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(result["paymentGatewayResponseId"])
    assert [pgr[name] for name in ("resultSuccess", "resultDeclined", "resultError")] == ["N", "N", "N"]
    assert pgr["transactionStatus"] == "requires_action"
    # Once the shopper has authenticated, authorizing records it without charging again.
    await harness.emulator.complete_3ds(intent.id)
    result = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(result["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    assert len(await harness.charges(intent.id)) == 1
