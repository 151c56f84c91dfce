"""Signed webhooks (verified with the SDK), retries, manual delivery, reordering, redelivery; events; disputes;
authorization expiry through the emulator's clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe
from aiohttp import web

from stripe_emulator.control import EmulatorControl

SECRET = "whsec_emulator_suite_secret"


@dataclass
class Receiver:
    """A webhook endpoint on loopback that records what it receives and answers `status`."""

    url: str
    bodies: list[tuple[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def events(self) -> list[Any]:
        """Every received event, verified as a real integration would."""
        return [stripe.Webhook.construct_event(body, signature, SECRET) for body, signature in self.bodies]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    holder: list[Receiver] = []

    async def handle(request: web.Request) -> web.Response:
        target = holder[0]
        target.bodies.append((await request.text(), request.headers["Stripe-Signature"]))
        status = target.statuses.pop(0) if target.statuses else 200
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    holder.append(Receiver(f"http://127.0.0.1:{runner.addresses[0][1]}/hook"))
    try:
        yield holder[0]
    finally:
        await runner.cleanup()


@pytest.fixture
async def paused(emulator_control: EmulatorControl, receiver: Receiver) -> EmulatorControl:
    """An emulator sending to `receiver`, with background delivery paused so tests choose when events go out."""
    await emulator_control.set_webhook_auto_delivery(False)
    await emulator_control.add_webhook_endpoint(receiver.url, SECRET)
    return emulator_control


async def test_payment_lifecycle_events_are_signed_and_verifiable(
    stripe_client: stripe.StripeClient, paused: EmulatorControl, receiver: Receiver
) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1000,
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        },
        {"idempotency_key": "hooks-1"},
    )
    await stripe_client.v1.payment_intents.capture_async(intent.id, {"amount_to_capture": 700})
    refund = await stripe_client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 100})
    await stripe_client.v1.refunds.update_async(refund.id, {"metadata": {"note": "x"}})
    delivered = await paused.deliver_webhooks()
    assert all(d.status == "succeeded" for d in delivered)
    events = receiver.events()
    types = [e.type for e in events]
    assert types == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.amount_capturable_updated",
        "charge.captured",
        "payment_intent.succeeded",
        "refund.created",
        "charge.refunded",
        "refund.updated",
        "charge.refund.updated",
    ]
    created = events[0]
    assert created.data.object.id == intent.id
    assert created.data.object.status == "requires_confirmation"
    assert created.request.idempotency_key == "hooks-1"
    assert events[4].data.object.amount_received == 700
    assert events[7].data.previous_attributes.metadata.to_dict() == {}
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(receiver.bodies[0][0], receiver.bodies[0][1], "whsec_wrong")
    listed = await stripe_client.v1.events.list_async({"type": "payment_intent.succeeded"})
    assert [e.id for e in listed.data] == [events[4].id]
    fetched = await stripe_client.v1.events.retrieve_async(events[0].id)
    assert fetched.type == "payment_intent.created"


async def test_failure_cancel_3ds_dispute_and_setup_events(
    stripe_client: stripe.StripeClient, paused: EmulatorControl, receiver: Receiver
) -> None:
    with pytest.raises(stripe.CardError):
        await stripe_client.v1.payment_intents.create_async(
            {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa_chargeDeclined", "confirm": True}
        )
    to_cancel = await stripe_client.v1.payment_intents.create_async({"amount": 1000, "currency": "usd"})
    await stripe_client.v1.payment_intents.cancel_async(to_cancel.id)
    challenged = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_authenticationRequired", "confirm": True}
    )
    authenticated = await paused.complete_3ds(challenged.id)
    dispute = await paused.create_dispute(authenticated["intent"]["latest_charge"], reason="fraudulent")
    await stripe_client.v1.setup_intents.create_async({"payment_method": "pm_card_visa", "confirm": True})
    await paused.deliver_webhooks()
    types = {e.type for e in receiver.events()}
    assert {
        "charge.failed",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
        "charge.dispute.created",
        "setup_intent.succeeded",
    } <= types
    assert dispute["object"] == "dispute" and dispute["status"] == "needs_response"
    charge = await stripe_client.v1.charges.retrieve_async(dispute["charge"])
    assert charge.disputed is True


async def test_failed_deliveries_are_retried_until_accepted(
    stripe_client: stripe.StripeClient, paused: EmulatorControl, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    await stripe_client.v1.customers.create_async({"email": "a@example.com"})
    first = await paused.deliver_webhooks()
    assert [d.status for d in first] == ["pending"]
    second = await paused.deliver_webhooks()
    assert [d.responses for d in second] == [[500, 503]]
    third = await paused.deliver_webhooks()
    assert [d.status for d in third] == ["succeeded"]
    assert third[0].attempts == 3
    assert len(receiver.bodies) == 3
    assert len({json.loads(body)["id"] for body, _ in receiver.bodies}) == 1


async def test_background_delivery_retries_with_backoff(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    await emulator_control.add_webhook_endpoint(receiver.url, SECRET, enabled_events=["customer.created"])
    await stripe_client.v1.customers.create_async({})
    # The fixture's emulator retries after 0.05 s, doubling; poll the delivery log rather than sleeping blindly.
    for _ in range(100):
        deliveries = await emulator_control.deliveries()
        if deliveries and deliveries[0].status == "succeeded":
            break
        await asyncio.sleep(0.02)
    assert deliveries[0].responses == [500, 200]
    assert [e.type for e in receiver.events()] == ["customer.created", "customer.created"]


async def test_reorder_and_redeliver(
    stripe_client: stripe.StripeClient, paused: EmulatorControl, receiver: Receiver
) -> None:
    first = await stripe_client.v1.customers.create_async({"name": "one"})
    second = await stripe_client.v1.customers.create_async({"name": "two"})
    await paused.deliver_webhooks(order="newest_first")
    names = [e.data.object.name for e in receiver.events()]
    assert names == ["two", "one"]
    event_id = receiver.events()[1].id
    again = await paused.redeliver_event(event_id)
    assert [d.status for d in again] == ["succeeded"]
    assert receiver.events()[-1].id == event_id
    assert {first.id, second.id} == {e.data.object.id for e in receiver.events()}


async def test_explicit_order_by_event_ids(
    stripe_client: stripe.StripeClient, paused: EmulatorControl, receiver: Receiver
) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    events = (await stripe_client.v1.events.list_async({"type": "payment_intent.*"})).data
    succeeded = next(e.id for e in events if e.type == "payment_intent.succeeded")
    await paused.deliver_webhooks(order=[succeeded])
    received = receiver.events()
    assert received[0].type == "payment_intent.succeeded"
    assert received[0].data.object.id == intent.id


async def test_uncaptured_authorization_expires_after_seven_days(
    stripe_client: stripe.StripeClient, paused: EmulatorControl, receiver: Receiver
) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1000,
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    assert await paused.advance_clock(6 * 24 * 3600) == 0
    assert (await stripe_client.v1.payment_intents.retrieve_async(intent.id)).status == "requires_capture"
    assert await paused.advance_clock(24 * 3600) == 1
    expired = await stripe_client.v1.payment_intents.retrieve_async(intent.id)
    assert expired.status == "canceled"
    # basil+: `expired`, formerly `automatic` (changelog 2025-03-31.basil).
    assert expired.cancellation_reason == "expired"
    charge = await stripe_client.v1.charges.retrieve_async(intent["latest_charge"])
    assert (charge.amount_captured, charge.amount_refunded, charge.refunded) == (0, 0, False)
    with pytest.raises(stripe.InvalidRequestError) as late:
        await stripe_client.v1.payment_intents.capture_async(intent.id)
    assert late.value.code == "payment_intent_unexpected_state"
    await paused.deliver_webhooks()
    delivered = [e.type for e in receiver.events()]
    assert "payment_intent.canceled" in delivered and "charge.expired" in delivered
    assert "charge.refunded" not in delivered


async def test_expiry_is_noticed_when_next_read(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl, stripe_emulator_server: Any
) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1000,
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    # Move the clock without the sweep the control route does: the next read must still expire it.
    stripe_emulator_server.state.clock.advance(8 * 24 * 3600)
    read = await stripe_client.v1.payment_intents.retrieve_async(intent.id)
    assert read.status == "canceled" and read.cancellation_reason == "expired"


async def test_refund_failure_route(stripe_client: stripe.StripeClient, emulator_control: EmulatorControl) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    refund = await stripe_client.v1.refunds.create_async({"payment_intent": intent.id})
    failed = await emulator_control.fail_refund(refund.id)
    assert failed["status"] == "failed"
    charge = await stripe_client.v1.charges.retrieve_async(intent["latest_charge"])
    assert charge.amount_refunded == 0 and charge.refunded is False


async def test_events_are_stamped_with_the_endpoints_api_version(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl, receiver: Receiver
) -> None:
    # docs.stripe.com/webhooks/versioning: an endpoint gets events in its own version (default: the pinned one).
    await emulator_control.set_webhook_auto_delivery(False)
    pinned = await emulator_control.add_webhook_endpoint(receiver.url, SECRET)
    older = await emulator_control.add_webhook_endpoint(receiver.url, SECRET, api_version="2025-03-31.basil")
    assert (pinned.api_version, older.api_version) == ("2026-10-28.endive", "2025-03-31.basil")
    await stripe_client.v1.customers.create_async({"name": "Versioned"})
    await emulator_control.deliver_webhooks()
    assert sorted(e.api_version for e in receiver.events()) == ["2025-03-31.basil", "2026-10-28.endive"]
    listed = await stripe_client.v1.events.list_async({"limit": 1})
    assert listed.data[0].api_version == "2026-10-28.endive"
