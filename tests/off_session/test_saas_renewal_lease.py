"""The lease of a customer's renewals (service/saas_example/renewals.py, a named lease): the button and the scheduled
run at the same moment open one period, not two, and a renewal waiting for a slow Stripe holds no database connection
(nor do the Mantle rule calls it makes: their own leases, service/mantle_rule_lease.py).

Stripe is slowed with the emulator's latency setting (every `/v1/` request waits, as a far-away Stripe does:
stripe_emulator/limits.py), so the two renewals really overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from moqui_bridge.mantle import names
from service.app import APP_STATE
from service.named_lease import NAMED_LEASE
from service.saas_example.renewals import renew_customer, subscription_of
from tests.fixtures.connections_in_use import sample_connections
from tests.off_session.saas_world import ADA, SaasWorld, saas_world

STRIPE_LATENCY = 1.5
JOURNAL = "stripe.StripeGatewayOperation"
LEASE_NAME = f"saas-renewal:{ADA}"


@pytest.fixture
async def world(entity_database_dsn: str) -> AsyncIterator[SaasWorld]:
    async with saas_world(entity_database_dsn) as running:
        yield running


async def _due_subscriber(world: SaasWorld) -> None:
    """Ada paid her first month with a saved card, and her second month is due."""
    card = await world.save_card("4242424242424242")
    await world.first_month(card)
    subscription = await subscription_of(world.context, ADA)
    assert subscription is not None
    await world.advance_to(subscription.next_due)


async def test_the_button_and_the_scheduled_run_at_once_open_one_period(world: SaasWorld) -> None:
    await _due_subscriber(world)
    await world.emulator.set_latency(0.3)
    mantle = world.stack.app[APP_STATE].require_runtime().require_mantle()

    # What the account page's "Renew now" does, and the scheduled run, at the same moment.
    button, scheduled = await asyncio.gather(
        renew_customer(world.context, mantle, ADA, world.clock.now(), retry_declined=True),
        world.scheduled_run(),
    )

    renewals = [renewal for renewal in [button, *scheduled] if renewal is not None]
    assert [(renewal.period, renewal.status_id) for renewal in renewals] == [(2, names.PMNT_DELIVERED)]
    subscription = await subscription_of(world.context, ADA)
    assert subscription is not None and subscription.period == 2
    assert await world.entity.find(NAMED_LEASE, {"leaseName": LEASE_NAME}) == []


async def test_a_renewal_waiting_for_a_slow_stripe_holds_no_database_connection(
    world: SaasWorld, entity_database_dsn: str
) -> None:
    await _due_subscriber(world)
    # Stripe's events wait (their deliveries would take leases and connections of their own meanwhile).
    await world.emulator.set_webhook_auto_delivery(False)
    for _ in range(300):
        if not await world.entity.find(NAMED_LEASE, {}):
            break
        await asyncio.sleep(0.02)
    orders_before = {str(order["orderId"]) for order in await world.entity.find(names.ORDER_HEADER, {})}
    await world.emulator.set_latency(STRIPE_LATENCY)

    renewing = asyncio.create_task(world.scheduled_run())
    # The renewal's order and payment exist before place#Order charges the card (at Stripe's pace).
    payments: list[dict[str, object]] = []
    for _ in range(300):
        new = [o for o in await world.entity.find(names.ORDER_HEADER, {}) if str(o["orderId"]) not in orders_before]
        payments = await world.entity.find(names.PAYMENT, {"orderId": str(new[0]["orderId"])}) if new else []
        if payments:
            break
        await asyncio.sleep(0.02)
    assert payments, "the renewal made no payment"
    payment_id = str(payments[0]["paymentId"])
    # place#Order's gateway operation has journaled its charge: from now on it waits for Stripe.
    for _ in range(300):
        if await world.entity.find(JOURNAL, {"paymentId": payment_id}):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.15)
    # Counted by name: a webhook delivery still under way may lease a row of the same entity.
    sampled = await sample_connections(
        world.entity, entity_database_dsn, NAMED_LEASE, lease_key=("leaseName", LEASE_NAME)
    )
    [renewal] = await asyncio.wait_for(renewing, timeout=30)

    assert renewal.status_id == names.PMNT_DELIVERED
    assert sampled.busy == [0] * 4
    assert sampled.checked_out == [0] * 4
    # The customer's renewals were leased all along, by a row alone.
    assert sampled.leased == [1] * 4
    assert await world.entity.find(NAMED_LEASE, {"leaseName": LEASE_NAME}) == []
