"""MOTO on SetupIntents (docs.stripe.com/payments/payment-intents/moto): the flag only on accounts Stripe enabled it
for, only at confirmation, no 3-D Secure for a MOTO card, and the flag recorded on the SetupAttempt
(`payment_method_details.card.moto`, changelog 2026-04-22.dahlia)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from tests.emulator.test_declines_and_3ds import card_payment_method

MOTO: Any = {"card": {"moto": True}}


async def _attempts(client: stripe.StripeClient, setup_intent_id: str) -> list[Any]:
    listed = await client.v1.setup_attempts.list_async({"setup_intent": setup_intent_id})
    return list(listed.data)


async def test_an_account_without_moto_does_not_know_the_parameter(stripe_client: stripe.StripeClient) -> None:
    customer = await stripe_client.v1.customers.create_async({})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await stripe_client.v1.setup_intents.create_async(
            {"customer": customer.id, "payment_method": "pm_card_visa", "confirm": True, "payment_method_options": MOTO}
        )
    # As Stripe answers it (stripe/stripe-dotnet#2898).
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "payment_method_options[card][moto]"
    # Refused before anything was made.
    assert (await stripe_client.v1.setup_intents.list_async({"customer": customer.id})).data == []


async def test_moto_is_taken_only_at_confirmation(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    await emulator_control.update_settings(moto_enabled=True)
    customer = await stripe_client.v1.customers.create_async({})
    with pytest.raises(stripe.InvalidRequestError, match="only be provided during confirmation"):
        await stripe_client.v1.setup_intents.create_async({"customer": customer.id, "payment_method_options": MOTO})
    setup = await stripe_client.v1.setup_intents.create_async({"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError, match="only be provided during confirmation"):
        await stripe_client.v1.setup_intents.update_async(setup.id, {"payment_method_options": MOTO})
    confirmed = await stripe_client.v1.setup_intents.confirm_async(
        setup.id, {"payment_method": "pm_card_visa", "payment_method_options": MOTO}
    )
    assert confirmed.status == "succeeded"
    [attempt] = await _attempts(stripe_client, setup.id)
    assert attempt.id == confirmed.latest_attempt
    assert attempt["payment_method_details"]["card"]["moto"] is True


async def test_a_moto_card_needs_no_authentication_and_the_attempt_records_the_flag(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    await emulator_control.update_settings(moto_enabled=True)
    customer = await stripe_client.v1.customers.create_async({})
    always = await card_payment_method(stripe_client, "4000002760003184")  # 3-D Secure on every online use
    setup = await stripe_client.v1.setup_intents.create_async(
        {
            "customer": customer.id,
            "payment_method": always,
            "confirm": True,
            "usage": "off_session",
            "payment_method_options": MOTO,
        }
    )
    assert setup.status == "succeeded"  # "The SetupIntent should succeed immediately"
    [attempt] = await _attempts(stripe_client, setup.id)
    card = attempt["payment_method_details"]["card"]
    assert (attempt.status, card["moto"], card["last4"]) == ("succeeded", True, "3184")
    saved = await stripe_client.v1.customers.payment_methods.list_async(customer.id)
    assert [pm.id for pm in saved.data] == [always]

    # The same card without the flag is an ordinary online setup: the bank asks for 3-D Secure.
    online = await stripe_client.v1.setup_intents.create_async(
        {
            "customer": customer.id,
            "payment_method": await card_payment_method(stripe_client, "4000002760003184"),
            "confirm": True,
        }
    )
    assert online.status == "requires_action"
    [attempt] = await _attempts(stripe_client, online.id)
    assert (attempt.status, attempt["payment_method_details"]["card"]["moto"]) == ("requires_action", False)


async def test_a_declined_moto_card_is_declined_and_its_attempt_failed(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    await emulator_control.update_settings(moto_enabled=True)
    customer = await stripe_client.v1.customers.create_async({})
    with pytest.raises(stripe.CardError) as raised:
        await stripe_client.v1.setup_intents.create_async(
            {
                "customer": customer.id,
                "payment_method": await card_payment_method(stripe_client, "4000000000000002"),
                "confirm": True,
                "payment_method_options": MOTO,
            }
        )
    setup_id = raised.value.json_body["error"]["setup_intent"]["id"]  # type: ignore[index]
    [attempt] = await _attempts(stripe_client, setup_id)
    assert attempt.status == "failed"
    assert attempt["setup_error"]["decline_code"] == "generic_decline"


async def test_setup_attempts_need_their_setup_intent(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await stripe_client.v1.setup_attempts.list_async({})  # type: ignore[typeddict-item]
    assert raised.value.param == "setup_intent"
