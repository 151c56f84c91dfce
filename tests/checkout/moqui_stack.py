"""The checkout against a Moqui: the service configured with `moqui.base_url`, the Moqui REST stand-in and Stripe.

Everything is real and on loopback. The stand-in's routes come from the component's moqui-stripe.rest.xml and its
services are the component's own XML actions run by the harness on Mantle's schema (tests/moqui_harness); its
authorize#Payment calls this service's gateway API with the Moqui's api key, as MoquiConf's moqui_stripe_url says.
Stripe is the emulator, signing and delivering webhooks when a test says so (automatic delivery paused).

Moqui can be taken down and brought back on the same port (`moqui_down`, `moqui_up`): its listening socket is
closed, so the service's requests are refused at connect, as they are when Moqui is stopped or restarting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from moqui_bridge.component.writer import TEMPLATE_ROOT
from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Pool
from service.app import APP_STATE, create_app
from service.checkout.links import checkout_url, sign_checkout_query
from service.config import CheckoutSettings, GatewaySettings, MoquiSettings, ServerSettings, Settings
from stripe_emulator.control import EmulatorControl
from tests.fixtures.moqui import MOQUI_API_KEY, MOQUI_CLIENT, STRIPE_SECRET_KEY
from tests.moqui_harness.groovy_runner import GroovyRunner
from tests.moqui_harness.mantle_services import MANTLE_SERVICES
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_harness.moqui_database import CUSTOMER, ORDER_ID
from tests.moqui_harness.moqui_rest import MoquiRestStandIn, moqui_rest_app
from tests.moqui_harness.xml_actions import ServiceCatalogue, XmlActions

REST_FILE = TEMPLATE_ROOT / "service" / "moqui-stripe.rest.xml"
MOQUI_USER_KEY = "the-checkout-logs-in-to-moqui-with-this"
PUBLISHABLE_KEY = "pk_test_moquicheckout000000000000"
WEBHOOK_SECRET = "whsec_moquicheckout0000000000000"
LINK_SECRET = "moqui-checkout-link-secret-0123456789"
CONFIG_ID = "StripeGateway"
ORDER_PATH = f"/rest/s1/moqui-stripe/orders/{ORDER_ID}"
CHECKOUT_READ = ("GET", f"{ORDER_PATH}/checkout", None)
PAYMENT = "mantle.account.payment.Payment"
PGR = "mantle.account.method.PaymentGatewayResponse"
ORDER_HEADER = "mantle.order.OrderHeader"


@dataclass
class MoquiCheckout:
    """The running stack and what each part saw."""

    url: str
    app: web.Application
    # The shop's pages the browser comes back to (a loopback server answering any path).
    shop_url: str
    moqui: MoquiHarness
    stand_in: MoquiRestStandIn
    facade: EntityFacade
    emulator: EmulatorControl
    emulator_url: str
    _moqui_runner: web.AppRunner
    _moqui_port: int

    @property
    def done_url(self) -> str:
        """The link's done URL."""
        return f"{self.shop_url}/done"

    @property
    def error_url(self) -> str:
        """The link's error URL."""
        return f"{self.shop_url}/error"

    def link(self, order_id: str = ORDER_ID) -> str:
        """A checkout link for the customer's order, signed as Moqui's get#CheckoutUrl signs it."""
        return checkout_url(self.url, self.signed_query(order_id))

    def return_url(self, order_id: str = ORDER_ID) -> str:
        """Where Stripe sends the shopper back (the same signed parameters)."""
        return f"{self.url}/stripe/Checkout/return?{urlencode(self.signed_query(order_id))}"

    def signed_query(self, order_id: str) -> dict[str, str]:
        """The link's signed query."""
        return sign_checkout_query(
            LINK_SECRET,
            order_id=order_id,
            customer_party_id=CUSTOMER,
            done_url=self.done_url,
            error_url=self.error_url,
            lifetime_seconds=600,
        )

    def requests(self) -> list[tuple[str, str, Any]]:
        """Every request Moqui received, in order: (method, path, JSON body)."""
        return [(r.method, r.path, r.body) for r in self.stand_in.requests]

    def take_requests(self) -> list[tuple[str, str, Any]]:
        """The requests received since the last call, then forgotten."""
        taken = self.requests()
        self.stand_in.requests.clear()
        return taken

    async def moqui_down(self) -> None:
        """Stop listening and close the open connections, as a stopped Moqui does: the service's requests to Moqui
        are refused."""
        for site in list(self._moqui_runner.sites):
            await site.stop()
        server = self._moqui_runner.server
        assert server is not None
        await server.shutdown(0.1)

    async def moqui_up(self) -> None:
        """Listen again on the same port."""
        await web.TCPSite(self._moqui_runner, "127.0.0.1", self._moqui_port).start()

    async def payments(self) -> list[dict[str, Any]]:
        """The order's Payments in Moqui, oldest first."""
        return await self.facade.find(PAYMENT, {"orderId": ORDER_ID}, order_by=["paymentId"])

    async def responses(self, payment_id: str) -> list[dict[str, Any]]:
        """A Payment's PaymentGatewayResponses in Moqui."""
        return await self.facade.find(PGR, {"paymentId": payment_id}, order_by=["paymentGatewayResponseId"])

    async def order_status(self) -> str:
        """The order's status in Moqui."""
        order = await self.facade.find_one(ORDER_HEADER, {"orderId": ORDER_ID})
        assert order is not None
        return str(order["statusId"])

    @property
    def service_entity(self) -> EntityFacade:
        """The service's own database (its journal and PaymentIntent links)."""
        return self.app[APP_STATE].require_runtime().entity

    async def journal(self) -> list[tuple[str, str, int, str]]:
        """The service's journal rows: (client, operation, attemptNum, Stripe write), oldest first."""
        rows = await self.service_entity.find("stripe.StripeGatewayOperation", {}, order_by=["startedDate"])
        return [(r["clientName"], r["operationName"], r["attemptNum"], r["stripeCall"]) for r in rows]

    async def assert_recorded_once(self, payment_id: str, intent_id: str) -> None:
        """Moqui holds the Payment authorized with the page's PaymentIntent, one response, the order placed; the
        service's journal shows the page's create and Moqui's authorize answered without a Stripe write."""
        [payment] = await self.payments()
        assert (payment["paymentId"], payment["statusId"], payment["paymentRefNum"]) == (
            payment_id,
            "PmntAuthorized",
            intent_id,
        )
        responses = await self.responses(payment_id)
        assert [(r["paymentOperationEnumId"], r["referenceNum"], r["resultSuccess"]) for r in responses] == [
            ("PgoAuthorize", intent_id, "Y")
        ]
        assert await self.order_status() == "OrderPlaced"
        assert await self.journal() == [
            (MOQUI_CLIENT, "checkout", 0, "checkout-manual"),
            (MOQUI_CLIENT, "authorize", 0, "none"),
        ]

    async def stripe(self, method: str, path: str, data: dict[str, str] | None = None) -> dict[str, Any]:
        """Call Stripe (the emulator) with the account's secret key, as the service would; the JSON answer."""
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                f"{self.emulator_url}{path}",
                data=data,
                headers={"Authorization": f"Bearer {STRIPE_SECRET_KEY}"},
            ) as response,
        ):
            answer: dict[str, Any] = await response.json()
            return answer

    async def stripe_events(self, intent_id: str) -> list[str]:
        """Stripe's log of what happened to the PaymentIntent and its charges: event types, oldest first."""
        events = (await self.stripe("GET", "/v1/events?limit=100"))["data"]
        about = [
            event
            for event in events
            if intent_id in (event["data"]["object"].get("id"), event["data"]["object"].get("payment_intent"))
        ]
        return [event["type"] for event in sorted(about, key=lambda event: (event["created"], event["id"]))]

    async def deliver_webhooks(self) -> list[str]:
        """Stripe delivers every pending event (each must be answered 200); their types."""
        delivered = await self.emulator.deliver_webhooks("oldest_first")
        settled = {d.id: d for d in await self.emulator.deliveries()}
        for delivery in delivered:
            assert settled[delivery.id].responses[-1] == 200, settled[delivery.id]
        return [delivery.event_type for delivery in delivered]


def _settings(moqui_url: str, emulator_url: str, shop_url: str, request_deadline_seconds: float) -> Settings:
    return Settings(
        server=ServerSettings(
            api_keys={MOQUI_CLIENT: SecretStr(MOQUI_API_KEY)}, request_deadline_seconds=request_deadline_seconds
        ),
        moqui=MoquiSettings(base_url=moqui_url, api_key=SecretStr(MOQUI_USER_KEY), timeout_seconds=20),
        checkout=CheckoutSettings(
            link_secret=SecretStr(LINK_SECRET), allowed_redirect_origins=(shop_url,), place_order=True
        ),
        gateways={
            CONFIG_ID: GatewaySettings(
                secret_key=SecretStr(STRIPE_SECRET_KEY),
                publishable_key=PUBLISHABLE_KEY,
                api_base=emulator_url,
                stripe_js_url=f"{emulator_url}/v3/",
                webhook_secret=SecretStr(WEBHOOK_SECRET),
                max_network_retries=0,
                timeout_seconds=5,
            )
        },
    )


@asynccontextmanager
async def running_moqui_checkout(
    moqui_pool: Pool,
    moqui_facade: EntityFacade,
    component_services: ServiceCatalogue,
    groovy_runner: GroovyRunner,
    database_dsn: str,
    emulator: EmulatorControl,
    *,
    request_deadline_seconds: float = 20.0,
) -> AsyncIterator[MoquiCheckout]:
    """Serve the stack (the fixtures' Moqui database, a fresh service database, the reset emulator); the harness's
    order (500.00 USD, customer CustJqp) is made open, so paying it places it. `request_deadline_seconds`: the
    service's (a page's or a webhook delivery's) deadline."""
    emulator_url = emulator.base_url
    moqui = MoquiHarness(
        moqui_pool,
        XmlActions(component_services, moqui_facade, groovy_runner, dict(MANTLE_SERVICES)),
        {"moqui_stripe_api_key": MOQUI_API_KEY},
    )
    await moqui_facade.update(ORDER_HEADER, {"orderId": ORDER_ID}, {"statusId": "OrderOpen"})
    await moqui_facade.update(
        "mantle.order.OrderPart", {"orderId": ORDER_ID, "orderPartSeqId": "01"}, {"statusId": "OrderOpen"}
    )
    stand_in = moqui_rest_app(REST_FILE, moqui, api_key=MOQUI_USER_KEY)
    moqui_runner = web.AppRunner(stand_in.app, access_log=None)
    await moqui_runner.setup()
    await web.TCPSite(moqui_runner, "127.0.0.1", 0).start()
    moqui_port = moqui_runner.addresses[0][1]
    shop = TestServer(_shop_app(), host="127.0.0.1")
    await shop.start_server()
    shop_url = str(shop.make_url("")).rstrip("/")
    settings = _settings(f"http://127.0.0.1:{moqui_port}", emulator_url, shop_url, request_deadline_seconds)
    service = TestServer(create_app(settings, database_dsn), host="127.0.0.1")
    await service.start_server()
    service_url = str(service.make_url("")).rstrip("/")
    # The component calls this service (the one that knows Moqui), as MoquiConf's moqui_stripe_url says.
    moqui.properties["moqui_stripe_url"] = service_url
    try:
        await emulator.set_webhook_auto_delivery(False)
        await emulator.add_webhook_endpoint(f"{service_url}/stripe/webhook/{CONFIG_ID}", secret=WEBHOOK_SECRET)
        yield MoquiCheckout(
            service_url,
            service.app,
            shop_url,
            moqui,
            stand_in,
            moqui_facade,
            emulator,
            emulator_url,
            moqui_runner,
            moqui_port,
        )
    finally:
        await service.close()
        await shop.close()
        await moqui_runner.cleanup()


def _shop_app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=f"<h1 id='shop-page'>{request.path}</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


def payment_body(payment_id: str, intent_id: str, method: str) -> dict[str, Any]:
    """record#CheckoutPayment's body as the service sends it."""
    return {
        "paymentIntentId": intent_id,
        "paymentGatewayConfigId": CONFIG_ID,
        "placeOrder": True,
        "stripePaymentMethodId": method,
        "paymentId": payment_id,
    }


ADD_PAYMENT = (
    "POST",
    f"{ORDER_PATH}/parts/01/payments",
    {"amount": Decimal("500.0000"), "paymentGatewayConfigId": CONFIG_ID},
)
RECORD_PATH = f"{ORDER_PATH}/parts/01/checkoutPayments"
