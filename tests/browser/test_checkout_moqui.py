"""Paying a Moqui order in headless Chromium: the checkout page of a service configured with `moqui.base_url`, the
stripe.js stand-in's Payment Element, and the Moqui REST stand-in running the component's own XML actions.

Asserted: the exact requests Moqui receives, in order; Moqui's authorize#Payment (run by Mantle's
authorize#SinglePayment inside record#CheckoutPayment) finding the page's PaymentIntent authorized; and Stripe's log
showing exactly one PaymentIntent created and one card charge per confirmation.
"""

from __future__ import annotations

from typing import Any

from tests.browser.test_checkout_in_browser import DECLINED_CARD, GOOD_CARD, assert_shown_once, csp_violations, pay_with
from tests.checkout.moqui_stack import (
    ADD_PAYMENT,
    CHECKOUT_READ,
    RECORD_PATH,
    MoquiCheckout,
    payment_body,
)


async def _open(page: Any, stack: MoquiCheckout) -> None:
    await page.goto(stack.link())
    await page.wait_for_selector("#pay-button:enabled")


async def _paid_through_moqui(stack: MoquiCheckout) -> str:
    """The PaymentIntent of the order's one Payment in Moqui, recorded once, after Moqui received exactly: the read
    and the add when the page opened, the read and the record when the shopper came back (a decline in the browser
    sends nothing)."""
    [payment] = await stack.payments()
    payment_id, intent_id = str(payment["paymentId"]), str(payment["paymentRefNum"])
    intent = await stack.stripe("GET", f"/v1/payment_intents/{intent_id}")
    assert stack.requests() == [
        CHECKOUT_READ,
        ADD_PAYMENT,
        CHECKOUT_READ,
        ("POST", RECORD_PATH, payment_body(payment_id, intent_id, str(intent["payment_method"]))),
    ]
    await stack.assert_recorded_once(payment_id, intent_id)
    return intent_id


async def test_paying_a_moqui_order_in_the_browser(page: Any, moqui_checkout: MoquiCheckout) -> None:
    stack = moqui_checkout
    await _open(page, stack)
    assert await page.text_content("#amount-due") == "$500.00"

    await pay_with(page, GOOD_CARD)
    await page.wait_for_url(stack.done_url)

    intent_id = await _paid_through_moqui(stack)
    record = stack.stand_in.requests[-1].result
    assert record is not None and record.committed
    assert [name.rsplit(".", 1)[-1] for name, _ in record.calls] == ["authorize#SinglePayment", "place#Order"]
    [sent] = record.sent  # the component's authorize#Payment, to the gateway API
    assert sent.uri.endswith("/rest/s1/moqui-stripe/v1/gateway/authorize")
    # Found authorized: one response in Moqui, the journal's authorize attempt made no Stripe write (checked above).
    events = await stack.stripe_events(intent_id)
    assert sorted(events) == ["charge.succeeded", "payment_intent.amount_capturable_updated", "payment_intent.created"]
    assert csp_violations(page) == []


async def test_a_declined_card_then_a_good_one_in_the_browser(page: Any, moqui_checkout: MoquiCheckout) -> None:
    stack = moqui_checkout
    await _open(page, stack)

    await pay_with(page, DECLINED_CARD)
    await page.wait_for_selector("#payment-message:has-text('declined')")
    await assert_shown_once(page, "Your card was declined. Please try another card.")
    assert stack.requests() == [CHECKOUT_READ, ADD_PAYMENT]  # a decline in the browser is not Moqui's business

    await pay_with(page, GOOD_CARD)
    await page.wait_for_url(stack.done_url)

    intent_id = await _paid_through_moqui(stack)
    events = await stack.stripe_events(intent_id)
    assert events.count("payment_intent.created") == 1
    assert (events.count("charge.failed"), events.count("charge.succeeded")) == (1, 1)
