"""Flows that start in the service reach Moqui through the component's REST resources.

RemoteMantleSide (the service's side) calls a Moqui stand-in whose routes come from the component's own
moqui-stripe.rest.xml and whose services are the component's XML, run by the harness on Mantle's schema (Mantle's
services by the stand-ins of tests/moqui_harness/mantle_services.py). Each test asserts the exact requests sent and
the rows Moqui ends up with. The checkout page's whole flow through these resources (read, add, record with Mantle's
authorize) is in tests/checkout/test_checkout_moqui.py and tests/browser/test_checkout_moqui.py.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from moqui_bridge.component.writer import TEMPLATE_ROOT
from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.remote_moqui import (
    RemoteMantleSide,
    StripeDispute,
    StripeRefund,
    moqui_timestamp,
)
from moqui_bridge.moqui_rest_client import MoquiAuthenticationError, MoquiBadRequestError, MoquiRestClient
from service.checkout.links import verify_checkout_query
from tests.moqui_harness.mantle_services import MANTLE_SERVICES
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_harness.moqui_database import CUSTOMER, ORDER_ID, STORE, add_card_payment
from tests.moqui_harness.moqui_rest import MoquiRestStandIn, ReceivedRequest, moqui_rest_app, rest_routes

REST_FILE = TEMPLATE_ROOT / "service" / "moqui-stripe.rest.xml"
MOQUI_USER_KEY = "the-service-logs-in-to-moqui-with-this"
LINK_SECRET = "shared-link-secret-for-checkout"
PAYMENT = "mantle.account.payment.Payment"
PGR = "mantle.account.method.PaymentGatewayResponse"
AUTH_CAPTURE = "StripeGatewayAuthCapture"


@dataclass
class Moqui:
    """The stand-in, its requests, and the service's side talking to it."""

    stand_in: MoquiRestStandIn
    side: RemoteMantleSide
    facade: EntityFacade

    def requests(self) -> list[tuple[str, str, Any]]:
        return [(r.method, r.path, r.body) for r in self.stand_in.requests]

    def last(self) -> ReceivedRequest:
        return self.stand_in.requests[-1]


@pytest.fixture
async def moqui_rest(moqui: MoquiHarness, moqui_facade: EntityFacade) -> AsyncIterator[Moqui]:
    moqui.actions.mantle_services.update(MANTLE_SERVICES)
    moqui.properties.update(
        {"moqui_stripe_link_secret": LINK_SECRET, "moqui_stripe_checkout_url": "https://pay.example.test"}
    )
    stand_in = moqui_rest_app(REST_FILE, moqui, api_key=MOQUI_USER_KEY)
    server = TestServer(stand_in.app, host="127.0.0.1")
    await server.start_server()
    client = MoquiRestClient(str(server.make_url("")), api_key=MOQUI_USER_KEY, max_attempts=1)
    try:
        yield Moqui(stand_in, RemoteMantleSide(client), moqui_facade)
    finally:
        await client.close()
        await server.close()


async def _delivered_payment(facade: EntityFacade, amount: str = "100.00") -> str:
    payment_id = await add_card_payment(facade, stripe_payment_method="pm_card_visa", amount=Decimal(amount))
    await facade.update(PAYMENT, {"paymentId": payment_id}, {"statusId": "PmntAuthorized", "paymentRefNum": "pi_1"})
    await facade.update(PAYMENT, {"paymentId": payment_id}, {"statusId": "PmntDelivered"})
    return payment_id


def test_the_routes_are_the_rest_files() -> None:
    assert [(r.method, r.path, r.service) for r in rest_routes(REST_FILE)] == [
        ("GET", "/rest/s1/moqui-stripe/orders/{orderId}/checkout", "stripe.StripeCheckoutServices.get#CheckoutOrder"),
        ("POST", "/rest/s1/moqui-stripe/orders/{orderId}/checkoutUrl", "stripe.StripeCheckoutServices.get#CheckoutUrl"),
        (
            "POST",
            "/rest/s1/moqui-stripe/orders/{orderId}/parts/{orderPartSeqId}/payments",
            "stripe.StripeCheckoutServices.add#CheckoutPayment",
        ),
        (
            "POST",
            "/rest/s1/moqui-stripe/orders/{orderId}/parts/{orderPartSeqId}/checkoutPayments",
            "stripe.StripeCheckoutServices.record#CheckoutPayment",
        ),
        (
            "POST",
            "/rest/s1/moqui-stripe/payments/{paymentId}/gatewayRefunds",
            "stripe.StripeGatewayEventServices.record#GatewayRefund",
        ),
        (
            "POST",
            "/rest/s1/moqui-stripe/payments/{paymentId}/gatewayRefunds/{refundId}/failure",
            "stripe.StripeGatewayEventServices.record#GatewayRefundFailure",
        ),
        (
            "POST",
            "/rest/s1/moqui-stripe/payments/{paymentId}/disputes",
            "stripe.StripeGatewayEventServices.record#Dispute",
        ),
        (
            "POST",
            "/rest/s1/moqui-stripe/payments/{paymentId}/gatewayStatus",
            "stripe.StripeGatewayEventServices.refresh#PaymentGatewayStatus",
        ),
        *(
            (method, f"/rest/s1/moqui-stripe/{path}", f"stripe.StripeSavedCardServices.{service}")
            for method, path, service in (
                ("GET", "parties/{partyId}/stripeCustomer", "get#PartyStripeCustomer"),
                ("POST", "parties/{partyId}/stripeCustomer", "set#PartyStripeCustomer"),
                ("POST", "parties/{partyId}/savedCards", "record#SavedCard"),
                ("POST", "savedCards/{gatewayCimId}/update", "update#SavedCard"),
                ("POST", "savedCards/{gatewayCimId}/expire", "expire#SavedCard"),
            )
        ),
    ]


async def test_a_dashboard_refund_is_recorded_once(moqui_rest: Moqui) -> None:
    payment_id = await _delivered_payment(moqui_rest.facade)
    created = datetime(2026, 12, 4, 10, 30, 15, 250000, tzinfo=UTC)
    refund = StripeRefund("re_dash1", Decimal("30.00"), "succeeded", created)

    first = await moqui_rest.side.record_stripe_refund(payment_id, refund)
    again = await moqui_rest.side.record_stripe_refund(payment_id, refund)

    body = {
        "refundId": "re_dash1",
        "amount": Decimal("30.00"),
        "refundStatus": "succeeded",
        "transactionDate": "2026-12-04 10:30:15.250",
    }
    path = f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayRefunds"
    assert moqui_rest.requests() == [("POST", path, body), ("POST", path, body)]
    assert first.created and not again.created and first.refund_payment_id == again.refund_payment_id
    [response] = await moqui_rest.facade.find(PGR, {"paymentId": payment_id})
    assert (response["paymentOperationEnumId"], response["subReference"], response["amount"]) == (
        "PgoRefund",
        "re_dash1",
        Decimal("30.00"),
    )
    assert response["referenceNum"] == "pi_1"  # the PaymentIntent, as the gateway API records refunds
    refund_payment = await moqui_rest.facade.find_one(PAYMENT, {"paymentId": first.refund_payment_id})
    assert refund_payment is not None
    assert (refund_payment["paymentTypeEnumId"], refund_payment["statusId"], refund_payment["amount"]) == (
        "PtRefund",
        "PmntDelivered",
        Decimal("30.00"),
    )
    assert (refund_payment["refundForPaymentId"], refund_payment["toPartyId"]) == (payment_id, CUSTOMER)
    assert [name for name, _ in moqui_rest.last().result.calls] == []  # type: ignore[union-attr]


async def test_a_refund_that_failed_later_voids_the_refund(moqui_rest: Moqui) -> None:
    payment_id = await _delivered_payment(moqui_rest.facade)
    created = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)
    await moqui_rest.side.record_stripe_refund(
        payment_id, StripeRefund("re_fail1", Decimal("10.00"), "succeeded", created)
    )
    failed = StripeRefund("re_fail1", Decimal("10.00"), "failed", created, failure_reason="expired_or_canceled_card")

    answer = await moqui_rest.side.record_refund_failure(payment_id, failed)

    assert moqui_rest.requests()[-1] == (
        "POST",
        f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayRefunds/re_fail1/failure",
        {"failureReason": "expired_or_canceled_card", "transactionDate": "2026-12-04 11:00:00.000"},
    )
    declined = await moqui_rest.facade.find(PGR, {"paymentId": payment_id, "resultDeclined": "Y"})
    assert [(r["subReference"], r["reasonCode"]) for r in declined] == [("re_fail1", "expired_or_canceled_card")]
    refund_payment = await moqui_rest.facade.find_one(PAYMENT, {"paymentId": answer["refundPaymentId"]})
    assert refund_payment is not None and refund_payment["statusId"] == "PmntVoid"


async def test_a_dispute_is_kept_where_an_operator_sees_it(moqui_rest: Moqui) -> None:
    payment_id = await _delivered_payment(moqui_rest.facade)
    opened = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    dispute = StripeDispute(
        "du_1", Decimal("100.00"), "fraudulent", "needs_response", opened + timedelta(days=7), opened
    )

    await moqui_rest.side.record_dispute(payment_id, dispute)
    won = StripeDispute("du_1", Decimal("100.00"), "fraudulent", "won", None, opened + timedelta(days=9))
    await moqui_rest.side.record_dispute(payment_id, won)

    path = f"/rest/s1/moqui-stripe/payments/{payment_id}/disputes"
    assert moqui_rest.requests() == [
        (
            "POST",
            path,
            {
                "disputeId": "du_1",
                "amount": Decimal("100.00"),
                "disputeStatus": "needs_response",
                "lastEventDate": "2026-12-04 12:00:00.000",
                "reason": "fraudulent",
                "evidenceDueDate": "2026-12-11 12:00:00.000",
            },
        ),
        (
            "POST",
            path,
            {
                "disputeId": "du_1",
                "amount": Decimal("100.00"),
                "disputeStatus": "won",
                "lastEventDate": "2026-12-13 12:00:00.000",
                "reason": "fraudulent",
            },
        ),
    ]
    [row] = await moqui_rest.facade.find("stripe.moqui.StripePaymentDispute", {"paymentId": payment_id})
    assert (row["disputeId"], row["disputeStatus"], row["amount"], row["amountUomId"]) == (
        "du_1",
        "won",
        Decimal("100.00"),
        "USD",
    )


async def test_the_checkout_page_reads_the_order(moqui_rest: Moqui) -> None:
    await add_card_payment(moqui_rest.facade, stripe_payment_method="pm_card_visa", amount=Decimal("40.00"))
    declined = await add_card_payment(moqui_rest.facade, stripe_payment_method=None, amount=Decimal("60.00"))
    await moqui_rest.facade.update(PAYMENT, {"paymentId": declined}, {"statusId": "PmntDeclined"})

    order = await moqui_rest.side.checkout_order(ORDER_ID, "StripeGateway")

    assert moqui_rest.requests() == [("GET", f"/rest/s1/moqui-stripe/orders/{ORDER_ID}/checkout", None)]
    assert moqui_rest.last().query == {"paymentGatewayConfigId": "StripeGateway"}
    assert order["orderHeader"]["currencyUomId"] == "USD"
    assert [part["partTotal"] for part in order["orderParts"]] == [Decimal("500.0000")]
    # Every payment, newest first: the page's rules decide what counts (a declined checkout payment is reusable).
    assert [(p["amount"], p["statusId"]) for p in order["payments"]] == [
        (Decimal("60.0000"), "PmntDeclined"),
        (Decimal("40.0000"), "PmntPromised"),
    ]
    # The store names no card gateway: the service's default, with the config's authorize service.
    assert order["paymentGatewayConfigId"] == "StripeGateway"
    assert order["paymentGatewayConfig"]["authorizeServiceName"] == "stripe.StripePaymentServices.authorize#Payment"


async def test_the_stores_card_gateway_wins_over_the_default(moqui_rest: Moqui) -> None:
    await moqui_rest.facade.create(
        "mantle.product.store.ProductStorePaymentGateway",
        {"productStoreId": STORE, "paymentInstrumentEnumId": "PiCreditCard", "paymentGatewayConfigId": AUTH_CAPTURE},
    )

    order = await moqui_rest.side.checkout_order(ORDER_ID, "StripeGateway")

    assert order["paymentGatewayConfigId"] == AUTH_CAPTURE
    assert order["paymentGatewayConfig"]["authorizeServiceName"] == (
        "stripe.StripePaymentServices.authorizeAndCapture#Payment"
    )


async def test_an_unknown_order_is_an_answer_without_a_header(moqui_rest: Moqui) -> None:
    order = await moqui_rest.side.checkout_order("NO_SUCH_ORDER", "StripeGateway")

    assert order.get("orderHeader") is None and not order.get("orderParts")


async def test_the_checkout_adds_a_card_payment_through_the_component(moqui_rest: Moqui) -> None:
    payment = await moqui_rest.side.add_checkout_payment(ORDER_ID, "01", Decimal("500.00"), "StripeGateway")

    assert moqui_rest.requests() == [
        (
            "POST",
            f"/rest/s1/moqui-stripe/orders/{ORDER_ID}/parts/01/payments",
            {"amount": Decimal("500.00"), "paymentGatewayConfigId": "StripeGateway"},
        )
    ]
    row = await moqui_rest.facade.find_one(PAYMENT, {"paymentId": payment["paymentId"]})
    assert row is not None
    assert (row["statusId"], row["paymentInstrumentEnumId"], row["paymentGatewayConfigId"], row["amount"]) == (
        "PmntPromised",
        "PiCreditCard",
        "StripeGateway",
        Decimal("500.0000"),
    )
    assert (payment["amountUomId"], payment["orderPartSeqId"], payment["paymentMethodId"]) == ("USD", "01", None)
    [(name, _)] = moqui_rest.last().result.calls  # type: ignore[union-attr]
    assert name == "mantle.order.OrderServices.add#OrderPartPayment"


async def test_moqui_signs_checkout_links_the_service_accepts(moqui_rest: Moqui) -> None:
    client = moqui_rest.side._client  # the same authenticated client, for a path the service itself never calls
    body = {
        "customerPartyId": CUSTOMER,
        "doneUrl": "https://shop.example.test/done?o=1",
        "errorUrl": "https://shop.example.test/oops",
        "expireSeconds": 600,
    }

    answer = await client.call("POST", f"/rest/s1/moqui-stripe/orders/{ORDER_ID}/checkoutUrl", body=body)

    url = urllib.parse.urlsplit(answer["checkoutUrl"])
    assert (url.scheme, url.netloc, url.path) == ("https", "pay.example.test", "/stripe/Checkout")
    query = dict(urllib.parse.parse_qsl(url.query))
    link = verify_checkout_query(LINK_SECRET, query, ("https://shop.example.test",))
    assert (link.order_id, link.customer_party_id, link.done_url) == (ORDER_ID, CUSTOMER, body["doneUrl"])
    tampered = {**query, "customerPartyId": "SomebodyElse"}
    with pytest.raises(Exception, match="not valid"):
        verify_checkout_query(LINK_SECRET, tampered, ("https://shop.example.test",))


async def test_an_unknown_payment_is_moquis_400(moqui_rest: Moqui) -> None:
    with pytest.raises(MoquiBadRequestError, match="Payment NOPE not found"):
        await moqui_rest.side.record_dispute(
            "NOPE", StripeDispute("du_2", Decimal("1.00"), None, "needs_response", None, datetime.now(UTC))
        )


async def test_a_wrong_key_is_refused(moqui_rest: Moqui) -> None:
    base = str(moqui_rest.side._client._base_url)
    async with MoquiRestClient(base, api_key="wrong", max_attempts=1) as client:
        with pytest.raises(MoquiAuthenticationError):
            await RemoteMantleSide(client).checkout_order(ORDER_ID)


async def test_a_status_refresh_runs_mantles_details(
    moqui_rest: Moqui, moqui: MoquiHarness, stripe_emulator_url: str
) -> None:
    payment_id = await add_card_payment(
        moqui_rest.facade, stripe_payment_method="pm_card_visa", amount=Decimal("25.00")
    )
    authorized = await moqui.call(
        "stripe.StripePaymentServices.authorize#Payment",
        {"paymentId": payment_id, "paymentGatewayConfigId": "StripeGateway"},
    )
    assert authorized.committed and authorized.out is not None, authorized
    pgr_id = authorized.out["paymentGatewayResponseId"]
    pgr = await moqui_rest.facade.find_one(PGR, {"paymentGatewayResponseId": pgr_id})
    assert pgr is not None
    await moqui_rest.facade.update(PAYMENT, {"paymentId": payment_id}, {"paymentRefNum": pgr["referenceNum"]})

    refresh = await moqui_rest.side.refresh_payment_status(payment_id)

    assert moqui_rest.requests() == [("POST", f"/rest/s1/moqui-stripe/payments/{payment_id}/gatewayStatus", None)]
    assert refresh.refreshed and refresh.status_id == "PmntAuthorized" and refresh.payment_gateway_response_id


def test_moqui_timestamps_are_utc_milliseconds() -> None:
    assert moqui_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)) == "2026-01-02 03:04:05.678"
