"""A running moqui-stripe (standalone, real PostgreSQL, the Stripe emulator) with the checkout pages, for tests.

Shared by the page tests here and the browser tests. Orders are made through Mantle's create#Order and links are
signed with the configured secret, as an integrating application does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.data_loader import load_files
from moqui_bridge.mantle import names
from service.app import APP_STATE, create_app
from service.checkout.links import checkout_url, sign_checkout_query
from service.checkout.pages import CheckoutServices
from service.config import Settings, load_settings
from service.context import ServiceContext
from service.saas_example import DEMO_DATA_FILES

SHOP = "http://shop.test"
DONE_URL = f"{SHOP}/done?order=1"
ERROR_URL = f"{SHOP}/error"
LINK_SECRET = "checkout-tests-link-secret-0123456789"
SECRET_KEY = "sk_test_checkouttests0123456789"
PUBLISHABLE_KEY = "pk_test_checkouttests0123456789"
CUSTOMER = "CustJane"
OTHER_CUSTOMER = "CustJohn"
VENDOR = "SaasVendor"
STORE = "SaasDemoStore"
CHARGE_STORE = "SaasDemoStoreCharge"


def checkout_settings(emulator_url: str, *, extra_origins: tuple[str, ...] = (), **checkout: Any) -> Settings:
    """Standalone settings with both demo gateway configs on the emulator and the checkout link secret."""
    gateway = {
        "secret_key": SECRET_KEY,
        "publishable_key": PUBLISHABLE_KEY,
        "api_base": emulator_url,
        "stripe_js_url": f"{emulator_url}/v3/",
        "max_network_retries": 0,
        "timeout_seconds": 10,
    }
    return load_settings(
        environment={},
        overrides={
            "server": {"api_keys": {"tests": "checkout-tests-api-key"}},
            "checkout": {
                "link_secret": LINK_SECRET,
                "allowed_redirect_origins": [SHOP, *extra_origins],
                **checkout,
            },
            "gateways": {"StripeGateway": gateway, "StripeGatewayAuthCapture": gateway},
        },
    )


@dataclass
class CheckoutServer:
    """The running service: its URL, app and the services its pages use."""

    url: str
    app: web.Application
    settings: Settings
    emulator_url: str

    @property
    def services(self) -> CheckoutServices:
        """The checkout pages' services (context and Mantle side)."""
        runtime = self.app[APP_STATE].require_runtime()
        return CheckoutServices(runtime.base_context, runtime.require_mantle())

    @property
    def context(self) -> ServiceContext:
        """The service context (entity facade, gateways, settings)."""
        return self.app[APP_STATE].require_runtime().base_context

    @property
    def entity(self) -> EntityFacade:
        """The entity facade on the test database."""
        return self.context.entity

    async def create_order(
        self,
        grand_total: str = "12.50",
        *,
        currency: str = "USD",
        customer: str = CUSTOMER,
        store: str | None = STORE,
        name: str = "Team plan, monthly",
    ) -> str:
        """An open order through Mantle's create#Order; returns its id."""
        parameters: dict[str, Any] = {
            "orderName": name,
            "customerPartyId": customer,
            "vendorPartyId": VENDOR,
            "currencyUomId": currency,
            "grandTotal": Decimal(grand_total),
        }
        if store:
            parameters["productStoreId"] = store
        result = await self.context.call_service(names.CREATE_ORDER, parameters)
        return str(result["orderId"])

    def signed_query(
        self,
        order_id: str,
        *,
        customer: str = CUSTOMER,
        done_url: str = DONE_URL,
        error_url: str = ERROR_URL,
        lifetime: int = 600,
        now: float | None = None,
    ) -> dict[str, str]:
        """The signed query of a checkout link, as get#CheckoutUrl makes it."""
        return sign_checkout_query(
            LINK_SECRET,
            order_id=order_id,
            customer_party_id=customer,
            done_url=done_url,
            error_url=error_url,
            lifetime_seconds=lifetime,
            now=now,
        )

    def link(self, order_id: str, **kwargs: Any) -> str:
        """A signed checkout URL on this server."""
        return checkout_url(self.url, self.signed_query(order_id, **kwargs))

    async def payments(self, order_id: str) -> list[dict[str, Any]]:
        """The order's Payments, oldest first."""
        return await self.entity.find(names.PAYMENT, {"orderId": order_id}, order_by=["paymentId"])

    async def intent_links(self, order_id: str) -> list[dict[str, Any]]:
        """The order's rows in stripe.StripePaymentIntent."""
        return await self.entity.find("stripe.StripePaymentIntent", {"orderId": order_id}, order_by=["createdDate"])


@asynccontextmanager
async def running_checkout(
    database_dsn: str,
    emulator_url: str,
    *,
    settings: Settings | None = None,
    mount: Any = None,
) -> AsyncIterator[CheckoutServer]:
    """Serve the service with the checkout pages on 127.0.0.1 (a free port) with the demo data loaded.

    `mount(app)` may add more routes (the SaaS example) before the app starts.
    """
    settings = settings or checkout_settings(emulator_url)
    app = create_app(settings, database_dsn)
    if mount is not None:
        mount(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        server = CheckoutServer(f"http://127.0.0.1:{port}", app, settings, emulator_url)
        await load_files(server.entity, DEMO_DATA_FILES, types=None)
        yield server
    finally:
        await runner.cleanup()


def query_of(url: str) -> dict[str, str]:
    """A URL's query parameters (first value of each)."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


async def emulator_post(emulator_url: str, path: str, data: Mapping[str, str]) -> dict[str, Any]:
    """POST to the emulator's API with the secret key, as our server would; returns the JSON (errors included)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emulator_url}{path}", data=dict(data), headers={"Authorization": f"Bearer {SECRET_KEY}"}
        ) as response,
    ):
        result: dict[str, Any] = await response.json()
        return result


async def emulator_get(emulator_url: str, path: str) -> dict[str, Any]:
    """GET from the emulator's API with the secret key."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emulator_url}{path}", headers={"Authorization": f"Bearer {SECRET_KEY}"}) as response,
    ):
        result: dict[str, Any] = await response.json()
        return result


def expired_now() -> float:
    """A signing time that makes a 60-second link already expired."""
    return time.time() - 3600
