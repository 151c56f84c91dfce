"""StripeGateway / StripeGateways: one client per gateway config, secrets masked, sessions closed."""

from __future__ import annotations

import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.stripe_gateway.client import (
    STRIPE_API_VERSION,
    StripeAccountSettings,
    StripeGateways,
    UnknownGatewayConfig,
    mask_secret,
)

SECRET = "sk_test_51HxYzAbCdEfGhIjKlMnOpQrStUv"


def test_secret_key_is_masked_everywhere() -> None:
    settings = StripeAccountSettings(secret_key=SECRET, publishable_key="pk_test_123", api_base="http://127.0.0.1:1")
    assert SECRET not in repr(settings)
    assert "sk_test_…StUv" in repr(settings)
    assert "pk_test_123" in repr(settings)
    gateways = StripeGateways({"StripeGateway": settings})
    assert SECRET not in repr(gateways.get("StripeGateway"))
    assert SECRET not in repr(gateways)


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        (SECRET, "sk_test_…StUv"),
        ("rk_live_short", "rk_live_…"),
        ("whatever_secret_value", "…alue"),
        ("short_secret", "…"),
        ("x", "…"),
    ],
)
def test_mask_secret(secret: str, shown: str) -> None:
    assert mask_secret(secret) == shown


@pytest.mark.parametrize(
    "changes",
    [
        {"secret_key": ""},
        {"api_base": "ftp://127.0.0.1"},
        {"api_base": "127.0.0.1:12111"},
        {"max_network_retries": -1},
        {"max_network_retries": 11},
        {"timeout_seconds": 0},
    ],
)
def test_settings_are_checked(changes: dict[str, object]) -> None:
    values: dict[str, object] = {"secret_key": SECRET, **changes}
    with pytest.raises(ValueError) as refused:
        StripeAccountSettings(**values)  # type: ignore[arg-type]
    assert SECRET not in str(refused.value)


async def test_registry_builds_one_client_per_config_and_closes_them() -> None:
    async with StripeGateways(
        {
            "StripeA": StripeAccountSettings(secret_key=SECRET, api_base="http://127.0.0.1:1", max_network_retries=3),
            "StripeB": StripeAccountSettings(secret_key=SECRET + "B"),
        }
    ) as gateways:
        assert set(gateways) == {"StripeA", "StripeB"}
        assert len(gateways) == 2
        assert "StripeA" in gateways and "Other" not in gateways
        first, second = gateways.get("StripeA"), gateways.get("StripeB")
        assert first.client is not second.client
        assert first.payment_gateway_config_id == "StripeA"
        with pytest.raises(UnknownGatewayConfig, match="Other"):
            gateways.get("Other")
    # Closing twice is harmless (shutdown hooks may run more than once).
    await gateways.close()


async def test_every_request_names_the_sdks_api_version() -> None:
    # Pinned, never the account's default version: the fields we read and the rules we follow are the SDK's version's
    # (stripe-python 16.x speaks 2026-10-28.endive), so every request carries it.
    seen: list[str | None] = []

    async def payment_intent(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Stripe-Version"))
        return web.json_response({"id": "pi_1", "object": "payment_intent", "status": "requires_capture"})

    app = web.Application()
    app.router.add_get("/v1/payment_intents/pi_1", payment_intent)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    gateways = StripeGateways({"StripeGateway": StripeAccountSettings(SECRET, api_base=str(server.make_url("")))})
    try:
        await gateways.get("StripeGateway").client.v1.payment_intents.retrieve_async("pi_1")
    finally:
        await gateways.close()
        await server.close()
    assert seen == [stripe.api_version] == [STRIPE_API_VERSION]
    assert STRIPE_API_VERSION.startswith("2026-10-28")
