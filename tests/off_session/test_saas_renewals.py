"""Issue 13 item 6: the SaaS example's monthly plan renews three periods in a row by charging the saved card
off-session through Mantle's rules, one of them recovering from a failure: the saved card expires (by the clocks of
the service and of Stripe's stand-in), the renewal is declined `expired_card`, the example shows the recovery link,
the customer pays there with a new card (saved for the next months), and the following month is charged to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from moqui_bridge.mantle import names
from service.demo import DEMO_PUBLISHABLE_KEY
from service.saas_example.renewals import RENEWAL_PERIOD, subscription_of
from tests.off_session.saas_world import ADA, SaasWorld, end_of_month, expiring_month, saas_world


@pytest.fixture
async def world(entity_database_dsn: str) -> AsyncIterator[SaasWorld]:
    async with saas_world(entity_database_dsn) as running:
        yield running


async def _order_status(world: SaasWorld, order_id: str) -> list[str]:
    payments = await world.entity.find(names.PAYMENT, {"orderId": order_id}, order_by=["paymentId"])
    return [str(payment["statusId"]) for payment in payments]


async def test_three_renewals_in_a_row_one_recovering_from_an_expired_card(world: SaasWorld) -> None:
    month, year = expiring_month(world.clock.now() + RENEWAL_PERIOD)
    expiring = await world.save_card("4242424242424242", expires=(month, year))
    first = await world.first_month(expiring)
    assert await _order_status(world, first) == [names.PMNT_DELIVERED]
    assert await world.scheduled_run() == []  # nothing due yet

    # Month 2: charged off-session to the saved card.
    subscription = await subscription_of(world.context, ADA)
    assert subscription is not None
    await world.advance_to(subscription.next_due)
    [second] = await world.scheduled_run()
    assert (second.period, second.status_id, second.recovery_url) == (2, names.PMNT_DELIVERED, None)
    intent = await world.observer.v1.payment_intents.retrieve_async(
        str((await world.entity.find(names.GATEWAY_RESPONSE, {"paymentId": second.payment_id}))[0]["referenceNum"])
    )
    assert (intent.status, intent.payment_method, intent.amount_received) == ("succeeded", expiring, 2900)

    # Month 3: the card has expired meanwhile; the renewal is declined and the example has a recovery link.
    subscription = await subscription_of(world.context, ADA)
    assert subscription is not None
    await world.advance_to(max(subscription.next_due, end_of_month(month, year)))
    [third] = await world.scheduled_run()
    assert (third.period, third.status_id) == (3, names.PMNT_DECLINED)
    [declined] = await world.entity.find(names.GATEWAY_RESPONSE, {"paymentId": third.payment_id})
    assert (declined["reasonCode"], declined["resultBadExpire"]) == ("expired_card", "Y")
    assert third.recovery_url is not None
    assert await world.scheduled_run() == []  # the declined renewal waits for the customer

    # The customer opens the link: the reason, no offer of the expired card, a card form that saves the new card.
    link = urlsplit(third.recovery_url)
    async with aiohttp.ClientSession() as browser:
        async with browser.get(third.recovery_url) as page:
            text = await page.text()
            assert page.status == 200, text
        assert "Your card has expired" in text and "saved-card-button" not in text and 'id="saves-card"' in text
        intent_id = parse_qs(link.query)["paymentIntentId"][0]
        intent = await world.observer.v1.payment_intents.retrieve_async(intent_id)
        # What stripe.js does in the browser when the customer pays with a new card (the stand-in's confirm).
        async with browser.post(
            f"{world.stack.emulator_url}/v1/payment_intents/{intent_id}/confirm",
            data={
                "client_secret": str(intent.client_secret),
                "payment_method_data[type]": "card",
                "payment_method_data[card][number]": "5555555555554444",
                "payment_method_data[card][exp_month]": "12",
                "payment_method_data[card][exp_year]": "2034",
                "payment_method_data[card][cvc]": "123",
                "return_url": third.recovery_url,
            },
            headers={"Authorization": f"Bearer {DEMO_PUBLISHABLE_KEY}"},
        ) as confirmed:
            assert confirmed.status == 200, await confirmed.text()
            new_card = (await confirmed.json())["payment_method"]
        async with browser.get(third.recovery_url) as returned:
            assert "Thank you, your payment is complete" in await returned.text()
    assert await _order_status(world, third.order_id) == [names.PMNT_DELIVERED]
    [method] = await world.entity.find(names.PAYMENT_METHOD, {"gatewayCimId": new_card})
    assert method["ownerPartyId"] == ADA

    # Month 4: charged to the new card, off-session.
    subscription = await subscription_of(world.context, ADA)
    assert subscription is not None and subscription.paid == (True, True, True)
    await world.advance_to(subscription.next_due)
    [fourth] = await world.scheduled_run()
    assert (fourth.period, fourth.status_id) == (4, names.PMNT_DELIVERED)
    [pgr] = await world.entity.find(names.GATEWAY_RESPONSE, {"paymentId": fourth.payment_id})
    intent = await world.observer.v1.payment_intents.retrieve_async(str(pgr["referenceNum"]))
    assert (intent.status, intent.payment_method) == ("succeeded", new_card)
    assert await world.scheduled_run() == []
