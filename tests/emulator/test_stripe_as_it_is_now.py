"""Stripe as the pinned version (2026-10-28.endive) behaves, where it differs from older emulations: single-use
PaymentMethods, the documented test PaymentMethod catalogue, decline advice codes, 24-hour idempotency keys,
the Search API's lag, limit and availability, per-account rate limits, latency, and the default Stripe-Version."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import stripe

from stripe_emulator.accepted import PINNED_API_VERSION
from stripe_emulator.control import EmulatorControl

AUTH = {"Authorization": "Bearer sk_test_stripe_now"}
USED_UP = "was previously used with a PaymentIntent without Customer attachment"


async def _pay(client: stripe.StripeClient, payment_method: str, **extra: Any) -> stripe.PaymentIntent:
    params: Any = {"amount": 1000, "currency": "usd", "payment_method": payment_method, "confirm": True, **extra}
    return await client.v1.payment_intents.create_async(params)


# -- single use of PaymentMethods attached to no Customer -------------------------------------------------------


async def test_a_payment_method_used_without_customer_cannot_be_used_again(stripe_client: stripe.StripeClient) -> None:
    pm = await stripe_client.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    first = await _pay(stripe_client, pm.id)
    assert first.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as second:
        await _pay(stripe_client, pm.id)
    assert USED_UP in str(second.value.user_message)
    assert second.value.param == "payment_method"
    customer = await stripe_client.v1.customers.create_async({"name": "Late"})
    with pytest.raises(stripe.InvalidRequestError) as attach:
        await stripe_client.v1.payment_methods.attach_async(pm.id, {"customer": customer.id})
    assert USED_UP in str(attach.value.user_message)


async def test_attached_and_saved_payment_methods_are_reusable(stripe_client: stripe.StripeClient) -> None:
    customer = await stripe_client.v1.customers.create_async({"name": "Saver"})
    attached = await stripe_client.v1.payment_methods.attach_async("pm_card_visa", {"customer": customer.id})
    for _ in range(2):
        assert (await _pay(stripe_client, attached.id, customer=customer.id)).status == "succeeded"
    saved = await _pay(stripe_client, "pm_card_mastercard", customer=customer.id, setup_future_usage="off_session")
    again = await _pay(stripe_client, saved["payment_method"], customer=customer.id, off_session=True)
    assert again.status == "succeeded"
    detached = await stripe_client.v1.payment_methods.detach_async(attached.id)
    assert detached.customer is None
    with pytest.raises(stripe.InvalidRequestError) as after_detach:
        await _pay(stripe_client, attached.id)
    assert USED_UP in str(after_detach.value.user_message)


async def test_test_tokens_make_a_fresh_payment_method_each_time(stripe_client: stripe.StripeClient) -> None:
    # docs.stripe.com/testing: each use of `pm_card_visa` is a new PaymentMethod, so it never gets used up.
    first = await _pay(stripe_client, "pm_card_visa")
    second = await _pay(stripe_client, "pm_card_visa")
    assert first["payment_method"] != second["payment_method"]


# -- the documented test PaymentMethod catalogue -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "code", "decline_code"),
    [
        ("pm_card_visa_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_visa_chargeDeclinedLostCard", "card_declined", "lost_card"),
        ("pm_card_visa_chargeDeclinedStolenCard", "card_declined", "stolen_card"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error"),
        ("pm_card_visa_chargeDeclinedVelocityLimitExceeded", "card_declined", "card_velocity_exceeded"),
        ("pm_card_radarBlock", "card_declined", "fraudulent"),
        ("pm_card_riskLevelHighest", "card_declined", "fraudulent"),
    ],
)
async def test_documented_declines_with_advice_fields(
    stripe_client: stripe.StripeClient, token: str, code: str, decline_code: str
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        await _pay(stripe_client, token)
    assert (declined.value.code, declined.value.error.decline_code) == (code, decline_code)  # type: ignore[union-attr]
    body: Any = declined.value.json_body
    # Since 2024-12-18.acacia declines carry these; the test cards document none.
    for name in ("advice_code", "network_advice_code", "network_decline_code"):
        assert name in body["error"] and body["error"][name] is None
        assert body["error"]["payment_intent"]["last_payment_error"][name] is None


async def test_names_stripe_does_not_document_do_not_exist(stripe_client: stripe.StripeClient) -> None:
    # The expired-card decline is `pm_card_chargeDeclinedExpiredCard`, without `visa_`.
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await _pay(stripe_client, "pm_card_visa_chargeDeclinedExpiredCard")
    assert missing.value.code == "resource_missing"


@pytest.mark.parametrize(
    ("token", "brand", "funding", "country"),
    [
        ("pm_card_mastercard_prepaid", "mastercard", "prepaid", "US"),
        ("pm_card_amex", "amex", "credit", "US"),
        ("pm_card_gb", "visa", "credit", "GB"),
        ("pm_card_jp", "visa", "credit", "JP"),
    ],
)
async def test_brand_and_country_tokens(
    stripe_client: stripe.StripeClient, token: str, brand: str, funding: str, country: str
) -> None:
    intent = await _pay(stripe_client, token)
    pm = await stripe_client.v1.payment_methods.retrieve_async(intent["payment_method"])
    assert (pm.card.brand, pm.card.funding, pm.card.country) == (brand, funding, country)  # type: ignore[union-attr]


async def test_authentication_tokens(stripe_client: stripe.StripeClient, emulator_control: EmulatorControl) -> None:
    customer = await stripe_client.v1.customers.create_async({"name": "Auth"})
    already = await stripe_client.v1.payment_methods.attach_async(
        "pm_card_authenticationRequiredSetupForOffSession", {"customer": customer.id}
    )
    off_session = await _pay(stripe_client, already.id, customer=customer.id, off_session=True)
    assert off_session.status == "succeeded"
    optional = await _pay(stripe_client, "pm_card_threeDSecureOptional")
    assert optional.status == "succeeded"
    asked = await _pay(
        stripe_client,
        "pm_card_visa",
        payment_method_options={"card": {"request_three_d_secure": "any"}},
    )
    assert asked.status == "requires_action"
    then_declined = await _pay(stripe_client, "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds")
    assert then_declined.status == "requires_action"
    result = await emulator_control.complete_3ds(then_declined.id)
    assert result["error"]["decline_code"] == "insufficient_funds"


# -- idempotency keys live 24 hours ------------------------------------------------------------------------------


async def test_idempotency_keys_are_pruned_after_24_hours(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    params: Any = {"amount": 700, "currency": "usd"}
    options: Any = {"idempotency_key": "day-old-key"}
    first = await stripe_client.v1.payment_intents.create_async(params, options)
    await emulator_control.advance_clock(24 * 3600 - 1)
    replayed = await stripe_client.v1.payment_intents.create_async(params, options)
    assert replayed.id == first.id
    await emulator_control.advance_clock(1)
    fresh = await stripe_client.v1.payment_intents.create_async(params, options)
    assert fresh.id != first.id


# -- the Search API ----------------------------------------------------------------------------------------------


async def _search(session: aiohttp.ClientSession, base: str, query: str) -> tuple[int, dict[str, Any]]:
    async with session.get(f"{base}/v1/payment_intents/search", params={"query": query}, headers=AUTH) as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


async def test_search_lags_writes_then_finds(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl, stripe_emulator_url: str
) -> None:
    settings = await emulator_control.settings()
    assert settings["search_index_lag_seconds"] > 0
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 900, "currency": "usd", "metadata": {"order": "lag"}}
    )
    async with aiohttp.ClientSession() as session:
        status, body = await _search(session, stripe_emulator_url, "metadata['order']:'lag'")
        assert (status, body["data"]) == (200, [])
        await emulator_control.advance_clock(settings["search_index_lag_seconds"])
        status, body = await _search(session, stripe_emulator_url, "metadata['order']:'lag'")
        assert [found["id"] for found in body["data"]] == [intent.id]
    assert await emulator_control.search_request_count() == 2


async def test_search_is_limited_to_20_requests_a_second(
    emulator_control: EmulatorControl, stripe_emulator_url: str
) -> None:
    assert (await emulator_control.settings())["search_requests_per_second"] == 20
    async with aiohttp.ClientSession() as session:
        burst = await asyncio.gather(*(_search(session, stripe_emulator_url, "status:'succeeded'") for _ in range(22)))
    statuses = [status for status, _ in burst]
    assert statuses.count(200) == 20 and statuses.count(429) == 2
    assert {body["error"]["code"] for status, body in burst if status == 429} == {"rate_limit"}
    assert await emulator_control.search_request_count() == 22


async def test_search_can_be_unavailable_as_for_merchants_in_india(
    emulator_control: EmulatorControl, stripe_emulator_url: str
) -> None:
    await emulator_control.update_settings(search_available=False)
    async with aiohttp.ClientSession() as session:
        status, body = await _search(session, stripe_emulator_url, "status:'succeeded'")
    assert status == 400
    assert body["error"]["message"] == "The search feature is temporarily unavailable in your region."
    assert await emulator_control.search_request_count() == 1


# -- per-account rate limit and latency --------------------------------------------------------------------------


async def test_per_account_rate_limit_answers_429(emulator_control: EmulatorControl, stripe_emulator_url: str) -> None:
    await emulator_control.set_rate_limit(3)
    statuses = []
    async with aiohttp.ClientSession() as session:
        for _ in range(4):
            async with session.get(f"{stripe_emulator_url}/v1/customers", headers=AUTH) as response:
                statuses.append(response.status)
                body = await response.json()
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    assert (body["error"]["type"], body["error"]["code"]) == ("invalid_request_error", "rate_limit")
    await emulator_control.set_rate_limit(None)
    assert (await emulator_control.settings())["api_requests_per_second"] is None


async def test_latency_delays_every_api_request(emulator_control: EmulatorControl, stripe_emulator_url: str) -> None:
    await emulator_control.set_latency(0.2, jitter_seconds=0.05)
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(f"{stripe_emulator_url}/v1/customers", headers=AUTH) as response:
            assert response.status == 200
        assert time.monotonic() - started >= 0.2
    with pytest.raises(Exception, match="must be a number"):
        await emulator_control.update_settings(latency_seconds="slow")


async def test_default_stripe_version_is_the_pinned_one(stripe_emulator_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{stripe_emulator_url}/v1/customers", headers=AUTH) as response,
    ):
        assert response.headers["Stripe-Version"] == PINNED_API_VERSION == "2026-10-28.endive"
