"""The operations over the gateway API: their Stripe effects, answers and refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.gateway_api.conftest import CONFIG_ID, OTHER_CONFIG_ID, GatewayWorld, next_payment_id


async def test_refund_without_amount_refunds_what_is_left_of_a_partial_capture(world: GatewayWorld) -> None:
    # Stripe's basil semantics (API 2025-03-31.basil and later): refundable = amount_captured - amount_refunded;
    # the released rest of a partial capture is neither captured nor refundable.
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id, "50.00")).body["paymentIntentId"]
    captured = await world.on_intent("capture", payment_id, intent, amount="30.00")
    assert captured.flags == {"resultSuccess"} and captured.pgr["amount"] == "30.00"
    first = await world.on_intent("refund", payment_id, intent, amount="10.00")
    assert first.pgr["amount"] == "10.00" and first.pgr["subReference"].startswith("re_")
    rest = await world.on_intent("refund", payment_id, intent, attempt=1)
    assert rest.flags == {"resultSuccess"}
    assert rest.pgr["amount"] == "20.00"
    assert sorted(refund.amount for refund in await world.refunds(intent)) == [1000, 2000]
    nothing_left = await world.on_intent("refund", payment_id, intent, attempt=2, amount="0.01")
    assert nothing_left.status == 400


async def test_two_equal_partial_refunds_are_two_attempts(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id, "30.00", operation="authorizeAndCapture")).body["paymentIntentId"]
    one = await world.on_intent("refund", payment_id, intent, amount="5.00")
    two = await world.on_intent("refund", payment_id, intent, attempt=1, amount="5.00")
    assert one.pgr["subReference"] != two.pgr["subReference"]
    repeated = await world.on_intent("refund", payment_id, intent, attempt=1, amount="5.00")
    assert repeated.body["replayed"] == "Y" and repeated.pgr == two.pgr
    assert [refund.amount for refund in await world.refunds(intent)] == [500, 500]


async def test_release_then_a_new_authorization_of_the_payment(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    first = (await world.authorize(payment_id)).body["paymentIntentId"]
    released = await world.on_intent("release", payment_id, first)
    assert released.flags == {"resultSuccess"} and released.pgr["paymentOperationEnumId"] == "PgoRelease"
    details = await world.on_intent("details", payment_id, first)
    # Released by us: Mantle's payment goes back to Promised, never Void.
    assert details.body["gatewayStatusId"] == "PmntPromised"
    assert (await world.on_intent("capture", payment_id, first)).status == 400
    # A new authorization needs a saved card (issue 10 item 6; test_reauthorization.py): without one, a clear decline.
    again = await world.authorize(payment_id, attempt=1, paymentIntentId=first)
    assert again.flags == {"resultDeclined"}
    assert again.pgr["reasonMessage"].startswith("The card must be entered again")
    assert len(await world.intents(payment_id)) == 1


async def test_details_answers_mantles_status_and_dates(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id, operation="authorizeAndCapture")).body["paymentIntentId"]
    details = await world.on_intent("details", payment_id, intent)
    assert details.body["gatewayStatusId"] == "PmntDelivered"
    assert isinstance(details.body["effectiveDate"], int)
    assert details.pgr["paymentOperationEnumId"] == "PgoTxDetails" and "attemptNum" not in details.body
    assert [row["operationName"] for row in await world.journal(payment_id)] == ["authorizeAndCapture"]


async def test_a_decline_is_a_result(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    declined = await world.authorize(payment_id, card="pm_card_visa_chargeDeclinedInsufficientFunds")
    assert declined.status == 200
    assert declined.flags == {"resultDeclined", "resultNsf"}
    assert declined.pgr["reasonCode"] == "insufficient_funds"
    # The caller counts the decline: its next attempt confirms the PaymentIntent the decline left with another card.
    again = await world.authorize(payment_id, attempt=1, paymentIntentId=declined.body["paymentIntentId"])
    assert again.flags == {"resultSuccess"}
    assert len(await world.intents(payment_id)) == 1


async def test_an_operation_under_another_gateway_config_is_refused(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id)).body["paymentIntentId"]
    refused = await world.on_intent("capture", payment_id, intent, paymentGatewayConfigId=OTHER_CONFIG_ID)
    assert refused.status == 400
    assert refused.error.strip() == (
        f"PaymentIntent {intent} of payment {payment_id} was made under gateway config {CONFIG_ID}, "
        f"not {OTHER_CONFIG_ID}"
    )
    assert (await world.intents(payment_id))[0].status == "requires_capture"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"paymentGatewayConfigId": "NoSuchGateway"}, "Payment gateway configuration NoSuchGateway has no Stripe"),
        ({"amount": Decimal("10.005")}, "The amount 10.005 USD of payment"),
        ({"amount": Decimal("0")}, "The amount must be greater than zero"),
        ({"amount": Decimal("-5")}, "The amount must be greater than zero"),
        ({"currencyUomId": "XXX"}, "XXX is not a currency Stripe takes"),
        ({"stripeCustomerId": "pi_notacustomer"}, "stripeCustomerId pi_notacustomer is not a Stripe cus_"),
        ({"stripePaymentMethodId": None}, "has no Stripe PaymentMethod to charge"),
        ({"attemptNum": -1}, "attemptNum must be 0 or more"),
        ({"paymentIntentId": "pi_unknown"}, "PaymentIntent pi_unknown is not one moqui-stripe made"),
    ],
)
async def test_bad_requests_are_refused_and_change_nothing(
    world: GatewayWorld, change: dict[str, object], message: str
) -> None:
    payment_id = next_payment_id()
    keyed = await world.idempotent_requests()
    params = {
        "paymentGatewayConfigId": CONFIG_ID,
        "paymentId": payment_id,
        "attemptNum": 0,
        "amount": Decimal("10.00"),
        "currencyUomId": "USD",
        "stripePaymentMethodId": "pm_card_visa",
    }
    refused = await world.call("authorize", {**params, **change})
    assert refused.status == 400
    assert message in refused.error
    assert await world.journal(payment_id) == []
    assert await world.idempotent_requests() == keyed


async def test_missing_parameters_and_credentials(world: GatewayWorld) -> None:
    missing = await world.call("capture", {"paymentGatewayConfigId": CONFIG_ID, "paymentId": "1"})
    assert missing.status == 400
    assert "Payment Intent ID" in missing.error and "Attempt Num" in missing.error
    unauthenticated = await world.call("authorize", {"paymentId": "1"}, api_key="wrong")
    assert unauthenticated.status in (401, 403)


async def test_a_card_that_insists_on_3d_secure_is_declined_off_session(world: GatewayWorld) -> None:
    # Nobody can answer 3-D Secure in a server-to-server call: Stripe declines with authentication_required.
    answer = await world.authorize(next_payment_id(), card="pm_card_authenticationRequired")
    assert answer.flags == {"resultDeclined"}
    assert answer.pgr["reasonCode"] == "authentication_required"


async def test_zero_decimal_currency_travels_in_its_own_scale(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    authorized = await world.authorize(payment_id, "1500", currencyUomId="JPY")
    assert authorized.pgr["amount"] == "1500" and authorized.pgr["amountUomId"] == "JPY"
    [intent] = await world.intents(payment_id)
    assert (intent.amount, intent.currency) == (1500, "jpy")
    fraction = await world.authorize(next_payment_id(), "1500.5", currencyUomId="JPY")
    assert fraction.status == 400 and "1500.5 JPY" in fraction.error


async def test_no_operation_uses_stripes_search(world: GatewayWorld) -> None:
    # Stripe's Search is rate-limited, lags by up to a minute and is unavailable in some countries: the journal knows
    # every PaymentIntent we made, so no operation needs it. A fault on the search path counts every request to it.
    await world.emulator.add_fault("/v1/payment_intents/search", "error", status=500, count=1000)
    released_id, refunded_id = next_payment_id(), next_payment_id()
    released = (await world.authorize(released_id)).body["paymentIntentId"]
    assert (await world.on_intent("release", released_id, released)).flags == {"resultSuccess"}
    refunded = (await world.authorize(refunded_id)).body["paymentIntentId"]
    assert (await world.on_intent("capture", refunded_id, refunded)).flags == {"resultSuccess"}
    assert (await world.on_intent("refund", refunded_id, refunded, amount="5.00")).flags == {"resultSuccess"}
    assert (await world.on_intent("details", refunded_id, refunded)).body["gatewayStatusId"] == "PmntDelivered"
    [search_fault] = await world.emulator.faults()
    assert search_fault["remaining"] == 1000
