"""The "Saved cards" page in headless Chromium (service/saved_cards/pages.py): save a card with and without 3-D
Secure through the Payment Element in setup mode, choose the default, remove one; forged links and another party's
card are refused and change nothing. Mantle's records and Stripe's objects are checked after each step."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from service.demo import DEMO_SECRET_KEY, DemoStack
from service.saved_cards.card_links import saved_cards_url, sign_saved_cards_query
from tests.saved_cards.conftest import add_person

GOOD_CARD = "4242424242424242"
MASTERCARD = "5555555555554444"
THREE_D_SECURE_CARD = "4000002760003184"
PARTY = "PartySaver"
SAVED = re.compile(r".*/stripe/SavedCards\?.*notice=saved.*")


def link(demo: DemoStack, party: str = PARTY) -> str:
    query = sign_saved_cards_query(
        demo.link_secret, customer_party_id=party, done_url=f"{demo.url}/saas/", lifetime_seconds=600
    )
    return saved_cards_url(demo.url, query)


async def stripe_get(demo: DemoStack, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{demo.emulator_url}{path}", headers={"Authorization": f"Bearer {DEMO_SECRET_KEY}"}) as response,
    ):
        return await response.json()


async def save_card(page: Any, number: str, expiry: str = "12 / 34", *, three_d_secure: bool = False) -> None:
    """Add a card from the page: the Payment Element, Save, 3-D Secure when asked, back to the list."""
    await page.click("#add-card-button")
    await page.wait_for_selector("#save-card-button:enabled")
    frame = page.frame_locator("#payment-element iframe")
    await frame.get_by_label("Card number").fill(number)
    await frame.get_by_label("Expiration date").fill(expiry)
    await frame.get_by_label("Security code").fill("123")
    await page.click("#save-card-button")
    if three_d_secure:
        await page.wait_for_selector("#complete-auth")
        await page.click("#complete-auth")
    await page.wait_for_url(SAVED)


async def current_methods(entity: EntityFacade) -> list[dict[str, Any]]:
    return await entity.find(
        names.PAYMENT_METHOD, {"ownerPartyId": PARTY, "thruDate": None}, order_by=["paymentMethodId"]
    )


async def test_save_a_card_then_one_with_3ds_choose_the_default_and_remove_one(
    page: Any, demo: DemoStack, demo_entity: EntityFacade, screenshots: Path
) -> None:
    await add_person(demo_entity, PARTY, "Sam", "Saver", "sam@example.com")
    await page.goto(link(demo))
    assert await page.text_content("#no-cards") == "You have no saved cards."
    # The checkout's page around it: the merchant's header (checkout.merchant_name of the demo) and stylesheet.
    assert await page.text_content("#merchant-name") == "Acme Cloud"
    assert await page.locator('link[href="/stripe/static/checkout.css"]').count() == 1

    await save_card(page, GOOD_CARD)
    assert await page.text_content("#notice") == "Your card has been saved."
    [first] = await current_methods(demo_entity)
    assert first["description"] == "Visa ************4242" and first["gatewayCimId"].startswith("pm_")
    card = await demo_entity.find_one(names.CREDIT_CARD, {"paymentMethodId": first["paymentMethodId"]})
    assert card is not None and (card["expireDate"], card["creditCardTypeEnumId"]) == ("12/2034", "CctVisa")
    [customer] = (await stripe_get(demo, "/v1/customers?limit=10"))["data"]
    assert (customer["name"], customer["email"]) == ("Sam Saver", "sam@example.com")

    await save_card(page, THREE_D_SECURE_CARD, "06 / 33", three_d_secure=True)
    methods = await current_methods(demo_entity)
    assert len(methods) == 2
    second = methods[1]
    assert second["description"] == "Visa ************3184"
    listed = (await stripe_get(demo, f"/v1/customers/{customer['id']}/payment_methods?type=card"))["data"]
    assert {pm["id"] for pm in listed} == {first["gatewayCimId"], second["gatewayCimId"]}
    await page.screenshot(path=str(screenshots / "saved-cards.png"), full_page=True)

    # Make default and Remove are links beside the card, not the page's full-width buttons.
    row, remove = (
        await page.locator(f"#card-{second['gatewayCimId']}").bounding_box(),
        await page.locator(f"#card-{second['gatewayCimId']} .remove").bounding_box(),
    )
    assert remove["width"] < row["width"] / 3

    await page.click(f"#card-{second['gatewayCimId']} .make-default")
    await page.wait_for_url(re.compile(r".*notice=default.*"))
    assert await page.locator(f"#card-{second['gatewayCimId']} .default-badge").count() == 1
    stored = await stripe_get(demo, f"/v1/customers/{customer['id']}")
    assert stored["invoice_settings"]["default_payment_method"] == second["gatewayCimId"]

    await page.click(f"#card-{first['gatewayCimId']} .remove")
    await page.wait_for_url(re.compile(r".*notice=removed.*"))
    assert await page.locator(f"#card-{first['gatewayCimId']}").count() == 0
    assert [m["paymentMethodId"] for m in await current_methods(demo_entity)] == [second["paymentMethodId"]]
    detached = await stripe_get(demo, f"/v1/payment_methods/{first['gatewayCimId']}")
    assert detached["customer"] is None
    assert [text for text in page.console_errors if "Content Security Policy" in text] == []


async def test_a_forged_link_and_another_partys_card_are_refused(
    page: Any, demo: DemoStack, demo_entity: EntityFacade
) -> None:
    await add_person(demo_entity, PARTY, "Sam", "Saver", "sam@example.com")
    await add_person(demo_entity, "PartyOther", "Olive", "Other", "olive@example.com")
    await page.goto(link(demo, "PartyOther"))
    await save_card(page, GOOD_CARD)
    [others] = await demo_entity.find(names.PAYMENT_METHOD, {"ownerPartyId": "PartyOther"})

    forged = link(demo).replace("PartySaver", "PartyOther")
    response = await page.goto(forged)
    assert response.status == 400 and await page.text_content("#message-title") == "This link is not valid"
    assert await page.text_content("#merchant-name") == "Acme Cloud"

    # Sam's own link, posting Olive's card: refused, nothing detached or expired.
    await page.goto(link(demo))
    signed = link(demo).split("?", 1)[1]
    async with aiohttp.ClientSession() as session:
        for action in ("remove", "default"):
            async with session.post(
                f"{demo.url}/stripe/SavedCards/{action}?{signed}",
                data=urlencode({"paymentMethodId": others["gatewayCimId"]}),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as answer:
                assert answer.status == 400
                assert "not one of your saved cards" in await answer.text()
            async with session.post(
                f"{demo.url}/stripe/SavedCards/{action}?{signed}",
                data=urlencode({"paymentMethodId": "pm_madeup"}),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as answer:
                assert answer.status == 400
    still = await stripe_get(demo, f"/v1/payment_methods/{others['gatewayCimId']}")
    assert still["customer"] is not None
    [unchanged] = await demo_entity.find(names.PAYMENT_METHOD, {"ownerPartyId": "PartyOther"})
    assert unchanged["thruDate"] is None
