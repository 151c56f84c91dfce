"""Stripe's wire format over raw HTTP: form encoding, authentication, Request-Id, error envelope, stripe.js keys."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from stripe_emulator.app import create_app
from stripe_emulator.formdata import canonical, parse_form
from stripe_emulator.state import EmulatorConfig, EmulatorState
from tests.emulator.conftest import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}", "Stripe-Version": "2024-06-20"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    async with session.request(method, url, data=body, headers=AUTH if headers is None else headers) as response:
        return response.status, await response.json(), response.headers


def test_bracketed_keys_become_nested_values() -> None:
    parsed = parse_form(
        "metadata[orderId]=42&expand[]=latest_charge&expand[]=customer&items[0][price]=p1&items[1][price]=p2"
        "&payment_method_types[0]=card&card[number]=4242424242424242&description="
    )
    assert parsed == {
        "metadata": {"orderId": "42"},
        "expand": ["latest_charge", "customer"],
        "items": [{"price": "p1"}, {"price": "p2"}],
        "payment_method_types": ["card"],
        "card": {"number": "4242424242424242"},
        "description": "",
    }
    assert canonical(parse_form("b=2&a[y]=1&a[x]=0")) == canonical(parse_form("a[x]=0&a[y]=1&b=2"))


async def test_form_body_with_brackets_and_expand(stripe_emulator_url: str, session: aiohttp.ClientSession) -> None:
    status, body, headers = await call(
        session,
        "POST",
        f"{stripe_emulator_url}/v1/payment_intents",
        "amount=1000&currency=USD&metadata[orderId]=42&payment_method=pm_card_visa&confirm=true&expand[]=latest_charge",
    )
    assert status == 200
    assert body["metadata"] == {"orderId": "42"}
    assert body["currency"] == "usd"
    assert body["latest_charge"]["object"] == "charge"
    assert headers["Request-Id"].startswith("req_")
    assert headers["Stripe-Version"] == "2024-06-20"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer sk_live_abcdefghijklmnop", "Bearer nonsense", "Bearer pk_test_abcdefghijkl"],
)
async def test_bad_keys_get_401(
    stripe_emulator_url: str, session: aiohttp.ClientSession, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    status, body, response_headers = await call(
        session, "GET", f"{stripe_emulator_url}/v1/payment_intents", None, headers
    )
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "sk_live_abcdefghijklmnop" not in body["error"]["message"]
    assert response_headers["Request-Id"].startswith("req_")


async def test_basic_auth_with_key_as_user(stripe_emulator_url: str, session: aiohttp.ClientSession) -> None:
    headers = {"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()}
    status, body, _ = await call(session, "GET", f"{stripe_emulator_url}/v1/customers", None, headers)
    assert status == 200 and body["object"] == "list"


async def test_unknown_url_is_a_stripe_404(stripe_emulator_url: str, session: aiohttp.ClientSession) -> None:
    status, body, headers = await call(session, "GET", f"{stripe_emulator_url}/v1/nothing_here")
    assert status == 404
    assert body["error"]["type"] == "invalid_request_error"
    assert "Unrecognized request URL" in body["error"]["message"]
    assert "Request-Id" in headers


async def test_invalid_values_are_rejected(stripe_emulator_url: str, session: aiohttp.ClientSession) -> None:
    url = f"{stripe_emulator_url}/v1/payment_intents"
    cases = [
        ("amount=abc&currency=usd", "parameter_invalid_integer", "amount"),
        ("amount=10&currency=usd", "amount_too_small", "amount"),
        ("amount=1005&currency=kwd", "invalid_amount", "amount"),
        ("amount=1000&currency=usd&confirm=maybe", "parameter_invalid_boolean", "confirm"),
        ("amount=1000&currency=usd&capture_method=later", "parameter_invalid_string", "capture_method"),
        ("amount=1000&currency=usd&customer=cus_missing", "resource_missing", "customer"),
        ("amount=1000&currency=usd&payment_method=pm_missing", "resource_missing", "payment_method"),
    ]
    for body, code, param in cases:
        status, answer, _ = await call(session, "POST", url, body)
        assert status in (400, 404), body
        assert (answer["error"]["code"], answer["error"]["param"]) == (code, param), body


async def test_publishable_key_confirms_with_client_secret(
    stripe_emulator_url: str, session: aiohttp.ClientSession
) -> None:
    _, intent, _ = await call(session, "POST", f"{stripe_emulator_url}/v1/payment_intents", "amount=1000&currency=usd")
    browser = {"Authorization": "Bearer pk_test_emulator"}
    confirm = f"{stripe_emulator_url}/v1/payment_intents/{intent['id']}/confirm"
    status, wrong, _ = await call(session, "POST", confirm, "client_secret=nope&payment_method=pm_card_visa", browser)
    assert status == 400 and wrong["error"]["param"] == "client_secret"
    status, confirmed, _ = await call(
        session,
        "POST",
        confirm,
        f"client_secret={intent['client_secret']}&payment_method=pm_card_visa&return_url=https://shop.example/r",
        browser,
    )
    assert status == 200 and confirmed["status"] == "succeeded"
    status, read, _ = await call(
        session,
        "GET",
        f"{stripe_emulator_url}/v1/payment_intents/{intent['id']}?client_secret={intent['client_secret']}",
        None,
        browser,
    )
    assert status == 200 and read["id"] == intent["id"]
    status, _, _ = await call(
        session, "POST", f"{stripe_emulator_url}/v1/refunds", f"payment_intent={intent['id']}", browser
    )
    assert status == 401


async def test_concurrent_confirms_charge_once(stripe_emulator_url: str, session: aiohttp.ClientSession) -> None:
    _, intent, _ = await call(
        session,
        "POST",
        f"{stripe_emulator_url}/v1/payment_intents",
        "amount=1000&currency=usd&payment_method=pm_card_visa",
    )
    confirm = f"{stripe_emulator_url}/v1/payment_intents/{intent['id']}/confirm"
    results = await asyncio.gather(*(call(session, "POST", confirm) for _ in range(20)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses.count(200) == 1
    assert all(s == 400 for s in statuses[:-1]) or statuses[0] == 200
    _, charges, _ = await call(session, "GET", f"{stripe_emulator_url}/v1/charges?payment_intent={intent['id']}")
    assert len(charges["data"]) == 1


async def test_three_d_secure_page_redirects_back(stripe_emulator_url: str, session: aiohttp.ClientSession) -> None:
    _, intent, _ = await call(
        session,
        "POST",
        f"{stripe_emulator_url}/v1/payment_intents",
        "amount=1000&currency=usd&payment_method=pm_card_authenticationRequired&confirm=true"
        "&return_url=https://shop.example/back?order=1",
    )
    challenge_url = intent["next_action"]["redirect_to_url"]["url"]
    assert challenge_url.startswith(stripe_emulator_url)
    async with session.get(challenge_url) as page:
        assert "Complete authentication" in await page.text()
    async with session.post(challenge_url, data={"outcome": "succeed"}, allow_redirects=False) as answer:
        assert answer.status == 303
        location = answer.headers["Location"]
    assert location.startswith("https://shop.example/back?order=1&payment_intent=")
    assert "redirect_status=succeeded" in location


async def test_customers_and_payment_methods(stripe_emulator_url: str, session: aiohttp.ClientSession) -> None:
    base = stripe_emulator_url
    _, customer, _ = await call(
        session, "POST", f"{base}/v1/customers", "email=c@example.com&metadata[moquiPartyId]=P1"
    )
    _, pm, _ = await call(
        session,
        "POST",
        f"{base}/v1/payment_methods",
        "type=card&card[number]=5555555555554444&card[exp_month]=1&card[exp_year]=2031&card[cvc]=321",
    )
    assert (pm["card"]["brand"], pm["card"]["last4"], pm["card"]["exp_year"]) == ("mastercard", "4444", 2031)
    _, attached, _ = await call(
        session, "POST", f"{base}/v1/payment_methods/{pm['id']}/attach", f"customer={customer['id']}"
    )
    assert attached["customer"] == customer["id"]
    _, listed, _ = await call(session, "GET", f"{base}/v1/payment_methods?customer={customer['id']}&type=card")
    assert [p["id"] for p in listed["data"]] == [pm["id"]]
    _, detached, _ = await call(session, "POST", f"{base}/v1/payment_methods/{pm['id']}/detach")
    assert detached["customer"] is None
    status, _, _ = await call(session, "POST", f"{base}/v1/payment_methods/{pm['id']}/detach")
    assert status == 400
    _, deleted, _ = await call(session, "DELETE", f"{base}/v1/customers/{customer['id']}")
    assert deleted == {"id": customer["id"], "object": "customer", "deleted": True}


async def test_memory_is_bounded(session: aiohttp.ClientSession) -> None:
    state = EmulatorState(EmulatorConfig(objects_per_type=5, idempotency_entries=4, events=6))
    runner = web.AppRunner(create_app(state=state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        ids = []
        for index in range(12):
            headers = {**AUTH, "Idempotency-Key": f"bounded-{index}"}
            _, created, _ = await call(session, "POST", f"{url}/v1/customers", "name=x", headers)
            ids.append(created["id"])
        assert state.store.count("customer") == 5
        assert len(state.idempotency.responses) == 4
        assert len(state.events.events) == 6
        status, _, _ = await call(session, "GET", f"{url}/v1/customers/{ids[0]}")
        assert status == 404
        status, _, _ = await call(session, "GET", f"{url}/v1/customers/{ids[-1]}")
        assert status == 200
    finally:
        await runner.cleanup()
