"""Standalone mode as an integrator meets it: the real app (Mantle's rules in process) on loopback, called only
through Mantle's REST paths under `/rest/s1/mantle/...` with an api key, and the Stripe emulator as Stripe.

Every scenario builds its own order, payment method and payment through the REST API, then reads outcomes where an
integrator can (the Payment and its gateway responses over REST) and where the money is (Stripe, via the SDK).
The database is touched directly only to install the two gateway configs an operator would load as data, and to
read our own journal when a test needs to prove that a refused call wrote nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from moqui_bridge.web import moqui_json
from service.app import APP_STATE, create_app
from service.config import load_settings
from service.context import IDEMPOTENCY_KEY_HEADER, ServiceContext
from service.payment_services.standalone_client import STANDALONE_SERVICE_NAMES
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from stripe_emulator.control import EmulatorControl

CONFIG_ID = "StripeGateway"
AUTH_CAPTURE_CONFIG_ID = "StripeGatewayAuthCapture"
SECRET_KEY = "sk_test_standalonetests000000000"
API_KEY = "standalone-integrator-key"
CUSTOMER = "CustAda"
VENDOR = "VendorAcme"
STORE = "StoreAcme"
REST = "/rest/s1/mantle"
JOURNAL = "stripe.StripeGatewayOperation"

_STRIPE_SERVICES = "stripe.StripePaymentServices."
GATEWAY_SERVICE_NAMES = {
    "authorizeServiceName": _STRIPE_SERVICES + "authorize#Payment",
    "captureServiceName": _STRIPE_SERVICES + "capture#Payment",
    "releaseServiceName": _STRIPE_SERVICES + "release#Payment",
    "refundServiceName": _STRIPE_SERVICES + "refund#Payment",
    "detailsServiceName": _STRIPE_SERVICES + "get#PaymentGatewayDetails",
}
# Authorize-and-capture in one step: Mantle then skips capture (no capture service) and the payment is Delivered.
AUTH_CAPTURE_SERVICE_NAMES = {
    **GATEWAY_SERVICE_NAMES,
    "authorizeServiceName": _STRIPE_SERVICES + "authorizeAndCapture#Payment",
    "captureServiceName": "",
}

Client = TestClient[web.Request, web.Application]


async def install_gateway_configs(entity: EntityFacade) -> None:
    """The PaymentGatewayConfig rows an operator loads: `StripeGateway` (authorize, then capture) and
    `StripeGatewayAuthCapture` (authorizeAndCapture#Payment, no capture service)."""
    # A misspelt service name would only show up as Mantle silently skipping an operation; catch it here.
    configured = set(GATEWAY_SERVICE_NAMES.values()) | set(AUTH_CAPTURE_SERVICE_NAMES.values())
    assert configured - {""} <= set(STANDALONE_SERVICE_NAMES)
    for config_id, services in (
        (CONFIG_ID, GATEWAY_SERVICE_NAMES),
        (AUTH_CAPTURE_CONFIG_ID, AUTH_CAPTURE_SERVICE_NAMES),
    ):
        await entity.store(
            names.GATEWAY_CONFIG,
            {
                "paymentGatewayConfigId": config_id,
                "paymentGatewayTypeEnumId": "PgtStripe",
                "description": f"Stripe ({config_id})",
                **services,
            },
        )


class RestRefused(AssertionError):
    """Raised by `Integrator.ok` when the service answered an error (carries the parsed body)."""


@dataclass
class Integrator:
    """An application calling moqui-stripe's REST API with its api key; JSON numbers with a fraction are Decimal."""

    client: Client

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[int, Any]:
        """Send one call to `/rest/s1/mantle<path>`; the HTTP status and the parsed JSON answer."""
        headers = {"api_key": API_KEY}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_KEY_HEADER] = idempotency_key
        data = None
        if body is not None:
            # Amounts go out as JSON numbers with their scale (never through float), as a careful integrator sends.
            data = moqui_json.dumps(dict(body))
            headers["Content-Type"] = "application/json"
        response = await self.client.request(method, REST + path, data=data, headers=headers)
        text = await response.text()
        return response.status, json.loads(text, parse_float=Decimal)

    async def ok(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """A call that must succeed (200); its answer."""
        status, answer = await self.request(method, path, body, idempotency_key=idempotency_key)
        if status != 200:
            raise RestRefused(f"{method} {path} answered {status}: {answer}")
        assert isinstance(answer, dict)
        return answer

    async def refused(self, method: str, path: str, body: Mapping[str, Any] | None = None, *, status: int = 400) -> str:
        """A call that must be refused in Moqui's error shape `{"errorCode": N, "errors": "..."}`; the message."""
        got, answer = await self.request(method, path, body)
        assert got == status, answer
        assert set(answer) == {"errorCode", "errors"} and answer["errorCode"] == status, answer
        message = answer["errors"]
        assert isinstance(message, str) and message.strip()
        return message


@dataclass
class StandaloneWorld:
    """The running app, an integrator client, the emulator and an SDK client that reads what Stripe holds."""

    integrator: Integrator
    app: web.Application
    emulator: EmulatorControl
    stripe_client: stripe.StripeClient

    @property
    def context(self) -> ServiceContext:
        """The app's base service context (for the one rule Mantle serves no REST path for)."""
        return self.app[APP_STATE].require_runtime().base_context

    @property
    def entity(self) -> EntityFacade:
        """The app's entity facade (gateway config rows, and our journal for 'nothing written' checks)."""
        return self.context.entity

    # -- the integrator's setup ------------------------------------------------------------------------------

    async def create_order(
        self, grand_total: str, currency: str = "USD", *, product_store_id: str | None = None
    ) -> tuple[str, str]:
        """POST /orders: an open order with one part; (orderId, orderPartSeqId)."""
        body: dict[str, Any] = {
            "customerPartyId": CUSTOMER,
            "vendorPartyId": VENDOR,
            "currencyUomId": currency,
            "grandTotal": Decimal(grand_total),
        }
        if product_store_id is not None:
            body["productStoreId"] = product_store_id
        created = await self.integrator.ok("POST", "/orders", body)
        return str(created["orderId"]), str(created["orderPartSeqId"])

    async def create_payment_method(self, card: str, config_id: str | None = CONFIG_ID) -> str:
        """POST /parties/paymentMethods: the customer's card, held as a Stripe PaymentMethod id."""
        body: dict[str, Any] = {"ownerPartyId": CUSTOMER, "gatewayCimId": card, "description": f"card {card}"}
        if config_id is not None:
            body["paymentGatewayConfigId"] = config_id
        created = await self.integrator.ok("POST", "/parties/paymentMethods", body)
        return str(created["paymentMethodId"])

    async def saved_card(self, config_id: str = CONFIG_ID) -> str:
        """A card saved to the customer's Stripe Customer (as the saved-cards flow leaves it): a Customer, a real
        PaymentMethod (not a pm_card_* token) attached to it, and the party's stripe.StripeCustomer row; its id.
        Re-authorizations need one (issue 10 item 6)."""
        customer = await self.stripe_client.v1.customers.create_async({"name": "Saved card"})
        method = await self.stripe_client.v1.payment_methods.create_async(
            {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
        )
        await self.stripe_client.v1.payment_methods.attach_async(method.id, {"customer": customer.id})
        await self.entity.create_or_update(
            "stripe.StripeCustomer",
            {"partyId": CUSTOMER, "paymentGatewayConfigId": config_id, "customerId": customer.id},
            update=("customerId",),
        )
        return str(method.id)

    async def add_payment(self, order_id: str, part_seq_id: str, method_id: str) -> str:
        """POST /orders/{id}/parts/{seq}/payments: a Promised payment for what the part still needs paid."""
        added = await self.integrator.ok(
            "POST", f"/orders/{order_id}/parts/{part_seq_id}/payments", {"paymentMethodId": method_id}
        )
        return str(added["paymentId"])

    async def new_payment(
        self,
        amount: str = "100.00",
        *,
        card: str = "pm_card_visa",
        currency: str = "USD",
        config_id: str | None = CONFIG_ID,
        product_store_id: str | None = None,
    ) -> str:
        """Order, payment method and payment, as an integrator starts every scenario; the new paymentId,
        checked to be a Promised payment of the whole order total."""
        order_id, part_seq_id = await self.create_order(amount, currency, product_store_id=product_store_id)
        method_id = await self.create_payment_method(card, config_id)
        payment_id = await self.add_payment(order_id, part_seq_id, method_id)
        payment = await self.payment(payment_id)
        assert payment["statusId"] == "PmntPromised"
        assert payment["amount"] == Decimal(amount) and payment["amountUomId"] == currency
        assert (payment["orderId"], payment["fromPartyId"], payment["toPartyId"]) == (order_id, CUSTOMER, VENDOR)
        return payment_id

    # -- the Mantle REST paths --------------------------------------------------------------------------------

    async def gateway_call(
        self,
        operation: str,
        payment_id: str,
        amount: Decimal | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST /payments/{id}/gateways/<operation> (authorize, capture, release, refund); must answer 200."""
        body = None if amount is None else {"amount": amount}
        return await self.integrator.ok(
            "POST", f"/payments/{payment_id}/gateways/{operation}", body, idempotency_key=idempotency_key
        )

    async def gateway_refused(self, operation: str, payment_id: str, amount: Decimal | None = None) -> str:
        """The same call, which must be refused with Moqui's 400 error shape; the message."""
        body = None if amount is None else {"amount": amount}
        return await self.integrator.refused("POST", f"/payments/{payment_id}/gateways/{operation}", body)

    async def payment(self, payment_id: str) -> dict[str, Any]:
        """GET /payments/{id}: the Payment with its gateway responses and refund Payments."""
        return await self.integrator.ok("GET", f"/payments/{payment_id}")

    async def status(self, payment_id: str) -> str:
        """The Payment's statusId, read over REST."""
        return str((await self.payment(payment_id))["statusId"])

    async def responses(self, payment_id: str) -> list[dict[str, Any]]:
        """GET /payments/{id}/gatewayResponses, oldest first."""
        answer = await self.integrator.ok("GET", f"/payments/{payment_id}/gatewayResponses")
        found: list[dict[str, Any]] = answer["paymentGatewayResponses"]
        return found

    async def operations(self, payment_id: str) -> list[str]:
        """The paymentOperationEnumId of each gateway response, oldest first."""
        return [str(row["paymentOperationEnumId"]) for row in await self.responses(payment_id)]

    async def order(self, order_id: str) -> dict[str, Any]:
        """GET /orders/{id}: the order with its parts and payments."""
        return await self.integrator.ok("GET", f"/orders/{order_id}")

    async def journal(self, payment_id: str) -> list[dict[str, Any]]:
        """Our journal of Stripe calls for a payment, oldest first."""
        return await self.entity.find(JOURNAL, {"paymentId": payment_id}, order_by=["operationId"])

    async def snapshot(self, payment_id: str) -> dict[str, Any]:
        """Everything a refused call must leave untouched: the Payment (with its PGRs and refund Payments as REST
        shows them) and our journal of Stripe calls."""
        return {"payment": await self.payment(payment_id), "journal": await self.journal(payment_id)}

    # -- what Stripe holds ------------------------------------------------------------------------------------

    async def intents(self, payment_id: str) -> list[stripe.PaymentIntent]:
        """Every PaymentIntent Stripe holds for the payment (by our metadata), oldest first."""
        page = await self.stripe_client.v1.payment_intents.list_async({"limit": 100})
        found = [pi async for pi in page.auto_paging_iter() if pi.metadata.to_dict().get("paymentId") == payment_id]
        # Stripe lists newest first; `created` has one-second resolution, so the list order is the only true one.
        return found[::-1]

    async def only_intent(self, payment_id: str) -> stripe.PaymentIntent:
        """The payment's single PaymentIntent (asserting there is exactly one: nothing was charged twice)."""
        found = await self.intents(payment_id)
        assert len(found) == 1, [pi.id for pi in found]
        return found[0]

    async def refunds(self, payment_intent_id: str) -> list[stripe.Refund]:
        """Every refund Stripe holds for a PaymentIntent."""
        page = await self.stripe_client.v1.refunds.list_async({"payment_intent": payment_intent_id, "limit": 100})
        return [refund async for refund in page.auto_paging_iter()]

    async def charges(self, payment_intent_id: str) -> list[stripe.Charge]:
        """Every charge Stripe holds for a PaymentIntent."""
        page = await self.stripe_client.v1.charges.list_async({"payment_intent": payment_intent_id, "limit": 100})
        return [charge async for charge in page.auto_paging_iter()]


def only(rows: list[dict[str, Any]], operation: str) -> dict[str, Any]:
    """The single gateway response of one operation among a payment's responses."""
    matching = [row for row in rows if row.get("paymentOperationEnumId") == operation]
    assert len(matching) == 1, rows
    return matching[0]


def flags(response: Mapping[str, Any]) -> dict[str, str]:
    """A PGR's result indicators (all six are always written, 'Y' or 'N')."""
    keys = ("resultSuccess", "resultDeclined", "resultError", "resultNsf", "resultBadExpire", "resultBadCardNumber")
    found = {key: response.get(key) for key in keys}
    assert all(value in ("Y", "N") for value in found.values()), response
    return {key: str(value) for key, value in found.items()}


def flags_set(response: Mapping[str, Any]) -> set[str]:
    """The names of a PGR's indicators that are 'Y'."""
    return {key for key, value in flags(response).items() if value == "Y"}


def settings_overrides(stripe_emulator_url: str) -> dict[str, Any]:
    """Standalone settings with both gateway configs on the emulator.

    No SDK retries: a single emulator fault is then a single failed call, so outage tests control exactly what
    Stripe saw; our own replay-with-the-same-key is what they exercise.
    """
    gateway = {"secret_key": SECRET_KEY, "api_base": stripe_emulator_url, "max_network_retries": 0}
    return {
        "server": {"api_keys": {"integrator": API_KEY}},
        "database": {"pool_max_size": 20},
        "gateways": {CONFIG_ID: gateway, AUTH_CAPTURE_CONFIG_ID: gateway},
    }


@asynccontextmanager
async def standalone_world(
    database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl, overrides: Mapping[str, Any]
) -> AsyncIterator[StandaloneWorld]:
    """The app with these settings on 127.0.0.1 over a fresh seeded database, both gateway configs installed."""
    settings = load_settings(environment={}, overrides=dict(overrides))
    app = create_app(settings, database_dsn)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    # A separate Stripe client that only reads: what an operator would see in Stripe's dashboard.
    observer = StripeGateway("standalone-observer", StripeAccountSettings(SECRET_KEY, api_base=stripe_emulator_url))
    try:
        await install_gateway_configs(app[APP_STATE].require_runtime().entity)
        yield StandaloneWorld(Integrator(client), app, emulator_control, observer.client)
    finally:
        await observer.close()
        await client.close()


@pytest.fixture
async def world(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[StandaloneWorld]:
    """The app on 127.0.0.1 over a fresh seeded database, both gateway configs installed, the emulator reset."""
    async with standalone_world(
        entity_database_dsn, stripe_emulator_url, emulator_control, settings_overrides(stripe_emulator_url)
    ) as running:
        yield running
