"""Cards entered by staff in headless Chromium (issue 13, item 3): the agent opens the signed staff link, types the
card the customer reads out into the (stand-in) Payment Element, and the card is saved to the party's Stripe
Customer by a SetupIntent flagged MOTO when the account has MOTO; the emulator's SetupAttempt records the flag,
and Mantle gets the PaymentMethod. Screenshots of the page go to test-output/screenshots/."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from moqui_bridge.entity import EntityFacade
from service.app import APP_STATE
from service.demo import DEMO_SECRET_KEY, DemoStack, demo_stack
from service.staff_cards.pages import STAFF_CARD_PATH
from service.staff_cards.staff_links import sign_staff_card_query
from stripe_emulator.control import EmulatorControl
from tests.browser.test_checkout_in_browser import DECLINED_CARD, GOOD_CARD, THREE_D_SECURE_CARD, csp_violations

PARTY = "SaasCustAda"
AGENT = "agent.jo"
CONFIG_ID = "StripeGateway"
PAYMENT_METHOD = "mantle.account.method.PaymentMethod"


@pytest.fixture
async def moto_demo(entity_database_dsn: str) -> AsyncIterator[DemoStack]:
    """The demo stack whose Stripe account has MOTO (`gateways.<id>.moto_enabled`, and the emulator's account)."""
    async with demo_stack(database_dsn=entity_database_dsn, gateway_overrides={"moto_enabled": True}) as stack:
        control = EmulatorControl(stack.emulator_url)
        try:
            await control.update_settings(moto_enabled=True)
        finally:
            await control.close()
        yield stack


def _entity(demo: DemoStack) -> EntityFacade:
    return demo.app[APP_STATE].require_runtime().entity


async def open_staff_page(page: Any, demo: DemoStack) -> None:
    """Ada as a Mantle person with an email, and the agent's browser on her staff card page, ready to type."""
    query = sign_staff_card_query(
        demo.link_secret, party_id=PARTY, payment_gateway_config_id=CONFIG_ID, agent_user_id=AGENT
    )
    await page.goto(f"{demo.url}{STAFF_CARD_PATH}?{urlencode(query)}")
    await page.wait_for_selector("#save-card-button:enabled")


async def enter_card(page: Any, number: str, *, consent: bool = True) -> None:
    frame = page.frame_locator("#payment-element iframe")
    await frame.get_by_label("Card number").fill(number)
    await frame.get_by_label("Expiration date").fill("12 / 34")
    await frame.get_by_label("Security code").fill("123")
    if consent:
        await page.get_by_label("The customer agreed").check()
    await page.click("#save-card-button")


async def _stripe_get(demo: DemoStack, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{demo.emulator_url}{path}", headers={"Authorization": f"Bearer {DEMO_SECRET_KEY}"}) as answer,
    ):
        return await answer.json()


async def _party_setups(demo: DemoStack) -> list[dict[str, Any]]:
    listed = (await _stripe_get(demo, "/v1/setup_intents?limit=100"))["data"]
    return [si for si in listed if si["metadata"].get("partyId") == PARTY]


async def _attempt_of(demo: DemoStack, setup_intent_id: str) -> dict[str, Any]:
    [attempt] = (await _stripe_get(demo, f"/v1/setup_attempts?setup_intent={setup_intent_id}"))["data"]
    return dict(attempt)


async def _saved_methods(demo: DemoStack) -> list[dict[str, Any]]:
    return await _entity(demo).find(PAYMENT_METHOD, {"ownerPartyId": PARTY})


async def test_staff_enters_a_card_with_moto(page: Any, moto_demo: DemoStack, screenshots: Path) -> None:
    await open_staff_page(page, moto_demo)
    assert await page.text_content("#customer-name") == "Ada Lovelace"
    assert await page.text_content("#card-mode") == "Telephone order (MOTO)"
    assert await page.text_content("#agent-user-id") == AGENT
    await page.screenshot(path=str(screenshots / "staff-card.png"))

    # A card whose bank asks for 3-D Secure on every online use: as a telephone order it is saved at once.
    await enter_card(page, THREE_D_SECURE_CARD)
    await page.wait_for_selector("#staff-result:not([hidden])")
    text = await page.text_content("#saved-card-text") or ""
    assert "Visa ending 3184" in text and "(MOTO)" in text, text
    await page.screenshot(path=str(screenshots / "staff-card-saved.png"))

    [setup] = await _party_setups(moto_demo)
    assert (setup["status"], setup["usage"], setup["metadata"]["enteredBy"]) == ("succeeded", "off_session", AGENT)
    attempt = await _attempt_of(moto_demo, setup["id"])
    assert attempt["payment_method_details"]["card"]["moto"] is True  # the emulator's record of the flag
    [method] = await _saved_methods(moto_demo)
    assert method["gatewayCimId"] == setup["payment_method"]
    assert method["paymentGatewayConfigId"] == CONFIG_ID
    assert csp_violations(page) == []


async def test_staff_enters_a_card_without_moto(page: Any, demo: DemoStack, demo_control: EmulatorControl) -> None:
    await open_staff_page(page, demo)
    assert await page.text_content("#card-mode") == "Off-session setup"
    await enter_card(page, GOOD_CARD)
    await page.wait_for_selector("#staff-result:not([hidden])")
    text = await page.text_content("#saved-card-text") or ""
    assert "Visa ending 4242" in text and "MOTO" not in text, text

    [setup] = await _party_setups(demo)
    assert setup["status"] == "succeeded"
    attempt = await _attempt_of(demo, setup["id"])
    assert attempt["payment_method_details"]["card"]["moto"] is False
    [method] = await _saved_methods(demo)
    assert method["gatewayCimId"] == setup["payment_method"]


async def test_without_moto_a_card_that_needs_the_cardholder_is_not_saved(page: Any, demo: DemoStack) -> None:
    await open_staff_page(page, demo)
    await enter_card(page, THREE_D_SECURE_CARD)
    await page.wait_for_selector("#staff-message:has-text('saved-cards page')")
    assert await page.is_visible("#staff-card-form")
    [setup] = await _party_setups(demo)
    assert setup["status"] == "canceled"  # not left waiting for an authentication nobody can do
    assert await _saved_methods(demo) == []


async def test_a_declined_card_is_shown_once_and_another_can_be_entered(page: Any, moto_demo: DemoStack) -> None:
    await open_staff_page(page, moto_demo)
    await enter_card(page, DECLINED_CARD)
    await page.wait_for_selector("#staff-message:has-text('declined')")
    assert (await page.inner_text("body")).count("was declined") == 1
    assert await _saved_methods(moto_demo) == []

    await enter_card(page, GOOD_CARD, consent=False)  # still ticked from before
    await page.wait_for_selector("#staff-result:not([hidden])")
    assert len(await _saved_methods(moto_demo)) == 1


async def test_the_card_is_not_saved_without_the_customers_agreement(page: Any, demo: DemoStack) -> None:
    await open_staff_page(page, demo)
    await enter_card(page, GOOD_CARD, consent=False)
    await page.wait_for_selector("#staff-message:has-text('tick the box')")
    assert await _party_setups(demo) == []


async def test_a_changed_link_is_refused(page: Any, demo: DemoStack) -> None:
    query = sign_staff_card_query(
        demo.link_secret, party_id=PARTY, payment_gateway_config_id=CONFIG_ID, agent_user_id=AGENT
    )
    query["partyId"] = "SaasCustGrace"
    response = await page.goto(f"{demo.url}{STAFF_CARD_PATH}?{urlencode(query)}")
    assert response is not None and response.status == 403
    assert await page.query_selector("#payment-element") is None
    assert "not valid" in (await page.text_content("#message-text") or "")


async def test_staff_page_at_phone_width(chromium: Any, demo: DemoStack, screenshots: Path) -> None:
    context = await chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        await open_staff_page(page, demo)
        overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        await page.screenshot(path=str(screenshots / "staff-card-phone.png"), full_page=True)
    finally:
        with contextlib.suppress(Exception):
            await context.close()
