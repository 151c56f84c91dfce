"""Issue 10 item 4, "pass outcomes on": when the reconciler settles a Moqui client's in-doubt authorize, capture or
release, it asks Moqui to refresh the Payment through the component's `POST .../payments/{paymentId}/gatewayStatus`,
once, also when Moqui was unreachable at first; a settled refund is pushed nowhere (it is answered to Moqui's retry).

Everything is real and on loopback: the service configured with `moqui.base_url`, the Moqui stand-in whose routes come
from moqui-stripe.rest.xml and whose services run the component's XML actions (Mantle's
get#SinglePaymentGatewayDetails as tests/moqui_harness/mantle_services.py models it from PaymentServices.xml
1923-1990), and the emulator as Stripe, which loses the answer of one write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from pydantic import SecretStr

from moqui_bridge.component.writer import TEMPLATE_ROOT
from moqui_bridge.entity import EntityFacade
from service.app import APP_STATE, create_app
from service.clock import Clock
from service.config import MoquiSettings, ReconcilerSettings, ServerSettings, Settings
from service.maintenance import run_reconciler
from service.payment_services.reconcile import ReconcileReport
from service.payment_services.status_refresh import STATUS_REFRESH
from stripe_emulator.control import EmulatorControl
from tests.moqui_harness.mantle_services import MANTLE_SERVICES
from tests.moqui_harness.moqui_call import CallResult, MoquiHarness
from tests.moqui_harness.moqui_database import add_card_payment
from tests.moqui_harness.moqui_rest import MoquiRestStandIn, moqui_rest_app
from tests.moqui_side.conftest import MOQUI_API_KEY, MOQUI_CLIENT, STRIPE_SECRET_KEY, emulator_gateways

REST_FILE = TEMPLATE_ROOT / "service" / "moqui-stripe.rest.xml"
MOQUI_USER_KEY = "the-reconciler-logs-in-to-moqui-with-this"
CONFIG_ID = "StripeGateway"
PAYMENT = "mantle.account.payment.Payment"
PGR = "mantle.account.method.PaymentGatewayResponse"
SERVICES = "stripe.StripePaymentServices."


@dataclass
class Reconciling:
    """Moqui (its stand-in, started on demand on a fixed port), the service that reaches it, the emulator."""

    moqui: MoquiHarness
    facade: EntityFacade
    emulator: EmulatorControl
    stripe: stripe.StripeClient
    service: web.Application
    clock: Clock
    moqui_port: int
    stand_in: MoquiRestStandIn | None = None

    def requests(self) -> list[tuple[str, str, Any]]:
        """What reached Moqui's REST API, in order."""
        return [] if self.stand_in is None else [(r.method, r.path, r.body) for r in self.stand_in.requests]

    async def reconcile(self) -> ReconcileReport:
        """One pass of the reconciler as the background job runs it (outcomes passed on)."""
        return await run_reconciler(self.service[APP_STATE])

    async def owed(self) -> list[dict[str, Any]]:
        """The status refreshes still owed."""
        return await self.service[APP_STATE].require_runtime().entity.find(STATUS_REFRESH)

    async def gateway(self, verb: str, payment_id: str, **extra: Any) -> CallResult:
        """The component's gateway service, as Mantle's rule calls it in Moqui."""
        result = await self.moqui.call(
            SERVICES + verb, {"paymentId": payment_id, "paymentGatewayConfigId": CONFIG_ID, **extra}
        )
        assert result.committed and result.out is not None, result
        return result

    async def response(self, result: CallResult) -> dict[str, Any]:
        assert result.out is not None
        pgr = await self.facade.find_one(PGR, {"paymentGatewayResponseId": result.out["paymentGatewayResponseId"]})
        assert pgr is not None
        return pgr

    async def authorized(self, amount: str) -> tuple[str, str]:
        """A Moqui Payment authorized as Mantle's authorize#SinglePayment leaves it (Authorized, paymentRefNum from
        the response: PaymentServices.xml authorize#SinglePayment, lines 1474-1478)."""
        payment_id = await add_card_payment(self.facade, stripe_payment_method="pm_card_visa", amount=Decimal(amount))
        pgr = await self.response(await self.gateway("authorize#Payment", payment_id))
        assert pgr["resultSuccess"] == "Y", pgr
        await self.facade.update(
            PAYMENT, {"paymentId": payment_id}, {"statusId": "PmntAuthorized", "paymentRefNum": pgr["referenceNum"]}
        )
        return payment_id, str(pgr["referenceNum"])

    async def lost(self, path: str, verb: str, payment_id: str, **extra: Any) -> None:
        """Stripe makes the write but its answer never arrives: Moqui records a resultError response."""
        await self.emulator.add_fault(path, "lose_response", method="POST")
        pgr = await self.response(await self.gateway(verb, payment_id, **extra))
        assert (pgr["resultError"], pgr["resultSuccess"]) == ("Y", "N"), pgr

    async def status(self, payment_id: str) -> str:
        payment = await self.facade.find_one(PAYMENT, {"paymentId": payment_id})
        assert payment is not None
        return str(payment["statusId"])

    async def start_moqui(self) -> TestServer:
        self.stand_in = moqui_rest_app(REST_FILE, self.moqui, api_key=MOQUI_USER_KEY)
        server = TestServer(self.stand_in.app, host="127.0.0.1", port=self.moqui_port)
        await server.start_server()
        return server


@pytest.fixture
async def reconciling(
    moqui: MoquiHarness,
    moqui_facade: EntityFacade,
    database_dsn: str,
    stripe_emulator_url: str,
    emulator_control: EmulatorControl,
) -> AsyncIterator[Reconciling]:
    moqui.actions.mantle_services.update(MANTLE_SERVICES)
    moqui_port = unused_port()
    settings = Settings(
        server=ServerSettings(api_keys={MOQUI_CLIENT: SecretStr(MOQUI_API_KEY)}),
        moqui=MoquiSettings(base_url=f"http://127.0.0.1:{moqui_port}", api_key=SecretStr(MOQUI_USER_KEY)),
        gateways=emulator_gateways(stripe_emulator_url, CONFIG_ID),
        # Every in-doubt row is the reconciler's at once (no caller retry is running in these tests).
        reconciler=ReconcilerSettings(min_age_seconds=0),
    )
    clock = Clock()
    app = create_app(settings, database_dsn, clock=clock)
    service = TestServer(app, host="127.0.0.1")
    await service.start_server()
    moqui.properties["moqui_stripe_url"] = str(service.make_url("")).rstrip("/")
    client = stripe.StripeClient(STRIPE_SECRET_KEY, base_addresses={"api": stripe_emulator_url})
    try:
        yield Reconciling(moqui, moqui_facade, emulator_control, client, app, clock, moqui_port)
    finally:
        await service.close()


async def test_a_settled_capture_refreshes_the_moqui_payment_once(reconciling: Reconciling) -> None:
    payment_id, intent_id = await reconciling.authorized("30.00")
    await reconciling.lost(f"/v1/payment_intents/{intent_id}/capture", "capture#Payment", payment_id)
    assert await reconciling.status(payment_id) == "PmntAuthorized"
    moqui = await reconciling.start_moqui()
    try:
        report = await reconciling.reconcile()
        again = await reconciling.reconcile()
    finally:
        await moqui.close()

    assert (report.done, report.refreshed, report.refreshes_owed) == (1, 1, 0)
    assert (again.examined, again.refreshed) == (0, 0)
    assert reconciling.requests() == [("POST", f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayStatus", None)]
    assert await reconciling.status(payment_id) == "PmntDelivered"
    # Moqui's own retry (no capture response counted) is the same attempt: answered from the journal.
    retried = await reconciling.response(await reconciling.gateway("capture#Payment", payment_id))
    assert retried["resultSuccess"] == "Y"
    intent = await reconciling.stripe.v1.payment_intents.retrieve_async(intent_id, {"expand": ["latest_charge"]})
    assert intent.status == "succeeded" and intent.amount_received == 3000


async def test_moqui_unreachable_during_the_refresh_gets_it_later_once(reconciling: Reconciling) -> None:
    payment_id, intent_id = await reconciling.authorized("25.00")
    await reconciling.lost(f"/v1/payment_intents/{intent_id}/cancel", "release#Payment", payment_id)

    # Moqui is down: nothing listens on its port.
    down = await reconciling.reconcile()
    assert (down.done, down.refreshed, down.refreshes_owed) == (1, 0, 1)
    [owed] = await reconciling.owed()
    assert (owed["paymentId"], owed["sendCount"]) == (payment_id, 1) and "cannot connect" in owed["lastError"]
    # Not due yet (back-off), even with Moqui back.
    moqui = await reconciling.start_moqui()
    try:
        early = await reconciling.reconcile()
        assert (early.refreshed, early.refreshes_owed, reconciling.requests()) == (0, 1, [])
        reconciling.clock.advance(61)
        back = await reconciling.reconcile()
        after = await reconciling.reconcile()
    finally:
        await moqui.close()

    assert (back.refreshed, back.refreshes_owed, after.refreshed) == (1, 0, 0)
    assert reconciling.requests() == [("POST", f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayStatus", None)]
    assert await reconciling.owed() == []
    # Mantle's release leaves the Payment Promised; the refresh does the same from Stripe's canceled state.
    assert await reconciling.status(payment_id) == "PmntPromised"
    intent = await reconciling.stripe.v1.payment_intents.retrieve_async(intent_id)
    assert intent.status == "canceled"


async def test_a_settled_authorization_gives_moqui_its_payment_intent(reconciling: Reconciling) -> None:
    payment_id = await add_card_payment(
        reconciling.facade, stripe_payment_method="pm_card_visa", amount=Decimal("12.00")
    )
    await reconciling.lost("/v1/payment_intents", "authorize#Payment", payment_id)
    moqui = await reconciling.start_moqui()
    try:
        report = await reconciling.reconcile()
    finally:
        await moqui.close()

    page = await reconciling.stripe.v1.payment_intents.list_async({"limit": 100})
    [intent] = [pi async for pi in page.auto_paging_iter() if pi.metadata.to_dict().get("paymentId") == payment_id]
    assert (report.done, report.refreshed) == (1, 1)
    assert reconciling.requests() == [
        ("POST", f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayStatus", {"paymentIntentId": intent.id})
    ]
    payment = await reconciling.facade.find_one(PAYMENT, {"paymentId": payment_id})
    assert payment is not None and (payment["statusId"], payment["paymentRefNum"]) == ("PmntAuthorized", intent.id)
    assert intent.status == "requires_capture"


async def test_a_settled_refund_is_pushed_nowhere_and_answers_moqui_s_retry(reconciling: Reconciling) -> None:
    payment_id, intent_id = await reconciling.authorized("40.00")
    await reconciling.gateway("capture#Payment", payment_id)
    await reconciling.facade.update(PAYMENT, {"paymentId": payment_id}, {"statusId": "PmntDelivered"})
    await reconciling.lost("/v1/refunds", "refund#Payment", payment_id, amount=Decimal("15.00"))
    moqui = await reconciling.start_moqui()
    try:
        report = await reconciling.reconcile()
    finally:
        await moqui.close()

    assert (report.done, report.refreshed, report.refreshes_owed) == (1, 0, 0)
    assert reconciling.requests() == []
    assert await reconciling.owed() == []
    # Moqui's retry of the refund (its error response is not counted) gets the refund Stripe made, once.
    retried = await reconciling.response(
        await reconciling.gateway("refund#Payment", payment_id, amount=Decimal("15.00"))
    )
    page = await reconciling.stripe.v1.refunds.list_async({"payment_intent": intent_id})
    refunds = [refund async for refund in page.auto_paging_iter()]
    assert [(r.id, r.amount) for r in refunds] == [(retried["subReference"], 1500)]
    assert retried["resultSuccess"] == "Y"
