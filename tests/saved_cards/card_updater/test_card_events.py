"""payment_method.automatically_updated / updated / detached webhooks keep Mantle's saved cards true (standalone):
the updater's new expiry and last four through update#CreditCard, a detached card expired (service/webhooks/
card_events.py). Events come from the emulator's card updater hook and Stripe's own API calls."""

from __future__ import annotations

from typing import Any

from moqui_bridge.mantle import names
from moqui_bridge.mantle.party_cards import LocalPartyCards
from service.context import STANDALONE_CLIENT
from service.saved_cards.card_records import record_saved_card
from service.saved_cards.customers import CustomerOwner, find_or_create_customer
from tests.saved_cards.conftest import add_person
from tests.webhooks.conftest import CONFIG_ID, EVENT, WebhookWorld

PARTY = "PartyCardOwner"


async def _saved_card(world: WebhookWorld) -> tuple[LocalPartyCards, str, str]:
    await add_person(world.entity, PARTY, "Card", "Owner", "owner@example.com")
    cards = LocalPartyCards(lambda: world.context)
    customer = await find_or_create_customer(world.context, cards, CustomerOwner(STANDALONE_CLIENT, CONFIG_ID, PARTY))
    method = await world.stripe_client.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    await world.stripe_client.v1.payment_methods.attach_async(method.id, {"customer": customer})
    record = await record_saved_card(cards, method, PARTY, CONFIG_ID)
    await world.deliver()
    return cards, method.id, record.payment_method_id


async def _current(world: WebhookWorld, stripe_method_id: str) -> list[dict[str, Any]]:
    return await world.entity.find(names.PAYMENT_METHOD, {"gatewayCimId": stripe_method_id, "thruDate": None})


async def test_the_card_updater_changes_expiry_and_last_four(world: WebhookWorld) -> None:
    _cards, method_id, first_id = await _saved_card(world)
    await world.emulator.update_card(method_id, exp_month=4, exp_year=2033, last4="1881")
    await world.deliver()

    [current] = await _current(world, method_id)
    assert current["paymentMethodId"] != first_id and current["originalPaymentMethodId"] == first_id
    assert current["description"] == "Visa ************1881"
    card = await world.entity.find_one(names.CREDIT_CARD, {"paymentMethodId": current["paymentMethodId"]})
    assert card is not None and card["expireDate"] == "04/2033" and card["creditCardTypeEnumId"] == "CctVisa"
    old = await world.entity.find_one(names.PAYMENT_METHOD, {"paymentMethodId": first_id})
    assert old is not None and old["thruDate"] is not None
    [event] = await world.entity.find(EVENT, {"eventType": "payment_method.automatically_updated"})
    assert event["processingStatusId"] == "SweProcessed"

    # The same event again, and an API update that changes nothing of the card: Mantle stays as it is.
    await world.emulator.redeliver_event(str(event["eventId"]))
    await world.stripe_client.v1.payment_methods.update_async(method_id, {"metadata": {"note": "x"}})
    await world.deliver()
    assert [row["paymentMethodId"] for row in await _current(world, method_id)] == [current["paymentMethodId"]]


async def test_an_expiry_changed_through_the_api_is_recorded(world: WebhookWorld) -> None:
    _cards, method_id, _first_id = await _saved_card(world)
    await world.stripe_client.v1.payment_methods.update_async(method_id, {"card": {"exp_month": 1, "exp_year": 2035}})
    await world.deliver()
    [current] = await _current(world, method_id)
    card = await world.entity.find_one(names.CREDIT_CARD, {"paymentMethodId": current["paymentMethodId"]})
    assert card is not None and card["expireDate"] == "01/2035"
    assert current["description"] == "Visa ************4242"


async def test_a_detached_card_is_no_longer_offered(world: WebhookWorld) -> None:
    _cards, method_id, first_id = await _saved_card(world)
    await world.stripe_client.v1.payment_methods.detach_async(method_id)
    await world.deliver()
    assert await _current(world, method_id) == []
    expired = await world.entity.find_one(names.PAYMENT_METHOD, {"paymentMethodId": first_id})
    assert expired is not None and expired["thruDate"] is not None


async def test_a_card_mantle_does_not_hold_is_ignored(world: WebhookWorld) -> None:
    customer = await world.stripe_client.v1.customers.create_async({"name": "Elsewhere"})
    method = await world.stripe_client.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    await world.stripe_client.v1.payment_methods.attach_async(method.id, {"customer": customer.id})
    await world.emulator.update_card(method.id, exp_month=5, exp_year=2031)
    await world.deliver()
    [event] = await world.entity.find(EVENT, {"eventType": "payment_method.automatically_updated"})
    assert event["processingStatusId"] == "SweIgnored"
    assert await world.entity.find(names.PAYMENT_METHOD, {"gatewayCimId": method.id}) == []
