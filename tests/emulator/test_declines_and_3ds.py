"""Test cards and PaymentMethods: each decline code, Radar blocks, 3-D Secure on- and off-session, checks."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_emulator.control import EmulatorControl, EmulatorControlError

DECLINES = [
    ("4000000000000002", "card_declined", "generic_decline"),
    ("4000000000009995", "card_declined", "insufficient_funds"),
    ("4000000000000069", "expired_card", "expired_card"),
    ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
    ("4000000000000119", "processing_error", "processing_error"),
    ("4100000000000019", "card_declined", "fraudulent"),
]
DECLINE_TOKENS = [
    ("pm_card_visa_chargeDeclined", "card_declined", "generic_decline"),
    ("pm_card_visa_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
    ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error"),
    ("pm_card_radarBlock", "card_declined", "fraudulent"),
]


async def card_payment_method(client: stripe.StripeClient, number: str, **extra: Any) -> str:
    """A PaymentMethod made from raw test card details, as test code may do."""
    params: Any = {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}, **extra}
    return (await client.v1.payment_methods.create_async(params)).id


async def assert_declined(client: stripe.StripeClient, payment_method: str, code: str, decline_code: str) -> None:
    intent = await client.v1.payment_intents.create_async({"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.CardError) as raised:
        await client.v1.payment_intents.confirm_async(intent.id, {"payment_method": payment_method})
    error = raised.value
    assert error.http_status == 402
    assert error.code == code
    assert error.error is not None
    assert error.error.decline_code == decline_code
    assert error.request_id is not None and error.request_id.startswith("req_")
    embedded = error.error.payment_intent
    assert embedded is not None
    assert embedded.id == intent.id and embedded.status == "requires_payment_method"
    assert isinstance(error.error["charge"], str)
    after = await client.v1.payment_intents.retrieve_async(intent.id)
    assert after.status == "requires_payment_method"
    assert after["last_payment_error"]["decline_code"] == decline_code
    assert after["last_payment_error"]["code"] == code
    charge = await client.v1.charges.retrieve_async(error.error["charge"])
    assert charge.status == "failed" and charge.paid is False
    assert charge.failure_code == code
    if decline_code == "fraudulent":
        assert charge["outcome"]["type"] == "blocked"
        assert charge["outcome"]["risk_level"] == "highest"


@pytest.mark.parametrize(("number", "code", "decline_code"), DECLINES)
async def test_decline_cards(stripe_client: stripe.StripeClient, number: str, code: str, decline_code: str) -> None:
    await assert_declined(stripe_client, await card_payment_method(stripe_client, number), code, decline_code)


@pytest.mark.parametrize(("token", "code", "decline_code"), DECLINE_TOKENS)
async def test_decline_test_payment_methods(
    stripe_client: stripe.StripeClient, token: str, code: str, decline_code: str
) -> None:
    await assert_declined(stripe_client, token, code, decline_code)


async def test_declined_intent_can_be_retried_with_another_card(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async({"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.CardError):
        await stripe_client.v1.payment_intents.confirm_async(
            intent.id, {"payment_method": "pm_card_visa_chargeDeclined"}
        )
    retried = await stripe_client.v1.payment_intents.confirm_async(intent.id, {"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded"
    assert retried["last_payment_error"] is None


async def test_create_and_confirm_decline_in_one_call(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as raised:
        await stripe_client.v1.payment_intents.create_async(
            {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa_chargeDeclined", "confirm": True}
        )
    assert raised.value.error is not None and raised.value.error.payment_intent is not None
    assert raised.value.error.payment_intent.status == "requires_payment_method"


async def test_incorrect_number_is_refused(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as raised:
        await card_payment_method(stripe_client, "4242424242424241")
    assert raised.value.code == "incorrect_number"


async def test_avs_and_cvc_checks(stripe_client: stripe.StripeClient) -> None:
    billing = {"billing_details": {"address": {"line1": "1 Main St", "postal_code": "94107"}}}
    failing = await card_payment_method(stripe_client, "4000000000000010", **billing)
    passing = await card_payment_method(stripe_client, "4242424242424242", **billing)
    for pm, expected in ((failing, "fail"), (passing, "pass")):
        intent = await stripe_client.v1.payment_intents.create_async(
            {"amount": 1000, "currency": "usd", "payment_method": pm, "confirm": True}
        )
        charge = await stripe_client.v1.charges.retrieve_async(intent["latest_charge"])
        checks = charge["payment_method_details"]["card"]["checks"]
        assert checks["address_line1_check"] == expected
        assert checks["address_postal_code_check"] == expected
        assert checks["cvc_check"] == "pass"
        assert isinstance(charge["outcome"]["risk_score"], int)


@pytest.mark.parametrize("payment_method", ["pm_card_authenticationRequired", "4000002500003155", "4000002760003184"])
async def test_three_d_secure_success(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl, payment_method: str
) -> None:
    if payment_method[0].isdigit():
        payment_method = await card_payment_method(stripe_client, payment_method)
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1000,
            "currency": "usd",
            "payment_method": payment_method,
            "capture_method": "manual",
            "confirm": True,
            "return_url": "https://shop.example/done",
        }
    )
    assert intent.status == "requires_action"
    assert intent["next_action"]["type"] == "redirect_to_url"
    assert intent["next_action"]["redirect_to_url"]["return_url"] == "https://shop.example/done"
    result = await emulator_control.complete_3ds(intent.id, succeed=True)
    assert result["error"] is None
    assert result["intent"]["status"] == "requires_capture"
    after = await stripe_client.v1.payment_intents.retrieve_async(intent.id, {"expand": ["latest_charge"]})
    assert after.status == "requires_capture"
    assert after["latest_charge"]["payment_method_details"]["card"]["three_d_secure"]["result"] == "authenticated"


async def test_three_d_secure_failure(stripe_client: stripe.StripeClient, emulator_control: EmulatorControl) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_authenticationRequired", "confirm": True}
    )
    assert intent.status == "requires_action"
    assert intent["next_action"]["type"] == "use_stripe_sdk"
    await emulator_control.complete_3ds(intent.id, succeed=False)
    after = await stripe_client.v1.payment_intents.retrieve_async(intent.id)
    assert after.status == "requires_payment_method"
    assert after["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert after.latest_charge is None


async def test_three_d_secure_failure_of_a_setup_intent(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    setup = await stripe_client.v1.setup_intents.create_async(
        {"payment_method": "pm_card_authenticationRequired", "confirm": True}
    )
    assert setup.status == "requires_action"
    result = await emulator_control.complete_3ds(setup.id, succeed=False)
    assert result["error"] is None
    after = await stripe_client.v1.setup_intents.retrieve_async(setup.id)
    assert (after.status, after.payment_method, after.next_action) == ("requires_payment_method", None, None)
    assert after["last_setup_error"]["code"] == "setup_intent_authentication_failure"
    assert after["last_setup_error"]["type"] == "invalid_request_error"
    # Finishing a challenge that is no longer pending is refused with the SetupIntent's own wording and code.
    with pytest.raises(EmulatorControlError, match="This SetupIntent is not awaiting authentication") as raised:
        await emulator_control.complete_3ds(setup.id, succeed=True)
    assert "setup_intent_unexpected_state" in str(raised.value)


async def test_off_session_three_d_secure_card_needs_authentication(stripe_client: stripe.StripeClient) -> None:
    customer = await stripe_client.v1.customers.create_async({})
    pm = await card_payment_method(stripe_client, "4000002760003184")
    await stripe_client.v1.payment_methods.attach_async(pm, {"customer": customer.id})
    with pytest.raises(stripe.CardError) as raised:
        await stripe_client.v1.payment_intents.create_async(
            {
                "amount": 1000,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": pm,
                "off_session": True,
                "confirm": True,
            }
        )
    assert raised.value.code == "authentication_required"
    assert raised.value.error is not None and raised.value.error.decline_code == "authentication_required"
    assert raised.value.error.payment_intent is not None
    assert raised.value.error.payment_intent.status == "requires_payment_method"


async def test_card_set_up_once_then_charged_off_session(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    customer = await stripe_client.v1.customers.create_async({"email": "saved@example.com"})
    pm = await card_payment_method(stripe_client, "4000002500003155")
    setup = await stripe_client.v1.setup_intents.create_async(
        {"customer": customer.id, "payment_method": pm, "confirm": True, "usage": "off_session"}
    )
    assert setup.status == "requires_action"
    result = await emulator_control.complete_3ds(setup.id)
    assert result["intent"]["status"] == "succeeded"
    saved = await stripe_client.v1.customers.payment_methods.list_async(customer.id)
    assert [p.id for p in saved.data] == [pm]
    off_session = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1999,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": pm,
            "off_session": True,
            "confirm": True,
        }
    )
    assert off_session.status == "succeeded"
    # The always-authenticate card stays refused off-session even after set-up.
    always = await card_payment_method(stripe_client, "4000002760003184")
    setup_always = await stripe_client.v1.setup_intents.create_async(
        {"customer": customer.id, "payment_method": always, "confirm": True}
    )
    await emulator_control.complete_3ds(setup_always.id)
    with pytest.raises(stripe.CardError) as raised:
        await stripe_client.v1.payment_intents.create_async(
            {
                "amount": 1999,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": always,
                "off_session": True,
                "confirm": True,
            }
        )
    assert raised.value.code == "authentication_required"


async def test_setup_intent_decline_and_success(stripe_client: stripe.StripeClient) -> None:
    customer = await stripe_client.v1.customers.create_async({})
    with pytest.raises(stripe.CardError) as raised:
        await stripe_client.v1.setup_intents.create_async(
            {"customer": customer.id, "payment_method": "pm_card_visa_chargeDeclined", "confirm": True}
        )
    assert raised.value.error is not None and raised.value.error.decline_code == "generic_decline"
    ok = await stripe_client.v1.setup_intents.create_async({"customer": customer.id})
    confirmed = await stripe_client.v1.setup_intents.confirm_async(ok.id, {"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    pm = await stripe_client.v1.payment_methods.retrieve_async(confirmed["payment_method"])
    assert pm.customer == customer.id
