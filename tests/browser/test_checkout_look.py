"""How the checkout looks (issue 13, item 7): the merchant from the configuration, the order beside the payment form
on a wide screen and above it on a phone, one place for errors, labels and focus; screenshots of both sizes are kept
in test-output/screenshots/ (README shows the desktop one, copied to docs/images/checkout.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.demo import DemoStack
from tests.browser.test_checkout_in_browser import DECLINED_CARD, GOOD_CARD, csp_violations, pay_with, subscribe
from tests.browser.test_staff_cards import enter_card, open_staff_page

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


async def _box(page: Any, selector: str) -> dict[str, float]:
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    return dict(box)


async def _open_checkout(chromium: Any, demo: DemoStack, viewport: dict[str, int], **options: Any) -> Any:
    context = await chromium.new_context(viewport=viewport, **options)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.console_errors = errors
    await subscribe(page, demo)
    return page


async def _assert_merchant_header(page: Any) -> None:
    assert await page.text_content("#merchant-name") == "Acme Cloud"  # checkout.merchant_name of the demo
    # The logo is served by the service itself (checkout.merchant_logo) and actually loaded.
    assert await page.get_attribute("#merchant-logo", "src") == "/stripe/static/merchant-logo"
    assert await page.evaluate("() => document.getElementById('merchant-logo').naturalWidth") > 0
    assert "Acme Cloud" in await page.title()


async def test_wide_screen_shows_the_order_beside_the_payment_form(
    chromium: Any, demo: DemoStack, screenshots: Path
) -> None:
    page = await _open_checkout(chromium, demo, DESKTOP)
    try:
        await _assert_merchant_header(page)
        assert await page.text_content("#order-name") == "Team plan, monthly"
        assert await page.text_content("#order-total") == "$29.00"
        assert await page.text_content("#amount-due") == "$29.00"
        assert await page.query_selector("#already-paid") is None
        summary, pay = await _box(page, ".summary"), await _box(page, ".pay")
        assert summary["x"] + summary["width"] <= pay["x"], (summary, pay)  # side by side
        assert abs(summary["y"] - pay["y"]) < 2
        # No error box while there is no error: the one message region is empty and takes no room.
        assert not await page.is_visible("#payment-message")
        await page.screenshot(path=str(screenshots / "checkout-desktop.png"))
        assert csp_violations(page) == []
    finally:
        await page.context.close()


async def test_phone_stacks_the_order_above_the_payment_form(chromium: Any, demo: DemoStack, screenshots: Path) -> None:
    page = await _open_checkout(chromium, demo, PHONE, is_mobile=True, has_touch=True)
    try:
        await _assert_merchant_header(page)
        overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        summary, pay = await _box(page, ".summary"), await _box(page, ".pay")
        assert summary["y"] + summary["height"] <= pay["y"], (summary, pay)  # stacked, order first
        assert pay["width"] <= PHONE["width"]
        button = await _box(page, "#pay-button")
        assert button["height"] >= 44  # a thumb-sized target
        await page.screenshot(path=str(screenshots / "checkout-phone.png"), full_page=True)
    finally:
        await page.context.close()


async def test_a_decline_is_shown_once_in_the_error_region(chromium: Any, demo: DemoStack, screenshots: Path) -> None:
    page = await _open_checkout(chromium, demo, DESKTOP)
    try:
        await pay_with(page, DECLINED_CARD)
        await page.wait_for_selector("#payment-message:has-text('declined')")
        assert await page.is_visible("#payment-message")
        assert await page.get_attribute("#payment-message", "role") == "alert"
        await page.screenshot(path=str(screenshots / "checkout-declined.png"))
    finally:
        await page.context.close()


async def test_keyboard_reaches_the_payment_with_visible_focus(chromium: Any, demo: DemoStack) -> None:
    page = await _open_checkout(chromium, demo, DESKTOP)
    try:
        # The first Tab lands on the skip link, which leads to the payment.
        await page.keyboard.press("Tab")
        assert await page.evaluate("() => document.activeElement.className") == "skip-link"
        assert await page.is_visible(".skip-link")
        outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"
        # Every form control on our page has a label or an accessible name.
        unnamed = await page.evaluate(
            """() => [...document.querySelectorAll('button, input, select, a[href]')]
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                              && !(el.textContent || '').trim())
                .map(el => el.outerHTML)"""
        )
        assert unnamed == []
    finally:
        await page.context.close()


async def test_a_returning_customer_sees_saved_cards_first(
    page: Any, chromium: Any, demo: DemoStack, screenshots: Path
) -> None:
    # A card entered by staff for Ada (the staff card page), then Ada's own checkout offers it above the card fields.
    await open_staff_page(page, demo)
    await enter_card(page, GOOD_CARD)
    await page.wait_for_selector("#staff-result:not([hidden])")

    checkout = await _open_checkout(chromium, demo, DESKTOP)
    try:
        await checkout.wait_for_selector("#saved-cards:not([hidden]) .saved-card-pay")
        saved, fields = await _box(checkout, "#saved-cards"), await _box(checkout, "#payment-element")
        assert saved["y"] + saved["height"] <= fields["y"]  # offered first
        button = checkout.locator(".saved-card-pay").first
        assert "4242" in (await button.inner_text())
        colours = await button.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
        assert colours == ["rgb(26, 31, 54)", "rgb(255, 255, 255)"], colours  # dark on white, not white on white
        await checkout.screenshot(path=str(screenshots / "checkout-returning.png"))
    finally:
        await checkout.context.close()
