"""A running service with the webhook endpoint mounted, the emulator registered to deliver to it, and helpers.

The app is the real one (`create_app`, standalone mode, Mantle's rules in process) on a fresh seeded database,
served on loopback. The emulator's automatic delivery is paused: a test makes Stripe-side changes, then delivers
the pending events when (and in the order) it wants, so nothing depends on timing.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from service.app import APP_STATE, create_app
from service.config import load_settings
from service.context import ServiceContext
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from service.webhooks.rejections import WEBHOOK_REJECTION
from stripe_emulator.control import DeliveryInfo, EmulatorControl, WebhookEndpointInfo

CONFIG_ID = "StripeGateway"
OTHER_CONFIG_ID = "OtherStripeGateway"
NO_SECRET_CONFIG_ID = "StripeNoWebhooks"
SECRET_KEY = "sk_test_webhooktests000000000000"
WEBHOOK_SECRET = "whsec_webhooktestsecret0000000000"
API_KEY = "webhook-tests-api-key"
PGR = names.GATEWAY_RESPONSE
PAYMENT = names.PAYMENT
EVENT = "stripe.StripeWebhookEvent"
REFUND = "stripe.StripeRefund"
DISPUTE = "stripe.StripeDispute"
INTENT_LINK = "stripe.StripePaymentIntent"

_ids = itertools.count(1)

_SERVICES = {
    "authorizeServiceName": "stripe.StripePaymentServices.authorize#Payment",
    "captureServiceName": "stripe.StripePaymentServices.capture#Payment",
    "releaseServiceName": "stripe.StripePaymentServices.release#Payment",
    "refundServiceName": "stripe.StripePaymentServices.refund#Payment",
    "detailsServiceName": "stripe.StripePaymentServices.get#PaymentGatewayDetails",
}


@dataclass
class WebhookWorld:
    """The service, its database, the emulator and a Stripe client playing the browser and the dashboard."""

    client: TestClient[web.Request, web.Application]
    entity: EntityFacade
    emulator: EmulatorControl
    stripe_client: stripe.StripeClient
    endpoint: WebhookEndpointInfo
    context: ServiceContext

    def url(self, config_id: str = CONFIG_ID) -> str:
        """The webhook URL of a gateway config on the test server."""
        return str(self.client.make_url(f"/stripe/webhook/{config_id}"))

    async def deliver(
        self, order: Literal["oldest_first", "newest_first"] | Sequence[str] = "oldest_first"
    ) -> list[DeliveryInfo]:
        """Send every pending event now; fail the test if our endpoint did not answer 200."""
        deliveries = await self.emulator.deliver_webhooks(order)
        settled = {d.id: d for d in await self.emulator.deliveries()}
        for delivery in deliveries:
            assert settled[delivery.id].responses[-1] == 200, settled[delivery.id]
        return [settled[d.id] for d in deliveries]

    async def add_payment(
        self,
        amount: str = "10.00",
        status_id: str = "PmntPromised",
        card: str = "pm_card_visa",
        config_id: str = CONFIG_ID,
    ) -> str:
        """A Promised card payment of a customer, through `config_id`; returns its id."""
        n = next(_ids)
        method_id, payment_id, party_id = f"WHPM{n}", f"WHPAY{n}", f"WHCUST{n}"
        await self.entity.create(
            "mantle.account.method.PaymentMethod",
            {
                "paymentMethodId": method_id,
                "paymentMethodTypeEnumId": "PmtCreditCard",
                "ownerPartyId": party_id,
                "gatewayCimId": card,
                "paymentGatewayConfigId": config_id,
            },
        )
        await self.entity.create(
            PAYMENT,
            {
                "paymentId": payment_id,
                "paymentTypeEnumId": "PtInvoicePayment",
                "paymentInstrumentEnumId": "PiCreditCard",
                "paymentMethodId": method_id,
                "paymentGatewayConfigId": config_id,
                "fromPartyId": party_id,
                "toPartyId": "ORG_STORE",
                "statusId": status_id,
                "amount": Decimal(amount),
                "amountUomId": "USD",
            },
        )
        return payment_id

    async def browser_payment(
        self,
        payment_id: str | None,
        *,
        amount_minor: int = 1000,
        capture_method: str = "manual",
        card: str = "pm_card_visa",
        config_id: str = CONFIG_ID,
    ) -> stripe.PaymentIntent:
        """A PaymentIntent made and confirmed outside our services, as the checkout page and stripe.js do.

        `payment_id` None makes one with no metadata at all (someone else's PaymentIntent on the same account).
        A decline is returned as the PaymentIntent it left behind.
        """
        metadata = {"paymentId": payment_id, "paymentGatewayConfigId": config_id} if payment_id else {}
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": "usd",
            "capture_method": capture_method,
            "metadata": metadata,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
        intent = await self.stripe_client.v1.payment_intents.create_async(params)  # type: ignore[arg-type]
        try:
            return await self.stripe_client.v1.payment_intents.confirm_async(intent.id, {"payment_method": card})
        except stripe.CardError:
            return await self.stripe_client.v1.payment_intents.retrieve_async(intent.id)

    async def payment(self, payment_id: str) -> dict[str, Any]:
        """The Payment row."""
        row = await self.entity.find_one(PAYMENT, {"paymentId": payment_id})
        assert row is not None
        return row

    async def pgrs(self, payment_id: str, operation: str | None = None) -> list[dict[str, Any]]:
        """The payment's PGRs, oldest first (of one operation when given)."""
        conditions: dict[str, Any] = {"paymentId": payment_id}
        if operation is not None:
            conditions["paymentOperationEnumId"] = operation
        return await self.entity.find(PGR, conditions, order_by=["paymentGatewayResponseId"])

    async def event_rows(self, **conditions: Any) -> list[dict[str, Any]]:
        """stripe.StripeWebhookEvent rows, oldest first."""
        return await self.entity.find(EVENT, conditions, order_by=["webhookEventId"])

    async def rejection_rows(self, total: int) -> list[dict[str, Any]]:
        """stripe.StripeWebhookRejection rows (the counters of refused deliveries) once they count `total` in all:
        counts are written within a second of the rejections (rejections.py), so this waits up to 10 s."""
        rows: list[dict[str, Any]] = []
        for _ in range(100):
            rows = await self.entity.find(WEBHOOK_REJECTION, {}, order_by=["rejectionReasonId"])
            if sum(row["rejectedCount"] for row in rows) >= total:
                return rows
            await asyncio.sleep(0.1)
        raise AssertionError(f"rejection counts did not reach {total}: {rows}")

    async def refund_payments(self, payment_id: str) -> list[dict[str, Any]]:
        """Mantle's refund Payments of a payment."""
        return await self.entity.find(PAYMENT, {"refundForPaymentId": payment_id}, order_by=["paymentId"])

    async def intents_of(self, payment_id: str) -> list[str]:
        """Every PaymentIntent Stripe holds for the payment (by metadata): what a second charge would show."""
        page = await self.stripe_client.v1.payment_intents.list_async({"limit": 100})
        return [pi.id for pi in page.data if pi.metadata.to_dict().get("paymentId") == payment_id]

    async def call(self, name: str, **parameters: Any) -> dict[str, Any]:
        """Call a registered service in process (Mantle's rules, as Moqui would run them)."""
        return await self.context.call_service(name, parameters)


@pytest.fixture
def webhook_pool_max_size() -> int:
    """The service's pool bound (a test parametrizes it)."""
    return 20


@pytest.fixture
def webhook_deadline_seconds() -> float:
    """Each delivery's deadline, `server.request_deadline_seconds` (a test parametrizes it)."""
    return 20.0


@pytest.fixture
async def world(
    entity_database_dsn: str,
    stripe_emulator_url: str,
    emulator_control: EmulatorControl,
    webhook_pool_max_size: int,
    webhook_deadline_seconds: float,
) -> AsyncIterator[WebhookWorld]:
    """The service with webhooks on loopback, gateway configs in its database, and the emulator delivering to it."""
    gateway = {"secret_key": SECRET_KEY, "api_base": stripe_emulator_url, "max_network_retries": 0}
    settings = load_settings(
        environment={},
        overrides={
            "server": {"api_keys": {"tests": API_KEY}, "request_deadline_seconds": webhook_deadline_seconds},
            "database": {"pool_max_size": webhook_pool_max_size},
            "gateways": {
                CONFIG_ID: {**gateway, "webhook_secret": WEBHOOK_SECRET},
                OTHER_CONFIG_ID: {**gateway, "webhook_secret": WEBHOOK_SECRET},
                NO_SECRET_CONFIG_ID: gateway,
            },
        },
    )
    app = create_app(settings, entity_database_dsn)
    state = app[APP_STATE]
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    stripe_gateway = StripeGateway("test-dashboard", StripeAccountSettings(SECRET_KEY, api_base=stripe_emulator_url))
    try:
        runtime = state.require_runtime()
        for config_id in (CONFIG_ID, OTHER_CONFIG_ID, NO_SECRET_CONFIG_ID):
            # store: standalone start-up already made the rows of the configured gateways (gateway_configs.py).
            await runtime.entity.store(
                names.GATEWAY_CONFIG,
                {"paymentGatewayConfigId": config_id, "paymentGatewayTypeEnumId": "PgtStripe", **_SERVICES},
            )
        await emulator_control.set_webhook_auto_delivery(False)
        endpoint = await emulator_control.add_webhook_endpoint(
            str(client.make_url(f"/stripe/webhook/{CONFIG_ID}")), secret=WEBHOOK_SECRET
        )
        yield WebhookWorld(
            client, runtime.entity, emulator_control, stripe_gateway.client, endpoint, runtime.base_context
        )
    finally:
        await stripe_gateway.close()
        await client.close()
