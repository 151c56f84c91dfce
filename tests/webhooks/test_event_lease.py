"""The webhooks' leases (the event's, service/webhooks/event_log.py, and the payment's, payment_lookup.py): deliveries
of one event are processed once, no database connection is held while a handler waits for Stripe, a burst of
deliveries larger than the pool completes, and a lease left by a dead holder is taken over while a live holder's
makes the delivery answer 500 (Stripe delivers it again).

Events are Stripe's own (the emulator's `/v1/events`), signed with the endpoint's secret and posted to the endpoint
over HTTP, several at once. Stripe is slowed with the emulator's latency setting (every `/v1/` request waits, as a
far-away Stripe does: stripe_emulator/limits.py), so concurrent deliveries really overlap.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from moqui_bridge.entity.liveness import ProcessLiveness
from service.context import STANDALONE_CLIENT
from service.named_lease import NAMED_LEASE
from service.payment_services.payment_lease import PAYMENT_LEASE
from stripe_emulator.webhooks import sign_payload
from tests.fixtures.connections_in_use import sample_connections
from tests.webhooks.conftest import CONFIG_ID, INTENT_LINK, SECRET_KEY, WEBHOOK_SECRET, WebhookWorld

STRIPE_LATENCY = 1.5
BURST = 20


async def _events(world: WebhookWorld, event_type: str) -> dict[str, dict[str, Any]]:
    """Stripe's events of a type as Stripe sends them, by the id of their object (newest first)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{world.emulator.base_url}/v1/events",
            params={"type": event_type, "limit": "100"},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        ) as response,
    ):
        assert response.status == 200
        page = await response.json()
    found: dict[str, dict[str, Any]] = {}
    for event in page["data"]:
        found.setdefault(event["data"]["object"]["id"], event)
    return found


async def _post(world: WebhookWorld, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Deliver one event as Stripe does: signed with the endpoint's secret, posted to the endpoint."""
    payload = json.dumps(event)
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET, int(time.time())),
    }
    response = await world.client.session.post(world.url(), data=payload, headers=headers)
    return response.status, await response.json()


async def _leases(world: WebhookWorld) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return await world.entity.find(NAMED_LEASE, {}), await world.entity.find(PAYMENT_LEASE, {})


async def test_the_same_event_delivered_twice_at_once_is_processed_once(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    intent = await world.browser_payment(payment_id)
    event = (await _events(world, "payment_intent.amount_capturable_updated"))[intent.id]
    await world.emulator.set_latency(0.3)

    answers = await asyncio.gather(_post(world, event), _post(world, event))

    assert [status for status, _ in answers] == [200, 200]
    # One processed it; the other waited for the event's lease and found it processed.
    assert sorted(body["duplicate"] for _, body in answers) == [False, True]
    assert {body["status"] for _, body in answers} == {"SweProcessed"}
    assert (await world.payment(payment_id))["statusId"] == "PmntAuthorized"
    successes = [row for row in await world.pgrs(payment_id) if row["resultSuccess"] == "Y"]
    assert [row["referenceNum"] for row in successes] == [intent.id]
    assert [row["processingStatusId"] for row in await world.event_rows(eventId=event["id"])] == ["SweProcessed"]
    assert await _leases(world) == ([], [])


@pytest.mark.parametrize("webhook_pool_max_size", [6])
async def test_a_burst_waiting_for_a_slow_stripe_holds_no_connection_and_completes_on_a_small_pool(
    world: WebhookWorld, entity_database_dsn: str
) -> None:
    payment_ids = [await world.add_payment() for _ in range(BURST)]
    intent_ids = []
    for payment_id in payment_ids:
        intent = await world.browser_payment(payment_id)
        await world.stripe_client.v1.payment_intents.cancel_async(intent.id)
        intent_ids.append(intent.id)
    canceled = await _events(world, "payment_intent.canceled")
    await world.emulator.set_latency(STRIPE_LATENCY)

    # Each delivery reads its PaymentIntent again from Stripe under the event's and the payment's leases.
    deliveries = asyncio.gather(*(_post(world, canceled[intent_id]) for intent_id in intent_ids))
    for _ in range(200):
        if len((await _leases(world))[1]) == BURST:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # the last lease's taker is past its database steps too, waiting for Stripe
    payment_leases = len((await _leases(world))[1])
    sampled = await sample_connections(world.entity, entity_database_dsn, NAMED_LEASE)
    answers = await asyncio.wait_for(deliveries, timeout=60)

    assert [status for status, _ in answers] == [200] * BURST
    assert sampled.busy == [0] * 4
    assert sampled.checked_out == [0] * 4
    # All twenty events and payments were leased at once, by rows alone, on a pool of six.
    assert (sampled.leased, payment_leases) == ([BURST] * 4, BURST)
    rows = await world.event_rows(eventType="payment_intent.canceled")
    assert [row["processingStatusId"] for row in rows] == ["SweProcessed"] * BURST
    for intent_id in intent_ids:
        link = await world.entity.find_one(INTENT_LINK, {"paymentIntentId": intent_id})
        assert link is not None and link["intentStatus"] == "canceled"
    assert await _leases(world) == ([], [])


def _from_now(seconds: float) -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=seconds)


async def _hold_event(world: WebhookWorld, event_id: str, expires: datetime, holder_key: int) -> None:
    await world.entity.store(
        NAMED_LEASE,
        {
            "leaseName": f"webhook-event:{CONFIG_ID}:{event_id}",
            "leaseToken": "another-delivery",
            "leaseExpires": expires,
            "holderKey": holder_key,
        },
    )


async def test_a_dead_holders_event_lease_is_taken_over(world: WebhookWorld) -> None:
    expired, orphaned = await world.add_payment(), await world.add_payment()
    intents = {payment_id: await world.browser_payment(payment_id) for payment_id in (expired, orphaned)}
    events = await _events(world, "payment_intent.amount_capturable_updated")
    # A delivery without a liveness key died mid-way: its lease outlived its deadline.
    await _hold_event(world, events[intents[expired].id]["id"], _from_now(-1), 0)
    # A process killed with SIGKILL holds no liveness lock any more: its unexpired lease is free at once.
    await _hold_event(world, events[intents[orphaned].id]["id"], _from_now(300), ProcessLiveness(world.entity.pool).key)

    for payment_id, intent in intents.items():
        status, body = await _post(world, events[intent.id])
        assert (status, body["status"], body["duplicate"]) == (200, "SweProcessed", False)
        assert (await world.payment(payment_id))["statusId"] == "PmntAuthorized"
    assert await _leases(world) == ([], [])


@pytest.mark.parametrize("webhook_deadline_seconds", [1.0])
async def test_a_live_holders_event_or_payment_lease_makes_the_delivery_answer_500(world: WebhookWorld) -> None:
    by_event, by_payment = await world.add_payment(), await world.add_payment()
    intents = {payment_id: await world.browser_payment(payment_id) for payment_id in (by_event, by_payment)}
    events = await _events(world, "payment_intent.amount_capturable_updated")
    holder = ProcessLiveness(world.entity.pool)  # another live process, as far as PostgreSQL can tell
    await holder.start()
    try:
        # Another process's delivery of the first event; a gateway operation of another process on the second payment.
        await _hold_event(world, events[intents[by_event].id]["id"], _from_now(300), holder.key)
        await world.entity.store(
            PAYMENT_LEASE,
            {
                "clientName": STANDALONE_CLIENT,
                "paymentId": by_payment,
                "leaseToken": "a-capture",
                "leaseExpires": _from_now(300),
                "holderKey": holder.key,
            },
        )
        for payment_id, intent in intents.items():
            status, body = await _post(world, events[intent.id])
            assert (status, body["received"]) == (500, False)
            assert (await world.payment(payment_id))["statusId"] == "PmntPromised"
        # The event held by another delivery is that delivery's to record; the other one failed for a retry.
        assert await world.event_rows(eventId=events[intents[by_event].id]["id"]) == []
        [failed] = await world.event_rows(eventId=events[intents[by_payment].id]["id"])
        assert failed["processingStatusId"] == "SweFailed"
        assert "is still being worked on by another request" in failed["processingMessage"]
    finally:
        await holder.stop()

    # Stripe's retries, once the holder is gone, process both.
    for payment_id, intent in intents.items():
        status, body = await _post(world, events[intent.id])
        assert (status, body["status"]) == (200, "SweProcessed")
        assert (await world.payment(payment_id))["statusId"] == "PmntAuthorized"
