"""Issue 13 item 4: authorize with a saved card and its Customer, off-session. Success; a decline; a card that
insists on authentication (Stripe's test card 4000002760003184, docs.stripe.com/testing#authentication-and-setup:
"requires authentication for one-time and other on-session payments... off-session payments will be declined with
authentication_required") declined with a recovery link, then completed by the customer on the recovery page; a
retry after a lost answer charges once."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from service.named_lease import NAMED_LEASE
from tests.fixtures.connections_in_use import sample_connections
from tests.gateway_api.conftest import GatewayWorld, next_payment_id
from tests.off_session.conftest import local_path, saved_card

AUTHENTICATION_REQUIRED_CARD = "4000002760003184"
CHARGE_FAILS_CARD = "4000000000000341"  # attaches fine, declined once charged (docs.stripe.com/testing)


async def test_a_saved_card_is_charged_off_session_with_its_customer(world: GatewayWorld) -> None:
    customer, card = await saved_card(world)
    payment_id = next_payment_id()
    answer = await world.authorize(
        payment_id, "19.99", card=card, stripeCustomerId=customer, operation="authorizeAndCapture"
    )
    assert answer.flags == {"resultSuccess"}, answer.body
    assert answer.pgr["paymentOperationEnumId"] == "PgoAuthAndCapture"
    assert "recoveryUrl" not in answer.body
    intent = await world.observer.v1.payment_intents.retrieve_async(answer.body["paymentIntentId"])
    assert (intent.status, intent.customer, intent.payment_method, intent.amount_received) == (
        "succeeded",
        customer,
        card,
        1999,
    )
    # Off-session as sent: the journal's one write is the off-session create (stripe_writes.CREATE).
    [row] = await world.journal(payment_id)
    assert (row["stripeCall"], row["stripeCustomerId"]) == ("create", customer)


async def test_a_declined_saved_card_is_a_declined_response_with_a_recovery_link(world: GatewayWorld) -> None:
    customer, card = await saved_card(world, CHARGE_FAILS_CARD)
    payment_id = next_payment_id()
    answer = await world.authorize(payment_id, card=card, stripeCustomerId=customer)
    assert answer.flags == {"resultDeclined"}, answer.body
    assert answer.pgr["reasonCode"] == "generic_decline"
    assert answer.pgr["transactionStatus"] == "requires_payment_method"
    query = parse_qs(urlsplit(answer.body["recoveryUrl"]).query)
    assert urlsplit(answer.body["recoveryUrl"]).path == "/stripe/Recover"
    assert (query["client"], query["paymentId"], query["paymentIntentId"]) == (
        ["moqui-a"],
        [payment_id],
        [answer.pgr["referenceNum"]],
    )


async def test_authentication_required_then_completed_through_the_link(world: GatewayWorld) -> None:
    customer, card = await saved_card(world, AUTHENTICATION_REQUIRED_CARD)
    payment_id = next_payment_id()
    declined = await world.authorize(payment_id, "42.00", card=card, stripeCustomerId=customer)
    assert declined.flags == {"resultDeclined"}, declined.body
    assert declined.pgr["reasonCode"] == "authentication_required"
    intent_id = declined.pgr["referenceNum"]
    link = local_path(declined.body["recoveryUrl"])

    page = await world.client.get(link)
    text = await page.text()
    assert page.status == 200, text
    assert "$42.00" in text and "Visa ending 3184" in text
    assert "Your bank asks you to confirm this payment" in text

    # Pay with the saved card: confirmed on-session, the bank's challenge by redirect (next_action.redirect_to_url).
    signed = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    confirmed = await world.client.post("/stripe/Recover/confirm", data=signed, allow_redirects=False)
    assert confirmed.status == 303
    challenge = confirmed.headers["Location"]
    assert f"/_emulator/3ds/{intent_id}" in challenge
    # A double click confirms nothing twice: the PaymentIntent awaits the challenge, the same one is offered again.
    again = await world.client.post("/stripe/Recover/confirm", data=signed, allow_redirects=False)
    assert again.headers["Location"] == challenge

    async with (
        aiohttp.ClientSession() as browser,
        browser.post(challenge, data={"outcome": "succeed"}, allow_redirects=False) as answered,
    ):
        assert answered.status == 303
        back = answered.headers["Location"]
    assert urlsplit(back).path == "/stripe/Recover"
    done = await world.client.get(local_path(back))
    assert "Thank you, your payment is complete" in await done.text()
    intent = await world.observer.v1.payment_intents.retrieve_async(intent_id)
    assert (intent.status, intent.payment_method, intent.customer) == ("requires_capture", card, customer)

    # The client (a Moqui) records it with its next authorize of the payment: the same PaymentIntent, no charge.
    recorded = await world.authorize(
        payment_id, "42.00", attempt=1, card=card, stripeCustomerId=customer, paymentIntentId=intent_id
    )
    assert recorded.flags == {"resultSuccess"}, recorded.body
    assert recorded.body["paymentIntentId"] == intent_id
    assert len(await world.intents(payment_id)) == 1


@pytest.mark.parametrize("off_session_deadline_seconds", [20.0])  # slow Stripe calls one after the other
async def test_a_confirm_waiting_for_a_slow_stripe_holds_no_database_connection(
    world: GatewayWorld, entity_database_dsn: str
) -> None:
    customer, card = await saved_card(world, AUTHENTICATION_REQUIRED_CARD)
    payment_id = next_payment_id()
    declined = await world.authorize(payment_id, "42.00", card=card, stripeCustomerId=customer)
    intent_id = declined.pgr["referenceNum"]
    link = local_path(declined.body["recoveryUrl"])
    signed = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    await world.emulator.set_latency(1.5)

    # Under the PaymentIntent's lease (a named lease) the confirm reads the PaymentIntent, then confirms it.
    confirming = asyncio.ensure_future(world.client.post("/stripe/Recover/confirm", data=signed, allow_redirects=False))
    entity = world.entity
    for _ in range(300):
        if await entity.find(NAMED_LEASE, {"leaseName": f"recovery:{intent_id}"}):
            break
        await asyncio.sleep(0.02)
    sampled = await sample_connections(entity, entity_database_dsn, NAMED_LEASE)
    confirmed = await asyncio.wait_for(confirming, timeout=30)

    assert sampled.busy == [0] * 4
    assert sampled.checked_out == [0] * 4
    assert sampled.leased == [1] * 4
    assert confirmed.status == 303
    assert f"/_emulator/3ds/{intent_id}" in confirmed.headers["Location"]
    assert await entity.find(NAMED_LEASE, {}) == []


async def test_a_retry_after_a_lost_answer_charges_once(world: GatewayWorld) -> None:
    customer, card = await saved_card(world)
    payment_id = next_payment_id()
    await world.emulator.add_fault("/v1/payment_intents", "lose_response", method="POST")
    lost = await world.authorize(payment_id, card=card, stripeCustomerId=customer, operation="authorizeAndCapture")
    assert lost.flags == {"resultError"}, lost.body
    retried = await world.authorize(payment_id, card=card, stripeCustomerId=customer, operation="authorizeAndCapture")
    assert retried.flags == {"resultSuccess"}, retried.body
    [intent] = await world.intents(payment_id)
    assert (intent.id, intent.status, intent.customer) == (retried.body["paymentIntentId"], "succeeded", customer)


async def test_a_link_that_was_changed_or_expired_is_refused(world: GatewayWorld) -> None:
    customer, card = await saved_card(world, AUTHENTICATION_REQUIRED_CARD)
    declined = await world.authorize(next_payment_id(), card=card, stripeCustomerId=customer)
    link = local_path(declined.body["recoveryUrl"])
    other = await world.authorize(next_payment_id(), card=card, stripeCustomerId=customer)
    other_intent = other.pgr["referenceNum"]
    forged = link.replace(declined.pgr["referenceNum"], other_intent)
    refused = await world.client.get(forged)
    assert refused.status == 400
    assert "not valid" in await refused.text()
    query = parse_qs(urlsplit(link).query)
    expired = link.replace(f"expires={query['expires'][0]}", "expires=1000")
    assert (await world.client.get(expired)).status == 400
    posted = await world.client.post("/stripe/Recover/confirm", data={"paymentId": "1"}, allow_redirects=False)
    assert posted.status == 400
