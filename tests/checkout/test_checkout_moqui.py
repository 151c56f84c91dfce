"""The checkout page with a Moqui (`moqui.base_url`): the order is read, its Payment added and, once Stripe has
authorized it, recorded through the component's REST resources; the PaymentIntent is made as the Moqui's client, so
Moqui's own authorize#Payment finds it authorized and nothing is written to Stripe twice.

The shopper's browser is played with plain HTTP here (the card confirmed with Stripe's API, as the Payment Element
does); tests/browser/test_checkout_moqui.py pays in headless Chromium.
"""

from __future__ import annotations

import re
from decimal import Decimal

import aiohttp

from tests.checkout.moqui_stack import (
    ADD_PAYMENT,
    CHECKOUT_READ,
    CONFIG_ID,
    RECORD_PATH,
    MoquiCheckout,
    payment_body,
)
from tests.checkout.test_checkout_pages import client_secret_of, fetch, intent_id_of
from tests.fixtures.moqui import MOQUI_CLIENT

PAID_EVENTS = ["charge.succeeded", "payment_intent.amount_capturable_updated", "payment_intent.created"]


async def _open_checkout(stack: MoquiCheckout, client: aiohttp.ClientSession) -> tuple[str, str]:
    """Open the link: the page's PaymentIntent and the Payment Moqui added for it."""
    status, body, _ = await fetch(client, stack.link())
    assert status == 200, body
    [payment] = await stack.payments()
    return intent_id_of(client_secret_of(body)), str(payment["paymentId"])


async def _confirm(stack: MoquiCheckout, intent_id: str, card: str = "pm_card_visa") -> dict[str, object]:
    """What the Payment Element does when the shopper presses Pay."""
    return await stack.stripe("POST", f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": card})


async def _paid_at_stripe(stack: MoquiCheckout, client: aiohttp.ClientSession) -> tuple[str, str]:
    """The shopper opened the link and paid; Moqui has not heard of it yet (its requests so far forgotten)."""
    intent_id, payment_id = await _open_checkout(stack, client)
    await _confirm(stack, intent_id)
    stack.take_requests()
    return intent_id, payment_id


async def test_paying_reaches_moqui_through_the_components_resources(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    intent_id, payment_id = await _open_checkout(stack, browser_like_client)

    assert stack.stand_in.requests[0].query == {"paymentGatewayConfigId": CONFIG_ID}
    assert stack.take_requests() == [CHECKOUT_READ, ADD_PAYMENT]
    intent = await stack.stripe("GET", f"/v1/payment_intents/{intent_id}")
    assert (intent["amount"], intent["currency"], intent["capture_method"], intent["status"]) == (
        50000,
        "usd",
        "manual",
        "requires_payment_method",
    )
    assert (intent["metadata"]["moquiStripeClient"], intent["metadata"]["paymentId"]) == (MOQUI_CLIENT, payment_id)
    [link] = await stack.service_entity.find("stripe.StripePaymentIntent", {"paymentIntentId": intent_id})
    assert (link["clientName"], link["paymentId"], link["orderId"]) == (MOQUI_CLIENT, payment_id, "100100")

    # A reload reads the order again and shows the same PaymentIntent for the same Payment.
    _, body, _ = await fetch(browser_like_client, stack.link())
    assert intent_id_of(client_secret_of(body)) == intent_id
    assert stack.take_requests() == [CHECKOUT_READ]

    confirmed = await _confirm(stack, intent_id)
    assert confirmed["status"] == "requires_capture"
    status, _, headers = await fetch(browser_like_client, stack.return_url())

    assert (status, headers["Location"]) == (303, stack.done_url)
    record = stack.stand_in.requests[-1]
    assert stack.take_requests() == [
        CHECKOUT_READ,
        ("POST", RECORD_PATH, payment_body(payment_id, intent_id, str(confirmed["payment_method"]))),
    ]
    assert record.result is not None
    assert [name.rsplit(".", 1)[-1] for name, _ in record.result.calls] == ["authorize#SinglePayment", "place#Order"]
    # Mantle's authorize#SinglePayment ran the component's authorize#Payment: one call to the gateway API.
    [sent] = record.result.sent
    assert sent.uri.endswith("/rest/s1/moqui-stripe/v1/gateway/authorize")
    await stack.assert_recorded_once(payment_id, intent_id)
    # Stripe's log: one PaymentIntent created, one charge (events of one second come in any order).
    assert sorted(await stack.stripe_events(intent_id)) == PAID_EVENTS

    # Back again (reload, back button): the order is paid, Moqui is only read.
    status, _, headers = await fetch(browser_like_client, stack.return_url())
    assert (status, headers["Location"]) == (303, stack.done_url)
    assert stack.take_requests() == [CHECKOUT_READ]
    # Stripe's events then change nothing: the return page recorded the payment first.
    assert await stack.deliver_webhooks()
    [(method, path, body)] = stack.requests()
    assert (method, path, body) == (
        "POST",
        RECORD_PATH,
        payment_body(payment_id, intent_id, str(confirmed["payment_method"])),
    )
    assert stack.stand_in.requests[-1].result.calls == []  # type: ignore[union-attr]
    await stack.assert_recorded_once(payment_id, intent_id)


async def test_a_shopper_who_closes_the_tab_is_recorded_by_the_webhook(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    intent_id, payment_id = await _open_checkout(stack, browser_like_client)
    confirmed = await _confirm(stack, intent_id)
    stack.take_requests()

    delivered = await stack.deliver_webhooks()

    assert "payment_intent.amount_capturable_updated" in delivered
    body = payment_body(payment_id, intent_id, str(confirmed["payment_method"]))
    assert stack.requests() == [("POST", RECORD_PATH, body)]
    await stack.assert_recorded_once(payment_id, intent_id)
    # Stripe delivers the event again: the event log answers it, nothing reaches Moqui.
    for delivery in await stack.emulator.deliveries():
        if delivery.event_type == "payment_intent.amount_capturable_updated":
            again = await stack.emulator.redeliver_event(delivery.event_id)
            assert [d.responses[-1] for d in again] == [200]
    assert stack.requests() == [("POST", RECORD_PATH, body)]
    # The shopper comes back later: the order is paid.
    stack.take_requests()
    status, _, headers = await fetch(browser_like_client, stack.return_url())
    assert (status, headers["Location"]) == (303, stack.done_url)
    assert stack.requests() == [CHECKOUT_READ]
    await stack.assert_recorded_once(payment_id, intent_id)


async def test_moqui_unreachable_on_return_loses_nothing(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    intent_id, payment_id = await _paid_at_stripe(stack, browser_like_client)
    await stack.moqui_down()

    status, page, _ = await fetch(browser_like_client, stack.return_url())

    assert status == 503
    assert "We could not confirm your order yet" in page and "you will not be charged again" in page
    [payment] = await stack.payments()
    assert payment["statusId"] == "PmntPromised"
    # The webhook comes while Moqui is still down: Stripe is asked to retry (nothing is lost).
    await stack.emulator.deliver_webhooks("oldest_first")
    failed = [d for d in await stack.emulator.deliveries() if d.event_type.startswith("payment_intent.amount")]
    assert [d.responses[-1] for d in failed] == [500]
    await stack.moqui_up()
    stack.take_requests()

    # The next visit records it.
    status, _, headers = await fetch(browser_like_client, stack.return_url())

    assert (status, headers["Location"]) == (303, stack.done_url)
    assert [(method, path) for method, path, _ in stack.requests()] == [CHECKOUT_READ[:2], ("POST", RECORD_PATH)]
    await stack.assert_recorded_once(payment_id, intent_id)


async def test_moqui_unreachable_while_recording_says_so_and_the_webhook_records_it(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    intent_id, payment_id = await _paid_at_stripe(stack, browser_like_client)
    # Moqui answers the read, then is restarting when the payment is to be recorded.
    stack.stand_in.unavailable.add(("POST", RECORD_PATH))

    status, page, _ = await fetch(browser_like_client, stack.return_url())

    assert status == 503
    assert "Your card was accepted, but we could not confirm your order just now" in page
    assert stack.done_url in page  # the way on, not an error
    [payment] = await stack.payments()
    assert payment["statusId"] == "PmntPromised"
    stack.stand_in.unavailable.clear()
    stack.take_requests()

    await stack.deliver_webhooks()

    assert [(method, path) for method, path, _ in stack.requests()] == [("POST", RECORD_PATH)]
    await stack.assert_recorded_once(payment_id, intent_id)


async def test_a_declined_card_then_a_good_one_makes_one_payment_intent(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    intent_id, payment_id = await _open_checkout(stack, browser_like_client)
    declined = await _confirm(stack, intent_id, "pm_card_visa_chargeDeclined")
    assert "error" in declined
    stack.take_requests()

    status, _, headers = await fetch(browser_like_client, stack.return_url())

    # Back to the page, which says why and shows the same PaymentIntent; Moqui was only read.
    assert status == 303 and headers["Location"].startswith("/stripe/Checkout?")
    status, body, _ = await fetch(browser_like_client, stack.url + headers["Location"])
    assert status == 200 and "declined" in body
    assert intent_id_of(client_secret_of(body)) == intent_id
    assert stack.take_requests() == [CHECKOUT_READ, CHECKOUT_READ]
    [payment] = await stack.payments()
    assert (payment["statusId"], payment["amount"]) == ("PmntPromised", Decimal("500.0000"))

    paid = await _confirm(stack, intent_id)
    status, _, headers = await fetch(browser_like_client, stack.return_url())

    assert (status, headers["Location"]) == (303, stack.done_url)
    assert stack.take_requests() == [
        CHECKOUT_READ,
        ("POST", RECORD_PATH, payment_body(payment_id, intent_id, str(paid["payment_method"]))),
    ]
    await stack.assert_recorded_once(payment_id, intent_id)
    events = await stack.stripe_events(intent_id)
    assert events.count("payment_intent.created") == 1
    assert (events.count("charge.failed"), events.count("charge.succeeded")) == (1, 1)


async def test_a_link_for_an_order_moqui_does_not_have_goes_to_the_error_url(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout

    status, _, headers = await fetch(browser_like_client, stack.link("NO_SUCH_ORDER"))

    assert status == 303 and headers["Location"].startswith(f"{stack.error_url}?checkoutError=order_not_found")
    assert stack.requests() == [("GET", "/rest/s1/moqui-stripe/orders/NO_SUCH_ORDER/checkout", None)]
    assert await stack.payments() == []


async def test_moqui_unreachable_when_the_page_opens_is_a_clear_page(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    await stack.moqui_down()

    status, page, _ = await fetch(browser_like_client, stack.link())

    assert status == 503 and "Payment temporarily unavailable" in page
    assert await stack.journal() == []


# Mantle's OrderItem (mantle-udm entity/OrderEntities.xml): the part's items, quantity x unitAmount each.
ORDER_ITEMS = [
    {
        "orderItemSeqId": "01",
        "itemDescription": "Wool scarf",
        "quantity": 2,
        "unitAmount": "200.00",
    },
    {
        "orderItemSeqId": "02",
        "itemDescription": "Express shipping",
        "quantity": 1,
        "unitAmount": "100.00",
    },
]


async def test_the_page_lists_the_moqui_orders_items_and_totals(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    keys = [{"orderId": "100100", "orderItemSeqId": item["orderItemSeqId"]} for item in ORDER_ITEMS]
    for item, key in zip(ORDER_ITEMS, keys, strict=True):
        values = {**item, "quantity": Decimal(str(item["quantity"])), "unitAmount": Decimal(str(item["unitAmount"]))}
        await stack.facade.create("mantle.order.OrderItem", {**key, **values, "orderPartSeqId": "01"})
    try:
        status, body, _ = await fetch(browser_like_client, stack.link())
    finally:
        for key in keys:
            await stack.facade.delete("mantle.order.OrderItem", key)

    assert status == 200, body
    items = re.findall(
        r'<span class="item-name"[^>]*>([^<]*)</span>\s*(?:<span class="item-quantity">× ([^<]*)</span>)?\s*'
        r'<span class="item-amount">([^<]*)</span>',
        body,
    )
    assert items == [("Wool scarf", "2", "$400.00"), ("Express shipping", "", "$100.00")]
    assert re.search(r'id="order-total">\$500\.00<', body)
    # Read through the component's get#CheckoutOrder, as every visit is; the items cost no extra request.
    assert stack.take_requests() == [CHECKOUT_READ, ADD_PAYMENT]
