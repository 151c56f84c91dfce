"""Issue 10 item 6: a new authorization of a payment whose authorization was released or expired needs a card saved
to the party's Stripe Customer. Stripe refuses a second use of a PaymentMethod attached to no Customer (the emulator
models it: stripe_emulator/README.md, after Automattic/woocommerce-payments#323), so without one the gateway answers a
decline saying the card must be entered again, and creates nothing at Stripe.
"""

from __future__ import annotations

import stripe

from tests.gateway_api.conftest import GatewayWorld, next_payment_id

# Stripe's authorizations expire after 7 days (docs.stripe.com/payments/capture-later); the emulator follows its clock.
PAST_EXPIRY_SECONDS = 8 * 24 * 3600


async def _real_card(world: GatewayWorld) -> str:
    """A PaymentMethod made from card details (as stripe.js makes them), not a pm_card_* token."""
    method = await world.observer.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return str(method.id)


async def _saved_card(world: GatewayWorld) -> tuple[str, str]:
    """A Customer and a real PaymentMethod attached to it (a saved card): (customer id, PaymentMethod id)."""
    customer = await world.observer.v1.customers.create_async({"name": "Saved card"})
    method = await _real_card(world)
    await world.observer.v1.payment_methods.attach_async(method, {"customer": customer.id})
    return str(customer.id), method


async def _released(world: GatewayWorld, payment_id: str, card: str, customer: str | None = None) -> str:
    first = await world.authorize(payment_id, card=card, stripeCustomerId=customer)
    assert first.flags == {"resultSuccess"}, first.body
    intent = str(first.body["paymentIntentId"])
    assert (await world.on_intent("release", payment_id, intent)).flags == {"resultSuccess"}
    return intent


async def _expired(world: GatewayWorld, payment_id: str, card: str, customer: str | None = None) -> str:
    first = await world.authorize(payment_id, card=card, stripeCustomerId=customer)
    assert first.flags == {"resultSuccess"}, first.body
    await world.emulator.advance_clock(PAST_EXPIRY_SECONDS)
    intent = await world.observer.v1.payment_intents.retrieve_async(first.body["paymentIntentId"])
    assert (intent.status, intent.cancellation_reason) == ("canceled", "expired")
    return str(intent.id)


async def test_reauthorization_after_a_release_with_a_saved_card(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    customer, card = await _saved_card(world)
    first = await _released(world, payment_id, card, customer)
    again = await world.authorize(payment_id, attempt=1, card=card, paymentIntentId=first, stripeCustomerId=customer)
    assert again.flags == {"resultSuccess"}
    assert again.body["paymentIntentId"] != first
    assert len(await world.intents(payment_id)) == 2


async def test_reauthorization_after_an_expired_authorization_with_a_saved_card(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    customer, card = await _saved_card(world)
    first = await _expired(world, payment_id, card, customer)
    again = await world.authorize(payment_id, attempt=1, card=card, paymentIntentId=first, stripeCustomerId=customer)
    assert again.flags == {"resultSuccess"}
    intent = await world.observer.v1.payment_intents.retrieve_async(again.body["paymentIntentId"])
    assert (intent.status, intent.customer, intent.payment_method) == ("requires_capture", customer, card)


async def test_reauthorization_after_a_release_without_a_customer_is_declined(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    card = await _real_card(world)
    first = await _released(world, payment_id, card)
    keyed = await world.idempotent_requests()
    # The caller's Payment names the released PaymentIntent, or none (the journal knows the card was used): both.
    for attempt, named in ((1, {"paymentIntentId": first}), (2, {})):
        again = await world.authorize(payment_id, attempt=attempt, card=card, **named)
        assert again.flags == {"resultDeclined"}, again.body
        assert again.pgr["reasonCode"] == "payment_method_not_reusable"
        assert again.pgr["reasonMessage"].startswith("The card must be entered again: ")
    assert await world.idempotent_requests() == keyed
    assert len(await world.intents(payment_id)) == 1


async def test_reauthorization_after_an_expiry_with_an_unsaved_card_is_declined(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    customer = await world.observer.v1.customers.create_async({"name": "Nothing saved"})
    card = await _real_card(world)
    # Authorized for the Customer, but the card was never attached to it: it was good for one payment.
    first = await _expired(world, payment_id, card, str(customer.id))
    again = await world.authorize(payment_id, attempt=1, card=card, paymentIntentId=first, stripeCustomerId=customer.id)
    assert again.flags == {"resultDeclined"}
    assert f"is not saved to Stripe Customer {customer.id}" in again.pgr["reasonMessage"]
    assert len(await world.intents(payment_id)) == 1
    # What Stripe would have said, had we asked (so the decline is not our invention).
    try:
        await world.observer.v1.payment_intents.create_async(
            {"amount": 5000, "currency": "usd", "payment_method": card, "customer": customer.id, "confirm": True}
        )
        raise AssertionError("Stripe took a used PaymentMethod attached to no Customer")
    except stripe.InvalidRequestError as refused:
        assert refused.param == "payment_method"
