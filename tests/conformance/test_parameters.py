"""Every route's parameters against the SDK's typed params for the pinned API version (stripe_emulator.accepted).

Each name Stripe takes on a route is modelled or refused as unsupported, exactly once; names off the list are
`parameter_unknown`; `payment_method_types` answers the endive error (changelog 2026-09-30.endive).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import stripe

from stripe_emulator.accepted import ACCEPTS, PINNED_API_VERSION
from stripe_emulator.app import create_app
from tests.conformance.sdk_spec import sdk_params

AUTH = {"Authorization": "Bearer sk_test_conformance"}


def test_the_sdk_speaks_the_pinned_version() -> None:
    assert stripe.api_version == PINNED_API_VERSION


def test_every_api_route_declares_its_parameters() -> None:
    served = {
        (route.method, route.resource.canonical)
        for route in create_app().router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/v1/") and route.method != "HEAD"
    }
    assert served == set(ACCEPTS)


@pytest.mark.parametrize("route", sorted(ACCEPTS), ids=lambda r: f"{r[0]} {r[1]}")
def test_declared_handling_covers_the_sdk_params_exactly(route: tuple[str, str]) -> None:
    accepts = ACCEPTS[route]
    expected = sdk_params(accepts.sdk_params)
    assert not accepts.modelled & accepts.unsupported
    assert accepts.modelled | accepts.unsupported == expected, (
        f"not handled: {sorted(expected - accepts.modelled - accepts.unsupported)}, "
        f"not Stripe's: {sorted((accepts.modelled | accepts.unsupported) - expected)}"
    )
    if accepts.removed_payment_method_types:
        assert "payment_method_types" not in expected


def _url(base: str, path: str) -> str:
    return base + path.replace("{id}", "obj_conformance")


async def _call(session: aiohttp.ClientSession, base: str, route: tuple[str, str], name: str) -> dict[str, Any]:
    method, path = route
    data = {name: "x"}
    if method == "POST":
        request = session.post(_url(base, path), data=data, headers=AUTH)
    else:
        request = session.request(method, _url(base, path), params=data, headers=AUTH)
    async with request as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 400, body
        error: dict[str, Any] = body["error"]
        return error


async def test_names_off_the_list_are_parameter_unknown(stripe_emulator_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for route in ACCEPTS:
            error = await _call(session, stripe_emulator_url, route, "not_a_stripe_param")
            assert error["type"] == "invalid_request_error"
            assert error["code"] == "parameter_unknown"
            assert error["param"] == "not_a_stripe_param"
            assert error["message"] == "Received unknown parameter: not_a_stripe_param"


async def test_unsupported_names_are_refused_never_ignored(stripe_emulator_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for route, accepts in ACCEPTS.items():
            for name in sorted(accepts.unsupported):
                error = await _call(session, stripe_emulator_url, route, name)
                assert (error["code"], error["param"]) == ("emulator_parameter_unsupported", name), route


async def test_payment_method_types_is_refused_as_endive_does(stripe_emulator_url: str) -> None:
    removing = [route for route, accepts in ACCEPTS.items() if accepts.removed_payment_method_types]
    assert {path for _, path in removing} == {
        "/v1/payment_intents",
        "/v1/payment_intents/{id}",
        "/v1/payment_intents/{id}/confirm",
        "/v1/setup_intents",
        "/v1/setup_intents/{id}",
    }
    async with aiohttp.ClientSession() as session:
        for route in removing:
            error = await _call(session, stripe_emulator_url, route, "payment_method_types")
            assert error["code"] == "payment_method_types_no_longer_supported"
            assert error["param"] == "payment_method_types"


async def test_stripe_js_parameters_only_with_a_publishable_key(stripe_emulator_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        created_params = {"amount": "1000", "currency": "usd", "payment_method": "pm_card_visa"}
        async with session.post(f"{stripe_emulator_url}/v1/payment_intents", data=created_params, headers=AUTH) as r:
            intent = await r.json()
        confirm = f"{stripe_emulator_url}/v1/payment_intents/{intent['id']}/confirm"
        with_secret = {"client_secret": intent["client_secret"]}
        async with session.post(confirm, data=with_secret, headers=AUTH) as refused:
            body = await refused.json()
            assert (refused.status, body["error"]["code"]) == (400, "parameter_unknown")
        publishable = {"Authorization": "Bearer pk_test_conformance"}
        as_stripe_js = {**with_secret, "key": "pk_test_conformance"}
        async with session.post(confirm, data=as_stripe_js, headers=publishable) as confirmed:
            assert confirmed.status == 200
            assert (await confirmed.json())["status"] == "succeeded"
