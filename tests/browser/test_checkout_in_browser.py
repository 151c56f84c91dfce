"""Paying through the SaaS example in headless Chromium: the checkout page, Stripe's (stand-in) Payment Element,
3-D Secure, the return handler, webhooks, and links that must be refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from service.checkout.links import checkout_url, sign_checkout_query
from service.demo import DEMO_SECRET_KEY, DemoStack
from stripe_emulator.control import EmulatorControl

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
THREE_D_SECURE_CARD = "4000002760003184"
CHECKOUT_URL = re.compile(r".*/stripe/Checkout\?.*")
DONE_URL = re.compile(r".*/saas/orders/\d+/done$")
ERROR_URL = re.compile(r".*/saas/orders/\d+/error\?.*")


async def log_in(page: Any, demo: DemoStack, name: str = "Ada Lovelace") -> None:
    """Log in to the example as a demo customer."""
    await page.goto(demo.example_url)
    await page.click("#login-link")
    await page.get_by_label(re.compile(name)).check()
    await page.click("#login-button")
    await page.wait_for_selector("#account-link")


async def subscribe(page: Any, demo: DemoStack, plan: str = "team") -> str:
    """Log in, choose a plan and wait for the checkout page with its card fields ready; returns the checkout URL."""
    await log_in(page, demo)
    await page.click(f"#subscribe-{plan}")
    await page.wait_for_url(CHECKOUT_URL)
    await page.wait_for_selector("#pay-button:enabled")
    return str(page.url)


async def pay_with(page: Any, number: str, expiry: str = "12 / 34", cvc: str = "123") -> None:
    """Fill the card fields inside Stripe's frame and press Pay."""
    frame = page.frame_locator("#payment-element iframe")
    await frame.get_by_label("Card number").fill(number)
    await frame.get_by_label("Expiration date").fill(expiry)
    await frame.get_by_label("Security code").fill(cvc)
    await page.click("#pay-button")


def order_id_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["orderId"][0]


async def order_payments(entity: EntityFacade, order_id: str) -> list[dict[str, Any]]:
    return await entity.find(names.PAYMENT, {"orderId": order_id}, order_by=["paymentId"])


async def intents_of_payment(demo: DemoStack, payment_id: str) -> list[dict[str, Any]]:
    # Listed, not searched: Stripe's search lags writes (the emulator's too).
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{demo.emulator_url}/v1/payment_intents?limit=100",
            headers={"Authorization": f"Bearer {DEMO_SECRET_KEY}"},
        ) as response,
    ):
        listed: list[dict[str, Any]] = (await response.json())["data"]
        return [pi for pi in listed if pi["metadata"].get("paymentId") == payment_id]


def csp_violations(page: Any) -> list[str]:
    return [text for text in page.console_errors if "Content Security Policy" in text]


async def test_pay_with_a_good_card(page: Any, demo: DemoStack, demo_entity: EntityFacade, screenshots: Path) -> None:
    checkout = await subscribe(page, demo)
    order_id = order_id_of(checkout)
    assert await page.text_content("#amount-due") == "$29.00"
    await page.screenshot(path=str(screenshots / "checkout.png"), full_page=True)

    await pay_with(page, GOOD_CARD)
    await page.wait_for_url(DONE_URL)
    assert "Thank you" in (await page.text_content("#done-title") or "")
    assert f"Order #{order_id}" in (await page.text_content("#done-message") or "")
    await page.screenshot(path=str(screenshots / "done.png"), full_page=True)

    [payment] = await order_payments(demo_entity, order_id)
    assert payment["statusId"] == "PmntAuthorized"
    [intent] = await intents_of_payment(demo, payment["paymentId"])
    assert intent["status"] == "requires_capture"
    assert intent["amount"] == 2900
    order = await demo_entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
    assert order is not None and order["statusId"] == "OrderPlaced"  # the demo places orders once paid
    assert csp_violations(page) == []


async def test_declined_card_stays_on_the_page_and_a_retry_with_a_good_card_pays(
    page: Any, demo: DemoStack, demo_entity: EntityFacade
) -> None:
    checkout = await subscribe(page, demo, "starter")
    await pay_with(page, DECLINED_CARD)
    await page.wait_for_selector("#payment-message:has-text('declined')")
    assert await page.text_content("#payment-message") == "Your card was declined."
    assert CHECKOUT_URL.match(page.url)
    assert await page.is_enabled("#pay-button")

    await pay_with(page, GOOD_CARD)
    await page.wait_for_url(DONE_URL)
    [payment] = await order_payments(demo_entity, order_id_of(checkout))
    assert payment["statusId"] == "PmntAuthorized"
    [intent] = await intents_of_payment(demo, payment["paymentId"])
    assert intent["status"] == "requires_capture"


async def test_three_d_secure_passed(page: Any, demo: DemoStack, demo_entity: EntityFacade) -> None:
    checkout = await subscribe(page, demo, "business-eu")
    assert await page.text_content("#amount-due") == "€49.00"
    await pay_with(page, THREE_D_SECURE_CARD)
    await page.wait_for_url(re.compile(r".*/_emulator/3ds/pi_.*"))
    await page.click("#complete-auth")
    await page.wait_for_url(DONE_URL)
    [payment] = await order_payments(demo_entity, order_id_of(checkout))
    assert payment["statusId"] == "PmntAuthorized"
    assert payment["amountUomId"] == "EUR"


async def test_three_d_secure_failed_comes_back_to_the_page_and_can_retry(
    page: Any, demo: DemoStack, demo_entity: EntityFacade
) -> None:
    checkout = await subscribe(page, demo, "tokyo")
    assert await page.text_content("#amount-due") == "¥1,200"
    await pay_with(page, THREE_D_SECURE_CARD)
    await page.wait_for_url(re.compile(r".*/_emulator/3ds/pi_.*"))
    await page.click("#fail-auth")
    await page.wait_for_url(CHECKOUT_URL)
    await page.wait_for_selector("#pay-button:enabled")
    assert "failed authentication" in (await page.text_content("#payment-message") or "")
    [payment] = await order_payments(demo_entity, order_id_of(checkout))
    assert payment["statusId"] == "PmntPromised"

    await pay_with(page, GOOD_CARD)
    await page.wait_for_url(DONE_URL)
    [payment] = await order_payments(demo_entity, order_id_of(checkout))
    assert payment["statusId"] == "PmntAuthorized"
    [intent] = await intents_of_payment(demo, payment["paymentId"])
    assert intent["amount"] == 1200 and intent["currency"] == "jpy"


async def test_tab_closed_after_paying_is_completed_by_the_webhook(
    page: Any, demo: DemoStack, demo_entity: EntityFacade, demo_control: EmulatorControl
) -> None:
    await demo_control.set_webhook_auto_delivery(False)
    checkout = await subscribe(page, demo)
    order_id = order_id_of(checkout)
    returned: list[str] = []

    async def tab_closed(route: Any) -> None:
        # The browser never gets back to us: as if the shopper closed the tab right after paying.
        returned.append(route.request.url)
        await route.abort()

    await page.route("**/stripe/Checkout/return**", tab_closed)
    await pay_with(page, GOOD_CARD)
    for _ in range(100):
        if returned:
            break
        await page.wait_for_timeout(100)
    assert returned, "the browser was sent to the return handler"
    await page.close()
    [payment] = await order_payments(demo_entity, order_id)
    assert payment["statusId"] == "PmntPromised"

    deliveries = await demo_control.deliver_webhooks()
    assert any(d.event_type == "payment_intent.amount_capturable_updated" for d in deliveries)
    assert all(d.responses and d.responses[-1] == 200 for d in deliveries), deliveries
    [payment] = await order_payments(demo_entity, order_id)
    assert payment["statusId"] == "PmntAuthorized"
    [intent] = await intents_of_payment(demo, payment["paymentId"])
    assert intent["status"] == "requires_capture"


async def test_canceling_lands_on_the_example_error_page_with_a_message(page: Any, demo: DemoStack) -> None:
    await subscribe(page, demo)
    await page.click("#cancel-link")
    await page.wait_for_url(ERROR_URL)
    assert "You canceled the payment" in (await page.text_content("#error-message") or "")
    assert await page.text_content("#error-code") == "canceled"
    await page.click("#pay-again")
    await page.wait_for_url(CHECKOUT_URL)
    await page.wait_for_selector("#pay-button:enabled")


async def test_tampered_link_is_refused_in_the_browser(page: Any, demo: DemoStack, demo_entity: EntityFacade) -> None:
    checkout = await subscribe(page, demo)
    parts = urlsplit(checkout)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query["customerPartyId"] = "SaasCustGrace"
    tampered = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"
    response = await page.goto(tampered)
    assert response is not None and response.status == 400
    assert page.url == tampered
    assert await page.text_content("#message-title") == "This payment link cannot be used"
    assert "not valid" in (await page.text_content("#message-text") or "")
    assert await page.query_selector("#payment-element") is None


async def test_link_to_a_foreign_site_is_refused_in_the_browser(
    page: Any, demo: DemoStack, demo_entity: EntityFacade
) -> None:
    checkout = await subscribe(page, demo)
    query = sign_checkout_query(
        demo.link_secret,
        order_id=order_id_of(checkout),
        customer_party_id="SaasCustAda",
        done_url="https://evil.example/thanks",
        error_url="https://evil.example/oops",
        lifetime_seconds=600,
    )
    response = await page.goto(checkout_url(demo.url, query))
    assert response is not None and response.status == 400
    assert urlsplit(page.url).netloc == urlsplit(demo.url).netloc
    assert "not allowed" in (await page.text_content("#message-text") or "")


async def test_checkout_is_readable_at_phone_width(chromium: Any, demo: DemoStack, screenshots: Path) -> None:
    context = await chromium.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        page.console_errors = []
        await subscribe(page, demo, "starter")
        overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        box = await page.locator("#pay-button").bounding_box()
        assert box is not None and box["width"] <= 360 and box["height"] >= 44
        await page.screenshot(path=str(screenshots / "checkout-phone.png"), full_page=True)
    finally:
        await context.close()


async def test_stand_in_retrieves_the_payment_intent_with_its_client_secret(page: Any, demo: DemoStack) -> None:
    await subscribe(page, demo)
    retrieved = await page.evaluate(
        """async () => {
            const form = document.getElementById("payment-form");
            const stripe = Stripe(form.dataset.publishableKey);
            const good = await stripe.retrievePaymentIntent(form.dataset.clientSecret);
            const forged = await stripe.retrievePaymentIntent(good.paymentIntent.id + "_secret_forged");
            return {status: good.paymentIntent.status, amount: good.paymentIntent.amount, error: forged.error.message};
        }"""
    )
    assert retrieved["status"] == "requires_payment_method"
    assert retrieved["amount"] == 2900
    assert "client_secret" in retrieved["error"]
