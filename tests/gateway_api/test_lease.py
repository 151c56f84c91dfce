"""The per-payment lease (docs/payment-services.md): operations on one (client, payment) run one after another in
any number of app instances, no database connection is held while Stripe is called, and a dead holder's lease
expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.liveness import ProcessLiveness
from service.payment_services.payment_lease import PAYMENT_LEASE
from stripe_emulator.control import EmulatorControl
from tests.gateway_api.conftest import (
    CLIENT_A,
    GatewayWorld,
    gateway_settings,
    next_payment_id,
    running_world,
)


@pytest.fixture
async def second_instance(
    world: GatewayWorld, entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[GatewayWorld]:
    """Another app instance (another process or host, as far as the database can tell) on the same database."""
    overrides = gateway_settings(stripe_emulator_url)
    async with running_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as other:
        yield other


async def test_concurrent_refunds_of_one_payment_across_two_instances_each_act_once(
    world: GatewayWorld, second_instance: GatewayWorld
) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id, "40.00", operation="authorizeAndCapture")).body["paymentIntentId"]
    # Eight attempts, each sent twice (once to each instance) at the same moment: eight refunds, never sixteen.
    calls = [
        instance.on_intent("refund", payment_id, intent, attempt=attempt, amount="5.00")
        for attempt in range(8)
        for instance in (world, second_instance)
    ]
    answers = await asyncio.gather(*calls)
    assert all(answer.flags == {"resultSuccess"} for answer in answers), [answer.body for answer in answers]
    assert sorted(answer.body["replayed"] for answer in answers) == ["N"] * 8 + ["Y"] * 8
    assert len(await world.refunds(intent)) == 8
    assert await world.entity.find(PAYMENT_LEASE, {"clientName": CLIENT_A, "paymentId": payment_id}) == []


async def test_concurrent_capture_and_release_one_wins(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id)).body["paymentIntentId"]
    capture, release = await asyncio.gather(
        world.on_intent("capture", payment_id, intent), world.on_intent("release", payment_id, intent)
    )
    # Whichever ran second found Stripe refusing it: exactly one of them acted.
    assert sorted([capture.status, release.status]) == [200, 400]
    assert (await world.intents(payment_id))[0].status in ("succeeded", "canceled")


async def _connections_in_use(entity: EntityFacade) -> int:
    """Pooled connections checked out, less the one the process's liveness lock keeps for good (liveness.py)."""
    pool = entity.pool
    return pool.get_size() - pool.get_idle_size() - 1


async def test_no_connection_is_held_while_stripe_is_called(world: GatewayWorld) -> None:
    await world.emulator.add_fault("/v1/payment_intents", "hang", count=5, method="POST", hang_seconds=1.0)
    calls = asyncio.gather(*(world.authorize(next_payment_id()) for _ in range(5)))
    await asyncio.sleep(0.5)  # every call is now waiting for Stripe
    in_use = await _connections_in_use(world.entity)
    answers = await calls
    assert all(answer.flags == {"resultSuccess"} for answer in answers)
    assert in_use == 0


async def _hold_lease(entity: EntityFacade, payment_id: str, expires: datetime, holder_key: int = 0) -> None:
    await entity.store(
        PAYMENT_LEASE,
        {
            "clientName": CLIENT_A,
            "paymentId": payment_id,
            "leaseToken": "holder-that-died",
            "leaseExpires": expires,
            "holderKey": holder_key,
        },
    )


async def test_a_dead_holders_lease_expires(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    # Its holder was killed mid-call: the lease outlived its holder's deadline, so the next request takes it over.
    await _hold_lease(world.entity, payment_id, datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1))
    assert (await world.authorize(payment_id)).flags == {"resultSuccess"}


async def test_a_lease_whose_holder_process_is_gone_is_taken_over_at_once(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    # A process killed with SIGKILL holds no liveness lock any more: its unexpired lease is free at once.
    unheld_key = ProcessLiveness(world.entity.pool).key
    await _hold_lease(world.entity, payment_id, _in_five_minutes(), holder_key=unheld_key)
    assert (await world.authorize(payment_id)).flags == {"resultSuccess"}


async def test_a_lease_whose_holder_process_lives_is_waited_for(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    holder = ProcessLiveness(world.entity.pool)  # another live process, as far as PostgreSQL can tell
    await holder.start()
    try:
        await _hold_lease(world.entity, payment_id, _in_five_minutes(), holder_key=holder.key)
        assert (await world.authorize(payment_id)).status == 409
    finally:
        await holder.stop()
    assert (await world.authorize(payment_id)).flags == {"resultSuccess"}


def _in_five_minutes() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=5)


async def test_a_live_lease_is_waited_for_until_the_deadline_then_409(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    await _hold_lease(world.entity, payment_id, datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=5))
    busy = await world.authorize(payment_id)
    assert busy.status == 409
    assert busy.error.strip() == (
        f"attempt 0 of authorize for payment {payment_id} is still being worked on by another request of payment "
        f"{payment_id}; retry it unchanged"
    )
    assert await world.journal(payment_id) == []


async def test_a_holder_that_died_after_journaling_is_replayed_by_the_next_request(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    # The first request's write reached Stripe, then its process died before recording the answer.
    await world.emulator.add_fault("/v1/payment_intents", "lose_response", method="POST")
    await world.authorize(payment_id)
    [row] = await world.journal(payment_id)
    await world.entity.update(
        "stripe.StripeGatewayOperation", {"operationId": row["operationId"]}, {"operationStatusId": "SgoStarted"}
    )
    retried = await world.authorize(payment_id)
    assert retried.flags == {"resultSuccess"}
    assert len(await world.intents(payment_id)) == 1
