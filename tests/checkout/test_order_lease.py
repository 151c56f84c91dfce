"""The order's checkout lease (service/checkout/order_lease.py): the page's requests and the webhooks that record a
checkout work on one order one at a time, no database connection is held while they wait for Stripe, and a lease
left by a dead holder is taken over.

Stripe is slowed with the emulator's latency setting (every `/v1/` request waits, as a far-away Stripe does:
stripe_emulator/limits.py), so concurrent requests really overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import aiohttp
import pytest

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.liveness import ProcessLiveness
from service.checkout.order_lease import ORDER_LEASE
from service.checkout.pages import RETURN_PATH
from stripe_emulator.control import EmulatorControl
from tests.checkout.harness import CheckoutServer, checkout_settings, emulator_get, running_checkout
from tests.checkout.moqui_stack import RECORD_PATH, MoquiCheckout
from tests.checkout.test_checkout_pages import client_secret_of, fetch, intent_id_of
from tests.fixtures.connections_in_use import sample_connections
from tests.moqui_harness.moqui_database import ORDER_ID

STRIPE_LATENCY = 1.5
JOURNAL = "stripe.StripeGatewayOperation"


async def _created_events(emulator_url: str, payment_id: str) -> list[str]:
    """Stripe's `payment_intent.created` events of the Payment's PaymentIntents (its log: exactly-once shows here)."""
    events = (await emulator_get(emulator_url, "/v1/events?limit=100"))["data"]
    return [
        event["data"]["object"]["id"]
        for event in events
        if event["type"] == "payment_intent.created"
        and event["data"]["object"]["metadata"].get("paymentId") == payment_id
    ]


async def test_two_checkouts_of_one_order_at_slow_stripe_make_one_payment_intent(
    checkout_server: CheckoutServer, emulator_control: EmulatorControl, browser_like_client: aiohttp.ClientSession
) -> None:
    order_id = await checkout_server.create_order("21.00")
    await emulator_control.set_latency(0.5)
    link = checkout_server.link(order_id)

    first, second = await asyncio.gather(fetch(browser_like_client, link), fetch(browser_like_client, link))

    assert (first[0], second[0]) == (200, 200)
    assert client_secret_of(first[1]) == client_secret_of(second[1])
    [payment] = await checkout_server.payments(order_id)
    assert await _created_events(checkout_server.emulator_url, str(payment["paymentId"])) == [
        intent_id_of(client_secret_of(first[1]))
    ]
    assert await checkout_server.entity.find(ORDER_LEASE, {"orderId": order_id}) == []


async def test_checkouts_waiting_for_a_slow_stripe_hold_no_database_connection(
    checkout_server: CheckoutServer,
    emulator_control: EmulatorControl,
    browser_like_client: aiohttp.ClientSession,
    entity_database_dsn: str,
) -> None:
    entity = checkout_server.entity
    order_ids = [await checkout_server.create_order(f"{10 + n}.00") for n in range(4)]
    await emulator_control.set_latency(STRIPE_LATENCY)
    pages = asyncio.gather(*(fetch(browser_like_client, checkout_server.link(order_id)) for order_id in order_ids))
    # Each page journals its create before it calls Stripe: once all four rows are there, all four wait for Stripe.
    for _ in range(200):
        if len(await entity.find(JOURNAL, {"operationName": "checkout"})) == len(order_ids):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    sampled = await sample_connections(entity, entity_database_dsn, ORDER_LEASE)
    answers = await pages

    assert [status for status, _, _ in answers] == [200] * len(order_ids)
    assert sampled.busy == [0] * 4
    assert sampled.checked_out == [0] * 4
    # The orders were leased all along, by rows alone.
    assert sampled.leased == [len(order_ids)] * 4
    assert await entity.find(ORDER_LEASE, {}) == []


async def _hold_lease(entity: EntityFacade, order_id: str, expires: datetime, holder_key: int = 0) -> None:
    await entity.store(
        ORDER_LEASE,
        {"orderId": order_id, "leaseToken": "holder-that-died", "leaseExpires": expires, "holderKey": holder_key},
    )


def _from_now(seconds: float) -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=seconds)


async def test_a_dead_holders_order_lease_is_taken_over(
    checkout_server: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    entity = checkout_server.entity
    expired, orphaned = await checkout_server.create_order(), await checkout_server.create_order()
    # A holder without a liveness key died mid-request: its lease outlived the holder's deadline.
    await _hold_lease(entity, expired, _from_now(-1))
    # A process killed with SIGKILL holds no liveness lock any more: its unexpired lease is free at once.
    await _hold_lease(entity, orphaned, _from_now(300), holder_key=ProcessLiveness(entity.pool).key)

    for order_id in (expired, orphaned):
        status, _, _ = await fetch(browser_like_client, checkout_server.link(order_id))
        assert status == 200
        assert len(await checkout_server.payments(order_id)) == 1
        assert await entity.find(ORDER_LEASE, {"orderId": order_id}) == []


@pytest.fixture
async def impatient_checkout(entity_database_dsn: str, stripe_emulator_url: str) -> AsyncIterator[CheckoutServer]:
    """The checkout pages with a one-second request deadline."""
    settings = checkout_settings(stripe_emulator_url)
    settings = settings.model_copy(
        update={"server": settings.server.model_copy(update={"request_deadline_seconds": 1.0})}
    )
    async with running_checkout(entity_database_dsn, stripe_emulator_url, settings=settings) as server:
        yield server


async def test_a_live_holders_order_lease_is_waited_for_then_the_shopper_is_asked_to_retry(
    impatient_checkout: CheckoutServer, browser_like_client: aiohttp.ClientSession
) -> None:
    server = impatient_checkout
    order_id = await server.create_order()
    holder = ProcessLiveness(server.entity.pool)  # another live process, as far as PostgreSQL can tell
    await holder.start()
    try:
        await _hold_lease(server.entity, order_id, _from_now(300), holder_key=holder.key)
        status, page, _ = await fetch(browser_like_client, server.link(order_id))
        assert status == 503
        assert "Payment temporarily unavailable" in page
        returned = await fetch(
            browser_like_client, f"{server.url}{RETURN_PATH}?{urlencode(server.signed_query(order_id))}"
        )
        assert returned[0] == 503
        assert "We could not confirm your order yet" in returned[1]
        # Nothing was done for the order meanwhile, and the lease is still the holder's.
        assert await server.payments(order_id) == []
        [lease] = await server.entity.find(ORDER_LEASE, {"orderId": order_id})
        assert lease["leaseToken"] == "holder-that-died"
    finally:
        await holder.stop()
    status, _, _ = await fetch(browser_like_client, server.link(order_id))
    assert status == 200


# -- with a Moqui: the return page and the webhook ------------------------------------------------------------------


async def _paid_at_stripe(stack: MoquiCheckout, client: aiohttp.ClientSession) -> tuple[str, str]:
    """The shopper opened the link and paid at Stripe; Moqui has not recorded it yet."""
    status, body, _ = await fetch(client, stack.link())
    assert status == 200, body
    [payment] = await stack.payments()
    intent_id = intent_id_of(client_secret_of(body))
    await stack.stripe("POST", f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": "pm_card_visa"})
    stack.take_requests()
    return intent_id, str(payment["paymentId"])


async def test_the_return_page_and_the_webhook_at_once_record_the_payment_once(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    intent_id, payment_id = await _paid_at_stripe(stack, browser_like_client)
    await stack.emulator.set_latency(0.3)  # both read the PaymentIntent from Stripe under the lease

    returned, delivered = await asyncio.gather(
        fetch(browser_like_client, stack.return_url()), stack.emulator.deliver_webhooks("oldest_first")
    )

    assert (returned[0], returned[2]["Location"]) == (303, stack.done_url)
    settled = {d.id: d for d in await stack.emulator.deliveries()}
    assert [settled[d.id].responses[-1] for d in delivered] == [200] * len(delivered)
    # One after the other: the first recorded the payment; the second found it recorded (record#CheckoutPayment made
    # no calls), or found the order paid and sent nothing.
    records = [r for r in stack.stand_in.requests if (r.method, r.path) == ("POST", RECORD_PATH)]
    assert [bool(r.result and r.result.calls) for r in records] in ([True], [True, False])
    await stack.assert_recorded_once(payment_id, intent_id)
    assert await stack.service_entity.find(ORDER_LEASE, {}) == []


@pytest.mark.parametrize("moqui_checkout_deadline_seconds", [2.0])  # the delivery waits for the lease 2 s at most
async def test_a_webhook_finding_the_order_leased_until_its_deadline_is_retried(
    moqui_checkout: MoquiCheckout, browser_like_client: aiohttp.ClientSession
) -> None:
    stack = moqui_checkout
    intent_id, payment_id = await _paid_at_stripe(stack, browser_like_client)
    entity = stack.service_entity
    holder = ProcessLiveness(entity.pool)  # a page of another live process holds the order
    await holder.start()
    try:
        await _hold_lease(entity, ORDER_ID, _from_now(300), holder_key=holder.key)
        await stack.emulator.deliver_webhooks("oldest_first")
    finally:
        await holder.stop()
    [failed] = [d for d in await stack.emulator.deliveries() if d.event_type.startswith("payment_intent.amount")]
    # Answered 500, so Stripe retries it; nothing reached Moqui.
    assert failed.responses[-1] == 500
    assert [(method, path) for method, path, _ in stack.requests()] == []
    [row] = await entity.find("stripe.StripeWebhookEvent", {"eventId": failed.event_id})
    assert row["processingStatusId"] == "SweFailed"
    assert "is still being worked on by another request" in row["processingMessage"]

    # Stripe's retry, once the holder is gone, records the payment.
    [again] = await stack.emulator.redeliver_event(failed.event_id)
    assert again.responses[-1] == 200
    await stack.assert_recorded_once(payment_id, intent_id)
