"""Webhooks about the Moqui client's payments reach Moqui through the component's REST resources, once per event.

Everything is real and on loopback: the service configured with `moqui.base_url`, the Moqui stand-in whose routes
come from moqui-stripe.rest.xml and whose services run the component's XML actions, and the emulator signing and
delivering the events (automatic delivery paused, so a test chooses when and how often Stripe delivers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from moqui_bridge.component.writer import TEMPLATE_ROOT
from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.remote_moqui import moqui_timestamp
from service.app import APP_STATE, create_app
from service.config import MoquiSettings, ServerSettings, Settings
from service.named_lease import NAMED_LEASE
from stripe_emulator.control import DeliveryInfo, EmulatorControl
from tests.fixtures.connections_in_use import sample_connections
from tests.moqui_harness.mantle_services import MANTLE_SERVICES
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_harness.moqui_database import add_card_payment
from tests.moqui_harness.moqui_rest import MoquiRestStandIn, moqui_rest_app
from tests.moqui_side.conftest import MOQUI_API_KEY, MOQUI_CLIENT, STRIPE_SECRET_KEY, emulator_gateways

REST_FILE = TEMPLATE_ROOT / "service" / "moqui-stripe.rest.xml"
MOQUI_USER_KEY = "the-service-logs-in-to-moqui-with-this"
WEBHOOK_SECRET = "whsec_moquiflows000000000000000"
CONFIG_ID = "StripeGatewayAuthCapture"
AUTH_CONFIG_ID = "StripeGateway"
PAYMENT = "mantle.account.payment.Payment"
PGR = "mantle.account.method.PaymentGatewayResponse"
DISPUTE = "stripe.moqui.StripePaymentDispute"


@dataclass
class Flows:
    """Moqui (stand-in and database), the service that reaches it, and Stripe (emulator and a dashboard client)."""

    stand_in: MoquiRestStandIn
    moqui: MoquiHarness
    facade: EntityFacade
    emulator: EmulatorControl
    dashboard: stripe.StripeClient
    # The service's own database access and its DSN (the webhook's leases and connections).
    service_entity: EntityFacade
    service_dsn: str

    def requests(self) -> list[tuple[str, str, Any]]:
        return [(r.method, r.path, r.body) for r in self.stand_in.requests]

    async def deliver(self) -> list[DeliveryInfo]:
        """Deliver every pending event; each must be answered 200."""
        delivered = await self.emulator.deliver_webhooks("oldest_first")
        settled = {d.id: d for d in await self.emulator.deliveries()}
        for delivery in delivered:
            assert settled[delivery.id].responses[-1] == 200, settled[delivery.id]
        return delivered

    async def paid(self, amount: str, config_id: str = CONFIG_ID) -> tuple[str, str]:
        """A Moqui card payment authorized (and, through the auth-capture config, captured) by the component's
        gateway service over the gateway API; Mantle's authorize#SinglePayment copies the PaymentIntent to
        paymentRefNum and moves the status, which is done here as it does."""
        payment_id = await add_card_payment(self.facade, stripe_payment_method="pm_card_visa", amount=Decimal(amount))
        service = "authorizeAndCapture#Payment" if config_id == CONFIG_ID else "authorize#Payment"
        result = await self.moqui.call(
            f"stripe.StripePaymentServices.{service}", {"paymentId": payment_id, "paymentGatewayConfigId": config_id}
        )
        assert result.committed and result.out is not None, result
        pgr = await self.facade.find_one(PGR, {"paymentGatewayResponseId": result.out["paymentGatewayResponseId"]})
        assert pgr is not None and pgr["resultSuccess"] == "Y", pgr
        status = "PmntDelivered" if config_id == CONFIG_ID else "PmntAuthorized"
        await self.facade.update(
            PAYMENT,
            {"paymentId": payment_id},
            {"statusId": status, "paymentRefNum": pgr["referenceNum"], "paymentGatewayConfigId": config_id},
        )
        await self.deliver()  # the payment's own events: nothing for Moqui
        assert self.requests() == []
        return payment_id, str(pgr["referenceNum"])

    async def redeliver(self, event_type: str) -> None:
        """Stripe delivers every event of a type once more."""
        for delivery in await self.emulator.deliveries():
            if delivery.event_type == event_type:
                again = await self.emulator.redeliver_event(delivery.event_id)
                assert [d.responses[-1] for d in again] == [200] * len(again)


@pytest.fixture
async def flows(
    moqui: MoquiHarness,
    moqui_facade: EntityFacade,
    database_dsn: str,
    stripe_emulator_url: str,
    emulator_control: EmulatorControl,
) -> AsyncIterator[Flows]:
    moqui.actions.mantle_services.update(MANTLE_SERVICES)
    stand_in = moqui_rest_app(REST_FILE, moqui, api_key=MOQUI_USER_KEY)
    moqui_server = TestServer(stand_in.app, host="127.0.0.1")
    await moqui_server.start_server()
    settings = Settings(
        server=ServerSettings(api_keys={MOQUI_CLIENT: SecretStr(MOQUI_API_KEY)}),
        moqui=MoquiSettings(base_url=str(moqui_server.make_url("")).rstrip("/"), api_key=SecretStr(MOQUI_USER_KEY)),
        gateways=emulator_gateways(stripe_emulator_url, AUTH_CONFIG_ID, CONFIG_ID, webhook_secret=WEBHOOK_SECRET),
    )
    service = TestServer(create_app(settings, database_dsn), host="127.0.0.1")
    await service.start_server()
    # The component calls this service (the one that knows Moqui), as MoquiConf's moqui_stripe_url says.
    moqui.properties["moqui_stripe_url"] = str(service.make_url("")).rstrip("/")
    dashboard = stripe.StripeClient(STRIPE_SECRET_KEY, base_addresses={"api": stripe_emulator_url})
    try:
        await emulator_control.set_webhook_auto_delivery(False)
        for config_id in (AUTH_CONFIG_ID, CONFIG_ID):
            await emulator_control.add_webhook_endpoint(
                str(service.make_url(f"/stripe/webhook/{config_id}")), secret=WEBHOOK_SECRET
            )
        service_entity = service.app[APP_STATE].require_runtime().entity
        yield Flows(stand_in, moqui, moqui_facade, emulator_control, dashboard, service_entity, database_dsn)
    finally:
        await service.close()
        await moqui_server.close()


async def test_a_dashboard_refund_reaches_moqui_once(flows: Flows) -> None:
    payment_id, intent_id = await flows.paid("40.00")
    refund = await flows.dashboard.v1.refunds.create_async({"payment_intent": intent_id, "amount": 1500})

    await flows.deliver()
    await flows.redeliver("charge.refunded")

    body = {
        "refundId": refund.id,
        "amount": Decimal("15"),
        "refundStatus": "succeeded",
        "transactionDate": moqui_timestamp(datetime.fromtimestamp(refund.created, UTC)),
    }
    assert flows.requests() == [("POST", f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayRefunds", body)]
    refunds = await flows.facade.find(PAYMENT, {"refundForPaymentId": payment_id})
    assert [(r["paymentTypeEnumId"], r["amount"], r["paymentRefNum"]) for r in refunds] == [
        ("PtRefund", Decimal("15.00"), refund.id)
    ]


async def test_a_refund_made_through_moqui_is_not_sent_back(flows: Flows) -> None:
    payment_id, _ = await flows.paid("20.00")
    refunded = await flows.moqui.call(
        "stripe.StripePaymentServices.refund#Payment",
        {"paymentId": payment_id, "paymentGatewayConfigId": CONFIG_ID, "amount": Decimal("5.00")},
    )
    assert refunded.committed, refunded

    await flows.deliver()

    assert flows.requests() == []


async def test_a_refund_that_failed_later_reaches_moqui_once(flows: Flows) -> None:
    payment_id, intent_id = await flows.paid("30.00")
    refund = await flows.dashboard.v1.refunds.create_async({"payment_intent": intent_id, "amount": 1000})
    await flows.deliver()
    await flows.emulator.fail_refund(refund.id)

    await flows.deliver()
    await flows.redeliver("charge.refund.updated")

    path = f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayRefunds"
    failed = await flows.dashboard.v1.refunds.retrieve_async(refund.id)
    failure = {
        "failureReason": failed.failure_reason,
        "transactionDate": moqui_timestamp(datetime.fromtimestamp(refund.created, UTC)),
    }
    assert [(method, where) for method, where, _ in flows.requests()] == [
        ("POST", path),
        ("POST", f"{path}/{refund.id}/failure"),
    ]
    assert flows.requests()[-1][2] == failure
    declined = await flows.facade.find(PGR, {"paymentId": payment_id, "resultDeclined": "Y"})
    assert [(r["subReference"], r["reasonCode"]) for r in declined] == [(refund.id, failed.failure_reason)]
    refunds = await flows.facade.find(PAYMENT, {"refundForPaymentId": payment_id})
    assert [r["statusId"] for r in refunds] == ["PmntVoid"]


async def test_a_dispute_reaches_moqui_once_per_event(flows: Flows) -> None:
    payment_id, intent_id = await flows.paid("50.00")
    intent = await flows.dashboard.v1.payment_intents.retrieve_async(intent_id)
    dispute = await flows.emulator.create_dispute(str(intent.latest_charge), reason="fraudulent")

    await flows.deliver()
    await flows.redeliver("charge.dispute.created")

    sent = flows.requests()
    assert [(method, path) for method, path, _ in sent] == [
        ("POST", f"/rest/s1/moqui-stripe/payments/{payment_id}/disputes")
    ]
    body = sent[0][2]
    assert (body["disputeId"], body["amount"], body["reason"], body["disputeStatus"]) == (
        dispute["id"],
        Decimal("50"),
        "fraudulent",
        dispute["status"],
    )
    assert "evidenceDueDate" in body and "lastEventDate" in body
    rows = await flows.facade.find(DISPUTE, {"paymentId": payment_id})
    assert [(r["disputeId"], r["disputeStatus"]) for r in rows] == [(dispute["id"], dispute["status"])]


async def test_an_expired_authorization_refreshes_moqui_once(flows: Flows) -> None:
    payment_id, _ = await flows.paid("25.00", AUTH_CONFIG_ID)

    assert await flows.emulator.advance_clock(8 * 24 * 3600) == 1
    await flows.deliver()
    await flows.redeliver("payment_intent.canceled")

    assert flows.requests() == [("POST", f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayStatus", None)]
    payment = await flows.facade.find_one(PAYMENT, {"paymentId": payment_id})
    assert payment is not None and payment["statusId"] == "PmntPromised"


async def test_a_webhook_waiting_for_a_slow_moqui_holds_no_database_connection(flows: Flows) -> None:
    payment_id, intent_id = await flows.paid("50.00")
    intent = await flows.dashboard.v1.payment_intents.retrieve_async(intent_id)
    dispute = await flows.emulator.create_dispute(str(intent.latest_charge), reason="fraudulent")
    flows.stand_in.delay_seconds = 1.5
    path = f"/rest/s1/moqui-stripe/payments/{payment_id}/disputes"

    delivering = asyncio.create_task(flows.deliver())
    for _ in range(200):
        if any(request.path == path for request in flows.stand_in.requests):
            break
        await asyncio.sleep(0.02)
    # The delivery now waits for Moqui's answer under its event's lease.
    entity = flows.service_entity
    sampled = await sample_connections(entity, flows.service_dsn, NAMED_LEASE)
    await asyncio.wait_for(delivering, timeout=30)

    assert sampled.busy == [0] * 4
    assert sampled.checked_out == [0] * 4
    assert sampled.leased == [1] * 4
    assert [(method, where) for method, where, _ in flows.requests()] == [("POST", path)]
    assert flows.requests()[0][2]["disputeId"] == dispute["id"]
    assert await entity.find(NAMED_LEASE, {}) == []
