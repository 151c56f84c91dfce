"""Idempotent replay and conflicts, and every injected fault mode, driven through the official SDK."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from tests.emulator.conftest import API_KEY

PI_CREATE: Any = {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


def client_for(url: str, http_client: stripe.AIOHTTPClient, retries: int, key: str = API_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": url}, http_client=http_client, max_network_retries=retries)


async def count_intents(client: stripe.StripeClient) -> int:
    return len((await client.v1.payment_intents.list_async({"limit": 100})).data)


async def test_same_key_same_parameters_replays(stripe_emulator_url: str) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "order-1-authorize"}
    body = "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true&metadata[orderId]=1"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{stripe_emulator_url}/v1/payment_intents", data=body, headers=headers) as first:
            first_body = await first.json()
            assert "Idempotent-Replayed" not in first.headers
        async with session.post(f"{stripe_emulator_url}/v1/payment_intents", data=body, headers=headers) as second:
            assert second.headers["Idempotent-Replayed"] == "true"
            assert second.headers["Original-Request"] == first.headers["Request-Id"]
            assert second.headers["Request-Id"] != first.headers["Request-Id"]
            assert await second.json() == first_body


async def test_replay_through_the_sdk_charges_once(stripe_client: stripe.StripeClient) -> None:
    first = await stripe_client.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "k-1"})
    again = await stripe_client.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "k-1"})
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["idempotent-replayed"] == "true"
    assert await count_intents(stripe_client) == 1


async def test_same_key_different_parameters_conflicts(stripe_client: stripe.StripeClient) -> None:
    await stripe_client.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "k-2"})
    with pytest.raises(stripe.IdempotencyError) as raised:
        changed: Any = {**PI_CREATE, "amount": 2000}
        await stripe_client.v1.payment_intents.create_async(changed, {"idempotency_key": "k-2"})
    assert raised.value.http_status == 400


async def test_keys_are_scoped_per_api_key(stripe_emulator_url: str, http_client: stripe.AIOHTTPClient) -> None:
    one = client_for(stripe_emulator_url, http_client, 0, "sk_test_account_one")
    two = client_for(stripe_emulator_url, http_client, 0, "sk_test_account_two")
    a = await one.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "shared"})
    b = await two.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "shared"})
    assert a.id != b.id


async def test_declines_are_replayed_too(stripe_client: stripe.StripeClient) -> None:
    declined: Any = {**PI_CREATE, "payment_method": "pm_card_visa_chargeDeclined"}
    with pytest.raises(stripe.CardError) as first:
        await stripe_client.v1.payment_intents.create_async(declined, {"idempotency_key": "k-decline"})
    with pytest.raises(stripe.CardError) as second:
        await stripe_client.v1.payment_intents.create_async(declined, {"idempotency_key": "k-decline"})
    assert first.value.error is not None and second.value.error is not None
    assert first.value.error["payment_intent"]["id"] == second.value.error["payment_intent"]["id"]
    assert second.value.headers is not None and second.value.headers["idempotent-replayed"] == "true"


async def test_parameter_errors_are_not_stored(stripe_client: stripe.StripeClient) -> None:
    bad: Any = {"amount": 1000, "currency": "usd", "bogus": "1"}
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.payment_intents.create_async(bad, {"idempotency_key": "k-bad"})
    good = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd"}, {"idempotency_key": "k-bad"}
    )
    assert good.status == "requires_payment_method"


async def test_concurrent_requests_with_one_key_run_once(
    stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    # The first request holds the key for a while; the second arrives meanwhile and is told to retry (409).
    await emulator_control.add_fault("/v1/payment_intents", "hang", hang_seconds=0.5)
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "k-concurrent"}
    body = "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true"
    url = f"{stripe_emulator_url}/v1/payment_intents"
    async with aiohttp.ClientSession() as session:

        async def post() -> tuple[int, dict[str, Any], str | None]:
            async with session.post(url, data=body, headers=headers) as response:
                return response.status, await response.json(), response.headers.get("Stripe-Should-Retry")

        first = asyncio.create_task(post())
        await asyncio.sleep(0.1)
        second_status, second_body, should_retry = await post()
        first_status, first_body, _ = await first
    assert first_status == 200
    assert second_status == 409
    assert second_body["error"]["type"] == "idempotency_error"
    assert should_retry == "true"
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as third:
        assert (await third.json())["id"] == first_body["id"]


async def test_server_errors_are_retried_by_the_sdk(
    stripe_emulator_url: str, http_client: stripe.AIOHTTPClient, emulator_control: EmulatorControl
) -> None:
    client = client_for(stripe_emulator_url, http_client, 2)
    for status in (500, 503):
        await emulator_control.add_fault("/v1/payment_intents", "error", status=status)
        intent = await client.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": f"retry-{status}"})
        assert intent.status == "succeeded"
    assert await count_intents(client) == 2
    assert await emulator_control.faults() == []


async def test_errors_without_retries_surface(
    stripe_emulator_url: str, http_client: stripe.AIOHTTPClient, emulator_control: EmulatorControl
) -> None:
    client = client_for(stripe_emulator_url, http_client, 0)
    await emulator_control.add_fault("/v1/payment_intents", "error", status=500)
    with pytest.raises(stripe.APIError) as server:
        await client.v1.payment_intents.create_async(PI_CREATE)
    assert server.value.http_status == 500
    assert server.value.request_id is not None
    await emulator_control.add_fault("/v1/payment_intents", "error", status=429)
    with pytest.raises(stripe.RateLimitError) as limited:
        await client.v1.payment_intents.create_async(PI_CREATE)
    assert limited.value.http_status == 429
    assert await count_intents(client) == 0


async def test_should_retry_header_steers_the_sdk(
    stripe_emulator_url: str, http_client: stripe.AIOHTTPClient, emulator_control: EmulatorControl
) -> None:
    client = client_for(stripe_emulator_url, http_client, 2)
    # 429 is only retried when Stripe says so.
    await emulator_control.add_fault("/v1/payment_intents", "error", status=429, should_retry=True)
    assert (await client.v1.payment_intents.create_async(PI_CREATE)).status == "succeeded"
    await emulator_control.add_fault("/v1/payment_intents", "error", status=429)
    with pytest.raises(stripe.RateLimitError):
        await client.v1.payment_intents.create_async(PI_CREATE)
    # A 500 marked "do not retry" is not retried even with retries left.
    await emulator_control.add_fault("/v1/payment_intents", "error", status=500, should_retry=False, count=1)
    with pytest.raises(stripe.APIError):
        await client.v1.payment_intents.create_async(PI_CREATE)
    assert await count_intents(client) == 1


async def test_dropped_connection_is_retried(
    stripe_emulator_url: str, http_client: stripe.AIOHTTPClient, emulator_control: EmulatorControl
) -> None:
    await emulator_control.add_fault("/v1/payment_intents", "drop")
    with pytest.raises(stripe.APIConnectionError):
        await client_for(stripe_emulator_url, http_client, 0).v1.payment_intents.create_async(PI_CREATE)
    await emulator_control.add_fault("/v1/payment_intents", "drop")
    client = client_for(stripe_emulator_url, http_client, 2)
    intent = await client.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "after-drop"})
    assert intent.status == "succeeded"
    assert await count_intents(client) == 1


async def test_lost_response_is_replayed_not_charged_twice(
    stripe_emulator_url: str, http_client: stripe.AIOHTTPClient, emulator_control: EmulatorControl
) -> None:
    await emulator_control.add_fault("/v1/payment_intents", "lose_response", method="POST")
    client = client_for(stripe_emulator_url, http_client, 2)
    intent = await client.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "lost-1"})
    assert intent.status == "succeeded"
    assert intent.last_response is not None
    assert intent.last_response.headers["idempotent-replayed"] == "true"
    assert await count_intents(client) == 1
    charges = await client.v1.charges.list_async({"payment_intent": intent.id})
    assert len(charges.data) == 1


async def test_hang_outlasts_the_client_timeout(stripe_emulator_url: str, emulator_control: EmulatorControl) -> None:
    await emulator_control.add_fault("/v1/payment_intents", "hang", hang_seconds=1.0)
    impatient = stripe.AIOHTTPClient(timeout=0.3)
    try:
        client = client_for(stripe_emulator_url, impatient, 0)
        started = time.monotonic()
        with pytest.raises(stripe.APIConnectionError):
            await client.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "slow-1"})
        assert time.monotonic() - started < 0.9
    finally:
        await impatient.close_async()  # type: ignore[no-untyped-call]
    # Stripe's side still finished the work; the retry with the same key gets that result.
    await asyncio.sleep(0.9)
    patient_http = stripe.AIOHTTPClient(timeout=5)
    try:
        patient = client_for(stripe_emulator_url, patient_http, 0)
        intent = await patient.v1.payment_intents.create_async(PI_CREATE, {"idempotency_key": "slow-1"})
        assert intent.last_response is not None and intent.last_response.headers["idempotent-replayed"] == "true"
    finally:
        await patient_http.close_async()  # type: ignore[no-untyped-call]


async def test_fault_matches_prefix_and_method_only(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    await emulator_control.add_fault("/v1/refunds", "error", status=503, count=5)
    intent = await stripe_client.v1.payment_intents.create_async(PI_CREATE)
    assert intent.status == "succeeded"
    rules = await emulator_control.faults()
    assert [rule["remaining"] for rule in rules] == [5]
    await emulator_control.clear_faults()
    assert await emulator_control.faults() == []
