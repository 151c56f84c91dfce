"""The checkout page and its return handler over real HTTP: links, order checks, the PaymentIntent, outcomes."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from urllib.parse import urlencode

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from moqui_bridge.mantle import names
from service.checkout.links import checkout_url
from tests.checkout.harness import (
    CHARGE_STORE,
    DONE_URL,
    ERROR_URL,
    OTHER_CUSTOMER,
    PUBLISHABLE_KEY,
    CheckoutServer,
    checkout_settings,
    emulator_get,
    emulator_post,
    expired_now,
    query_of,
    running_checkout,
)

_CLIENT_SECRET = re.compile(r'data-client-secret="(pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+)"')


async def fetch(client: aiohttp.ClientSession, url: str) -> tuple[int, str, CIMultiDictProxy[str]]:
    """GET without following redirects: status, body and headers."""
    async with client.get(url, allow_redirects=False) as response:
        return response.status, await response.text(), response.headers


def client_secret_of(page: str) -> str:
    match = _CLIENT_SECRET.search(page)
    assert match is not None, "the checkout page carries the PaymentIntent's client secret"
    return match.group(1)


def intent_id_of(client_secret: str) -> str:
    return client_secret.split("_secret_")[0]


def return_url(server: CheckoutServer, order_id: str, **extra: str) -> str:
    query = {**server.signed_query(order_id), **extra}
    return f"{server.url}/stripe/Checkout/return?{urlencode(query)}"


# -- links ---------------------------------------------------------------------------------------------------------


async def test_unsigned_link_gets_a_plain_error_page_and_no_redirect(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    query = {"orderId": order_id, "customerPartyId": "CustJane", "doneUrl": DONE_URL, "errorUrl": ERROR_URL}
    status, body, headers = await fetch(
        browser_like_client, f"{checkout_server.url}/stripe/Checkout?{urlencode(query)}"
    )
    assert status == 400
    assert "Location" not in headers
    assert "incomplete or unsigned" in body
    assert await checkout_server.payments(order_id) == []


async def test_tampered_link_is_refused(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    other_order = await checkout_server.create_order("99.00")
    query = checkout_server.signed_query(order_id)
    query["orderId"] = other_order
    status, body, headers = await fetch(browser_like_client, checkout_url(checkout_server.url, query))
    assert status == 400
    assert "Location" not in headers
    assert "not valid" in body
    assert await checkout_server.payments(other_order) == []


async def test_expired_link_is_refused(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    link = checkout_server.link(order_id, lifetime=60, now=expired_now())
    status, body, headers = await fetch(browser_like_client, link)
    assert status == 400
    assert "expired" in body
    assert "Location" not in headers


async def test_link_with_a_foreign_done_url_is_never_followed(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    # Correctly signed (say, with a leaked secret), but the origin is not allowed: still no redirect there.
    link = checkout_server.link(order_id, done_url="https://evil.example/phish")
    status, body, headers = await fetch(browser_like_client, link)
    assert status == 400
    assert "Location" not in headers
    assert "evil.example" not in body
    assert "not allowed" in body


async def test_return_handler_refuses_a_tampered_link_too(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    query = checkout_server.signed_query(order_id)
    query["errorUrl"] = "https://evil.example/"
    status, _, headers = await fetch(
        browser_like_client, f"{checkout_server.url}/stripe/Checkout/return?{urlencode(query)}"
    )
    assert status == 400
    assert "Location" not in headers


# -- order checks --------------------------------------------------------------------------------------------------


async def test_unknown_order_goes_to_the_error_url_with_a_reason(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    status, _, headers = await fetch(browser_like_client, checkout_server.link("NoSuchOrder"))
    assert status == 303
    location = headers["Location"]
    assert location.startswith(ERROR_URL)
    assert query_of(location)["checkoutError"] == "order_not_found"
    assert query_of(location)["checkoutMessage"]


async def test_another_customers_order_is_refused(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order(customer=OTHER_CUSTOMER)
    status, _, headers = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 303
    assert query_of(headers["Location"])["checkoutError"] == "not_customer_order"
    assert await checkout_server.payments(order_id) == []


async def test_closed_order_is_refused(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    await checkout_server.entity.update(names.ORDER_HEADER, {"orderId": order_id}, {"statusId": "OrderCancelled"})
    status, _, headers = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 303
    assert query_of(headers["Location"])["checkoutError"] == "order_not_payable"


async def test_order_with_nothing_to_pay_is_refused(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order("0")
    status, _, headers = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 303
    assert query_of(headers["Location"])["checkoutError"] == "nothing_to_pay"


async def test_currency_the_gateway_does_not_take_is_refused(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    # The demo gateway takes USD, EUR and JPY only.
    order_id = await checkout_server.create_order(currency="GBP")
    status, _, headers = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 303
    assert query_of(headers["Location"])["checkoutError"] == "currency_not_accepted"
    assert await checkout_server.payments(order_id) == []


async def test_store_gateway_without_stripe_credentials_is_refused(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    await checkout_server.entity.create(
        names.GATEWAY_CONFIG, {"paymentGatewayConfigId": "UnconfiguredGateway", "description": "no keys"}
    )
    await checkout_server.entity.create(
        names.STORE_GATEWAY,
        {
            "productStoreId": "OtherStore",
            "paymentInstrumentEnumId": "PiCreditCard",
            "paymentGatewayConfigId": "UnconfiguredGateway",
        },
    )
    order_id = await checkout_server.create_order(store="OtherStore")
    status, _, headers = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 303
    assert query_of(headers["Location"])["checkoutError"] == "gateway_not_configured"


async def test_part_already_paid_by_other_payments_is_nothing_to_pay(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order("20.00")
    # A delivered payment by other means covers 15.00; only 5.00 is left for the card.
    await checkout_server.entity.create(
        names.PAYMENT,
        {
            "orderId": order_id,
            "orderPartSeqId": "01",
            "statusId": "PmntDelivered",
            "amount": Decimal("15.00"),
            "amountUomId": "USD",
            "paymentInstrumentEnumId": "PiCash",
        },
    )
    status, body, _ = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 200
    assert "$5.00" in body
    intent = await emulator_get(
        checkout_server.emulator_url, f"/v1/payment_intents/{intent_id_of(client_secret_of(body))}"
    )
    assert intent["amount"] == 500


# -- the page and its PaymentIntent --------------------------------------------------------------------------------


async def test_page_makes_one_promised_payment_and_one_manual_payment_intent(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order("12.50")
    status, body, _ = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 200
    assert "$12.50" in body
    assert "Team plan, monthly" in body
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in body
    assert f'src="{checkout_server.emulator_url}/v3/"' in body

    [payment] = await checkout_server.payments(order_id)
    assert payment["statusId"] == "PmntPromised"
    assert payment["amount"] == Decimal("12.50")
    assert payment["paymentGatewayConfigId"] == "StripeGateway"
    assert payment["paymentInstrumentEnumId"] == "PiCreditCard"

    intent = await emulator_get(
        checkout_server.emulator_url, f"/v1/payment_intents/{intent_id_of(client_secret_of(body))}"
    )
    assert intent["amount"] == 1250
    assert intent["currency"] == "usd"
    assert intent["capture_method"] == "manual"
    assert intent["status"] == "requires_payment_method"
    assert intent["metadata"]["paymentId"] == payment["paymentId"]
    assert intent["metadata"]["orderId"] == order_id
    assert intent["metadata"]["paymentGatewayConfigId"] == "StripeGateway"
    [link] = await checkout_server.intent_links(order_id)
    assert link["paymentIntentId"] == intent["id"]
    assert link["paymentId"] == payment["paymentId"]


async def test_reload_and_double_click_reuse_the_payment_and_payment_intent(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order("30.00")
    link = checkout_server.link(order_id)
    first, second = await asyncio.gather(fetch(browser_like_client, link), fetch(browser_like_client, link))
    _, third_body, _ = await fetch(browser_like_client, link)
    secrets = {client_secret_of(page[1]) for page in (first, second)} | {client_secret_of(third_body)}
    assert len(secrets) == 1
    assert len(await checkout_server.payments(order_id)) == 1
    assert len(await checkout_server.intent_links(order_id)) == 1
    [payment] = await checkout_server.payments(order_id)
    # Listed, not searched: Stripe's search lags writes (the emulator's too).
    listed = await emulator_get(checkout_server.emulator_url, "/v1/payment_intents?limit=100")
    assert len([pi for pi in listed["data"] if pi["metadata"].get("paymentId") == payment["paymentId"]]) == 1


async def test_authorize_and_capture_gateway_makes_an_automatic_capture_intent(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order("1000", currency="JPY", store=CHARGE_STORE)
    status, body, _ = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 200
    assert "¥1,000" in body
    intent = await emulator_get(
        checkout_server.emulator_url, f"/v1/payment_intents/{intent_id_of(client_secret_of(body))}"
    )
    assert intent["capture_method"] == "automatic"
    assert intent["amount"] == 1000
    assert intent["currency"] == "jpy"


async def test_canceled_payment_intent_is_replaced_on_the_next_visit(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    link = checkout_server.link(order_id)
    _, body, _ = await fetch(browser_like_client, link)
    first = intent_id_of(client_secret_of(body))
    await emulator_post(checkout_server.emulator_url, f"/v1/payment_intents/{first}/cancel", {})
    _, body, _ = await fetch(browser_like_client, link)
    second = intent_id_of(client_secret_of(body))
    assert second != first
    assert len(await checkout_server.payments(order_id)) == 1
    assert [row["paymentIntentId"] for row in await checkout_server.intent_links(order_id)] == [first, second]


# -- the return handler --------------------------------------------------------------------------------------------


async def test_return_ignores_forged_query_parameters(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    # A PaymentIntent that really succeeded, but for another order.
    other_order = await checkout_server.create_order("12.50")
    _, other_page, _ = await fetch(browser_like_client, checkout_server.link(other_order))
    other_intent = intent_id_of(client_secret_of(other_page))
    await emulator_post(
        checkout_server.emulator_url, f"/v1/payment_intents/{other_intent}/confirm", {"payment_method": "pm_card_visa"}
    )

    order_id = await checkout_server.create_order("12.50")
    await fetch(browser_like_client, checkout_server.link(order_id))
    forged = return_url(
        checkout_server,
        order_id,
        payment_intent=other_intent,
        payment_intent_client_secret=client_secret_of(other_page),
        redirect_status="succeeded",
    )
    status, _, headers = await fetch(browser_like_client, forged)
    # Back to the checkout page: this order's own PaymentIntent has not been paid.
    assert status == 303
    assert headers["Location"].startswith("/stripe/Checkout?")
    assert query_of(headers["Location"])["orderId"] == order_id
    [payment] = await checkout_server.payments(order_id)
    assert payment["statusId"] == "PmntPromised"


async def test_return_after_authorization_records_it_and_goes_to_the_done_url(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order("12.50")
    _, body, _ = await fetch(browser_like_client, checkout_server.link(order_id))
    intent_id = intent_id_of(client_secret_of(body))
    confirmed = await emulator_post(
        checkout_server.emulator_url, f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": "pm_card_visa"}
    )
    assert confirmed["status"] == "requires_capture"

    # No query parameters from Stripe at all: the handler reads the PaymentIntent itself.
    status, _, headers = await fetch(browser_like_client, return_url(checkout_server, order_id))
    assert status == 303
    assert headers["Location"] == DONE_URL
    [payment] = await checkout_server.payments(order_id)
    assert payment["statusId"] == "PmntAuthorized"
    assert payment["paymentRefNum"] == intent_id
    responses = await checkout_server.entity.find(names.GATEWAY_RESPONSE, {"paymentId": payment["paymentId"]})
    assert [(r["paymentOperationEnumId"], r["resultSuccess"]) for r in responses] == [("PgoAuthorize", "Y")]
    order = await checkout_server.entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
    assert order is not None and order["statusId"] == "OrderOpen"

    # Returning again (reload) and visiting the link again both land on the done URL, charging nothing more.
    status, _, headers = await fetch(browser_like_client, return_url(checkout_server, order_id))
    assert (status, headers["Location"]) == (303, DONE_URL)
    status, _, headers = await fetch(browser_like_client, checkout_server.link(order_id))
    assert (status, headers["Location"]) == (303, DONE_URL)
    assert len(await checkout_server.entity.find(names.GATEWAY_RESPONSE, {"paymentId": payment["paymentId"]})) == 1


async def test_return_after_a_decline_goes_back_to_the_page_which_shows_why(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    link = checkout_server.link(order_id)
    _, body, _ = await fetch(browser_like_client, link)
    intent_id = intent_id_of(client_secret_of(body))
    declined = await emulator_post(
        checkout_server.emulator_url,
        f"/v1/payment_intents/{intent_id}/confirm",
        {"payment_method": "pm_card_visa_chargeDeclinedInsufficientFunds"},
    )
    assert declined["error"]["decline_code"] == "insufficient_funds"
    status, _, headers = await fetch(browser_like_client, return_url(checkout_server, order_id))
    assert status == 303
    assert headers["Location"].startswith("/stripe/Checkout?")
    status, body, _ = await fetch(browser_like_client, checkout_server.url + headers["Location"])
    assert status == 200
    assert "insufficient funds" in body
    assert intent_id_of(client_secret_of(body)) == intent_id
    [payment] = await checkout_server.payments(order_id)
    assert payment["statusId"] == "PmntPromised"


async def test_place_order_setting_places_the_order_after_payment(
    entity_database_dsn: str, stripe_emulator_url: str, browser_like_client: aiohttp.ClientSession
) -> None:
    settings = checkout_settings(stripe_emulator_url, place_order=True)
    async with running_checkout(entity_database_dsn, stripe_emulator_url, settings=settings) as server:
        order_id = await server.create_order("1000", currency="JPY", store=CHARGE_STORE)
        _, body, _ = await fetch(browser_like_client, server.link(order_id))
        intent_id = intent_id_of(client_secret_of(body))
        paid = await emulator_post(
            server.emulator_url, f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": "pm_card_mastercard"}
        )
        assert paid["status"] == "succeeded"
        status, _, headers = await fetch(browser_like_client, return_url(server, order_id))
        assert (status, headers["Location"]) == (303, DONE_URL)
        [payment] = await server.payments(order_id)
        # authorizeAndCapture: Mantle takes the payment to Delivered.
        assert payment["statusId"] == "PmntDelivered"
        order = await server.entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
        assert order is not None and order["statusId"] == "OrderPlaced"


async def test_stripe_unreachable_shows_a_retry_page_and_charges_nothing(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    async with aiohttp.ClientSession() as session:
        fault = {"mode": "error", "status": 500, "path_prefix": "/v1/payment_intents", "count": 5}
        async with session.post(f"{checkout_server.emulator_url}/_emulator/faults", json=fault) as response:
            assert response.status == 200
    status, body, headers = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 503
    assert 'id="retry-link"' in body
    assert headers["Cache-Control"] == "no-store"
    async with (
        aiohttp.ClientSession() as session,
        session.delete(f"{checkout_server.emulator_url}/_emulator/faults") as response,
    ):
        assert response.status == 200
    # The retry gets the page; still one Payment.
    status, body, _ = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 200
    assert len(await checkout_server.payments(order_id)) == 1


# -- headers and assets --------------------------------------------------------------------------------------------


async def test_checkout_page_security_headers(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order()
    status, body, headers = await fetch(browser_like_client, checkout_server.link(order_id))
    assert status == 200
    csp = {
        directive.split(" ", 1)[0]: directive.split(" ", 1)[1]
        for directive in (part.strip() for part in headers["Content-Security-Policy"].split(";"))
    }
    emulator = checkout_server.emulator_url
    assert csp["default-src"] == "'none'"
    assert csp["script-src"].split() == ["'self'", emulator]
    assert csp["frame-src"].split() == [emulator]
    assert emulator in csp["connect-src"].split()
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in body  # no inline script: the CSP would block it


async def test_error_pages_and_redirects_carry_the_headers_too(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    status, _, headers = await fetch(browser_like_client, f"{checkout_server.url}/stripe/Checkout")
    assert status == 400
    assert headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self';" in headers["Content-Security-Policy"]
    status, _, headers = await fetch(browser_like_client, checkout_server.link("NoSuchOrder"))
    assert status == 303
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("path", "content_type"), [("checkout.js", "application/javascript"), ("checkout.css", "text/css")]
)
async def test_static_assets(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession, path: str, content_type: str
) -> None:
    async with browser_like_client.get(f"{checkout_server.url}/stripe/static/{path}") as response:
        assert response.status == 200
        assert response.content_type == content_type
        assert len(await response.text()) > 100
