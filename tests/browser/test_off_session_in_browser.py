"""Off-session recovery in headless Chromium (issue 13 items 4 and 6): a renewal of the SaaS example charged to a saved
card that needs the customer's authentication (4000002760003184: declined `authentication_required` off-session,
docs.stripe.com/testing) shows its recovery link on the account page; the customer follows it, pays with the saved
card, answers the bank's challenge and is back on the page with the payment recorded. A renewal declined for an
expired card is paid on the same page with another card in the Payment Element."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from moqui_bridge.mantle import names
from service.saas_example.renewals import subscription_of
from tests.browser.test_checkout_in_browser import csp_violations, log_in, pay_with
from tests.off_session.saas_world import ADA, SaasWorld, end_of_month, expiring_month, saas_world

RECOVERY_URL = re.compile(r".*/stripe/Recover\?.*")


@pytest.fixture
async def world(entity_database_dsn: str) -> AsyncIterator[SaasWorld]:
    async with saas_world(entity_database_dsn) as running:
        yield running


async def _declined_renewal(world: SaasWorld) -> str:
    """Move to the next month and run the renewals; the declined renewal's order id."""
    subscription = await subscription_of(world.context, ADA)
    assert subscription is not None
    await world.advance_to(subscription.next_due)
    [renewal] = await world.scheduled_run()
    assert renewal.status_id == names.PMNT_DECLINED and renewal.recovery_url is not None
    return renewal.order_id


async def _statuses(world: SaasWorld, order_id: str) -> list[str]:
    payments = await world.entity.find(names.PAYMENT, {"orderId": order_id}, order_by=["paymentId"])
    return [str(payment["statusId"]) for payment in payments]


async def test_authentication_required_renewal_completed_through_the_link(
    page: Any, world: SaasWorld, screenshots: Path
) -> None:
    await world.first_month(await world.save_card("4242424242424242"))
    await world.save_card("4000002760003184")  # the newest saved card: the renewal's
    order_id = await _declined_renewal(world)

    await log_in(page, world.stack)
    await page.click("#account-link")
    await page.wait_for_selector("#renewal-failed")
    await page.click("#recovery-link")
    await page.wait_for_url(RECOVERY_URL)
    assert await page.text_content("#amount-due") == "$29.00"
    assert "confirm this payment" in (await page.text_content("#recovery-reason") or "")
    await page.screenshot(path=str(screenshots / "recovery.png"), full_page=True)

    await page.click("#saved-card-button")
    await page.click("#complete-auth")  # the bank's (emulated) 3-D Secure challenge
    await page.wait_for_selector("#message-title:has-text('Thank you')")
    assert await _statuses(world, order_id) == [names.PMNT_DELIVERED]
    assert csp_violations(page) == []

    await page.goto(f"{world.stack.url}/saas/account")
    assert await page.locator("#renewal-failed").count() == 0


async def test_expired_card_renewal_paid_with_another_card(page: Any, world: SaasWorld) -> None:
    month, year = expiring_month(world.clock.now())
    await world.first_month(await world.save_card("4242424242424242", expires=(month, year)))
    await world.advance_to(end_of_month(month, year))
    order_id = await _declined_renewal(world)

    await log_in(page, world.stack)
    await page.click("#account-link")
    await page.click("#recovery-link")
    await page.wait_for_url(RECOVERY_URL)
    assert "expired" in (await page.text_content("#recovery-reason") or "")
    assert await page.locator("#saved-card-button").count() == 0
    await page.wait_for_selector("#pay-button:enabled")
    await pay_with(page, "5555555555554444")
    await page.wait_for_selector("#message-title:has-text('Thank you')")
    assert await _statuses(world, order_id) == [names.PMNT_DELIVERED]
