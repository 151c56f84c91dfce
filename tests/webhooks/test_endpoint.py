"""The endpoint itself: signatures, unknown configs, foreign objects and transient faults."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import ClientResponse

from stripe_emulator.webhooks import sign_payload
from tests.fixtures.postgres import fetch_value
from tests.webhooks.conftest import (
    NO_SECRET_CONFIG_ID,
    OTHER_CONFIG_ID,
    WEBHOOK_SECRET,
    WebhookWorld,
)


def _event(intent_id: str, payment_id: str, event_id: str = "evt_forged_1") -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": intent_id, "object": "payment_intent", "metadata": {"paymentId": payment_id}}},
        }
    )


async def _post(world: WebhookWorld, body: str, signature: str | None, config_id: str | None = None) -> ClientResponse:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    path = world.url(config_id) if config_id else world.url()
    return await world.client.session.post(path, data=body, headers=headers)


async def test_bad_signatures_are_refused_and_counted_but_never_processed(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    intent = await world.browser_payment(payment_id)
    body = _event(intent.id, payment_id)
    now = int(time.time())
    attempts = {
        "wrong secret": sign_payload(body, "whsec_not_the_right_one", now),
        "stale": sign_payload(body, WEBHOOK_SECRET, now - 301),
        "missing": None,
        "tampered": sign_payload(body.replace("succeeded", "canceled"), WEBHOOK_SECRET, now),
        "malformed": "v1=abc",
    }

    statuses = {name: (await _post(world, body, signature)).status for name, signature in attempts.items()}

    assert statuses == dict.fromkeys(attempts, 400)
    assert await world.event_rows() == []
    counters = {row["rejectionReasonId"]: row for row in await world.rejection_rows(len(attempts))}
    assert {reason: row["rejectedCount"] for reason, row in counters.items()} == {
        "SwrSignatureMismatch": 2,
        "SwrStaleSignature": 1,
        "SwrNoSignature": 1,
        "SwrMalformedSignature": 1,
    }
    assert "tolerance" in counters["SwrStaleSignature"]["lastMessage"]
    assert counters["SwrSignatureMismatch"]["lastPayload"] == body
    assert counters["SwrNoSignature"]["lastRemoteAddress"] == "127.0.0.1"
    assert all(WEBHOOK_SECRET not in row["lastMessage"] + row["lastPayload"] for row in counters.values())
    assert (await world.payment(payment_id))["statusId"] == "PmntPromised"
    assert await world.pgrs(payment_id) == []


async def test_a_flood_of_unsigned_posts_adds_no_rows(world: WebhookWorld) -> None:
    """Issue 12, item 10: 2,000 unsigned posts used to write 2,000 audit rows; now they change two counters, written
    about once a second whatever the rate."""
    body = "x" * 5000

    async def unsigned(number: int) -> int:
        signature = None if number % 2 else f"t={int(time.time())},v1={'0' * 64}"
        return (await _post(world, body, signature)).status

    statuses: list[int] = []
    for start in range(0, 2000, 100):
        statuses += await asyncio.gather(*(unsigned(number) for number in range(start, start + 100)))

    assert statuses == [400] * 2000
    rows = await world.rejection_rows(2000)
    assert sorted((row["rejectionReasonId"], row["rejectedCount"]) for row in rows) == [
        ("SwrNoSignature", 1000),
        ("SwrSignatureMismatch", 1000),
    ]
    assert all(len(row["lastPayload"]) == 2000 for row in rows)  # the sample is bounded as well
    assert await world.event_rows() == []


async def test_a_good_signature_among_several_is_accepted(world: WebhookWorld) -> None:
    body = _event("pi_unknown_to_us", "NOPE", "evt_forged_2")
    now = int(time.time())
    good = sign_payload(body, WEBHOOK_SECRET, now).split("v1=")[1]
    response = await _post(world, body, f"t={now},v1={'0' * 64},v1={good}")
    assert response.status == 200
    assert [row["processingStatusId"] for row in await world.event_rows()] == ["SweIgnored"]


async def test_unknown_config_and_config_without_secret(world: WebhookWorld) -> None:
    body = _event("pi_x", "P1")
    signature = sign_payload(body, WEBHOOK_SECRET, int(time.time()))
    unknown = await _post(world, body, signature, "NoSuchGateway")
    no_secret = await _post(world, body, signature, NO_SECRET_CONFIG_ID)
    assert (unknown.status, no_secret.status) == (404, 400)
    assert "NoSuchGateway" in (await unknown.json())["error"]
    assert await world.event_rows() == []


async def test_foreign_objects_are_answered_200_and_ignored(world: WebhookWorld) -> None:
    other_payment = await world.add_payment(config_id=OTHER_CONFIG_ID)
    await world.browser_payment(None)  # someone else's PaymentIntent on the same Stripe account
    await world.browser_payment("NO_SUCH_PAYMENT")  # names a payment we do not have
    await world.browser_payment(other_payment, config_id=OTHER_CONFIG_ID)  # another gateway config's

    delivered = await world.deliver()

    assert delivered and all(d.responses == [200] for d in delivered)
    capturable = await world.event_rows(eventType="payment_intent.amount_capturable_updated")
    assert [row["processingStatusId"] for row in capturable] == ["SweIgnored"] * 3
    reasons = " | ".join(row["processingMessage"] for row in capturable)
    assert "no metadata.paymentId" in reasons and "does not exist" in reasons and OTHER_CONFIG_ID in reasons
    assert (await world.payment(other_payment))["statusId"] == "PmntPromised"
    not_acted_on = await world.event_rows(eventType="payment_intent.created")
    assert {row["processingStatusId"] for row in not_acted_on} == {"SweIgnored"}


async def test_a_transient_fault_answers_500_and_the_retry_processes_it(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    intent = await world.browser_payment(payment_id)
    # Stripe cannot be read while the event is processed: our fault, so Stripe must retry.
    await world.emulator.add_fault(f"/v1/payment_intents/{intent.id}", "error", status=500, count=50, method="GET")
    first = await world.emulator.deliver_webhooks()
    capturable = next(d for d in first if d.event_type == "payment_intent.amount_capturable_updated")
    settled = {d.id: d for d in await world.emulator.deliveries()}
    assert settled[capturable.id].responses == [500]
    rows = await world.event_rows(eventType="payment_intent.amount_capturable_updated")
    assert [row["processingStatusId"] for row in rows] == ["SweFailed"]
    assert (await world.payment(payment_id))["statusId"] == "PmntPromised"

    await world.emulator.clear_faults()
    await world.deliver()

    rows = await world.event_rows(eventType="payment_intent.amount_capturable_updated")
    assert [row["processingStatusId"] for row in rows] == ["SweProcessed"]
    assert (await world.payment(payment_id))["statusId"] == "PmntAuthorized"


async def test_rejection_counts_pending_at_shutdown_are_written(world: WebhookWorld, entity_database_dsn: str) -> None:
    for _ in range(3):
        assert (await _post(world, "{}", None)).status == 400
    await world.client.close()  # at once: the counts are still pending, and shutdown writes them

    counted = await fetch_value(
        entity_database_dsn,
        "SELECT REJECTED_COUNT FROM STRIPE_WEBHOOK_REJECTION WHERE REJECTION_REASON_ID = 'SwrNoSignature'",
    )
    assert counted == 3
