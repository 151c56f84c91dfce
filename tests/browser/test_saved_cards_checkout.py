"""Saved cards on the checkout page in headless Chromium: the shopper ticks "save this card" and pays; the second
order is paid with that card in one click (no card fields touched); a made-up or another party's card id is refused.
The SaaS example's checkout, the demo stack (webhooks delivered by the emulator), Mantle and Stripe checked."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from service.demo import DemoStack
from tests.browser.test_checkout_in_browser import (
    DONE_URL,
    GOOD_CARD,
    intents_of_payment,
    order_id_of,
    order_payments,
    pay_with,
    subscribe,
)
from tests.browser.test_saved_cards import stripe_get

ADA = "SaasCustAda"


async def recorded_cards(entity: EntityFacade, party_id: str) -> list[dict[str, Any]]:
    """Ada's current saved cards in Mantle, waiting for the payment_method.attached webhook to record them."""
    for _ in range(100):
        found = await entity.find(names.PAYMENT_METHOD, {"ownerPartyId": party_id, "thruDate": None})
        cards = [row for row in found if str(row.get("gatewayCimId") or "").startswith("pm_")]
        if cards:
            return cards
        await asyncio.sleep(0.1)
    return []


async def test_save_the_card_at_checkout_then_pay_the_next_order_in_one_click(
    page: Any, demo: DemoStack, demo_entity: EntityFacade
) -> None:
    checkout = await subscribe(page, demo, "team")
    assert await page.locator("#saved-cards").is_hidden()  # no saved card yet
    await page.check("#save-card-consent")
    await page.wait_for_selector("#pay-button:enabled")
    await pay_with(page, GOOD_CARD)
    await page.wait_for_url(DONE_URL)
    [first_payment] = await order_payments(demo_entity, order_id_of(checkout))
    [first_intent] = await intents_of_payment(demo, first_payment["paymentId"])
    assert first_intent["setup_future_usage"] == "off_session" and first_intent["customer"].startswith("cus_")

    [card] = await recorded_cards(demo_entity, ADA)
    assert card["description"] == "Visa ************4242"
    saved = await stripe_get(demo, f"/v1/payment_methods/{card['gatewayCimId']}")
    assert saved["customer"] == first_intent["customer"]

    # The next order: the saved card is offered first and pays in one click.
    await page.goto(demo.example_url)
    await page.click("#subscribe-starter")
    await page.wait_for_selector(f"#pay-with-{card['gatewayCimId']}")
    second_checkout = page.url
    await page.click(f"#pay-with-{card['gatewayCimId']}")
    await page.wait_for_url(DONE_URL)
    [second_payment] = await order_payments(demo_entity, order_id_of(second_checkout))
    assert second_payment["statusId"] == "PmntAuthorized"
    [second_intent] = await intents_of_payment(demo, second_payment["paymentId"])
    assert second_intent["payment_method"] == card["gatewayCimId"]
    assert second_intent["customer"] == first_intent["customer"] and second_intent["status"] == "requires_capture"


async def test_paying_with_a_card_that_is_not_the_customers_is_refused(
    page: Any, demo: DemoStack, demo_entity: EntityFacade
) -> None:
    checkout = await subscribe(page, demo, "team")
    query = urlsplit(checkout).query
    stranger = await stripe_get(demo, "/v1/customers?limit=1")
    assert stranger["data"] == []
    async with aiohttp.ClientSession() as session:
        for method_id in ("pm_card_visa", "pm_madeup", "not-a-card"):
            async with session.post(
                f"{demo.url}/stripe/Checkout/payWithSavedCard?{query}",
                data=urlencode({"paymentMethodId": method_id}),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as answer:
                assert answer.status == 400, method_id
        forged = re.sub(r"signature=[^&]+", "signature=forged", query)
        async with session.post(f"{demo.url}/stripe/Checkout/saveCard?{forged}", json={"save": True}) as answer:
            assert answer.status == 400
    [payment] = await order_payments(demo_entity, order_id_of(checkout))
    assert payment["statusId"] == "PmntPromised"
    [intent] = await intents_of_payment(demo, payment["paymentId"])
    assert intent["status"] == "requires_payment_method" and intent["customer"] is None
