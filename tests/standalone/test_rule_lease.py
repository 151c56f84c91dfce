"""Standalone Mantle rule calls hold no database connection while Stripe is waited for (issue 11 item 1).

A rule call serializes on its record with a row lease (service/mantle_rule_lease.py); its reads take connections of
their own; the gateway implementation records its PGR in the rule's write unit, begun once Stripe answered, with the
rule's own writes on that answer (moqui_bridge/mantle/rule_call.py). Stripe is slowed with the emulator's latency
setting (every `/v1/` request waits, as a far-away Stripe does: stripe_emulator/limits.py), so calls overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.liveness import ProcessLiveness
from moqui_bridge.mantle import names
from service.mantle_rule_lease import RULE_LEASE
from stripe_emulator.control import EmulatorControl
from tests.fixtures.connections_in_use import sample_connections
from tests.standalone.conftest import JOURNAL, StandaloneWorld, flags_set, settings_overrides, standalone_world

STRIPE_LATENCY = 1.0
CONCURRENT_CALLS = 20
SMALL_POOL = 6


def _with(overrides: Mapping[str, Any], section: str, **values: Any) -> dict[str, Any]:
    return {**overrides, section: {**overrides.get(section, {}), **values}}


@pytest.fixture
async def small_pool_world(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[StandaloneWorld]:
    """The standalone app with a pool of six connections."""
    overrides = _with(settings_overrides(stripe_emulator_url), "database", pool_max_size=SMALL_POOL)
    async with standalone_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as running:
        yield running


@pytest.fixture
async def impatient_world(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[StandaloneWorld]:
    """The standalone app with a one-second request deadline."""
    overrides = _with(settings_overrides(stripe_emulator_url), "server", request_deadline_seconds=1.0)
    async with standalone_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as running:
        yield running


async def _journaled(entity: EntityFacade, operation: str, payment_ids: set[str]) -> int:
    rows = await entity.find(JOURNAL, {"operationName": operation})
    return len({row["paymentId"] for row in rows} & payment_ids)


async def test_rule_calls_waiting_for_a_slow_stripe_hold_no_database_connection(
    small_pool_world: StandaloneWorld, entity_database_dsn: str
) -> None:
    world = small_pool_world
    entity = world.entity
    payment_ids = [await world.new_payment(f"{10 + n}.00") for n in range(CONCURRENT_CALLS)]
    await world.emulator.set_latency(STRIPE_LATENCY)
    calls = asyncio.gather(*(world.gateway_call("authorize", payment_id) for payment_id in payment_ids))
    # The gateway API journals each attempt before it calls Stripe: once all are there, all wait for Stripe.
    for _ in range(300):
        if await _journaled(entity, "authorize", set(payment_ids)) == CONCURRENT_CALLS:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    sampled = await sample_connections(entity, entity_database_dsn, RULE_LEASE)
    answers = await calls

    assert sampled.busy == [0] * 4
    assert sampled.checked_out == [0] * 4
    # The payments were leased all along, by rows alone.
    assert sampled.leased == [CONCURRENT_CALLS] * 4
    assert all(answer["paymentGatewayResponse"]["resultSuccess"] == "Y" for answer in answers)
    assert [await world.status(payment_id) for payment_id in payment_ids] == ["PmntAuthorized"] * CONCURRENT_CALLS
    assert await entity.find(RULE_LEASE, {}) == []


async def test_two_captures_of_one_payment_at_once_capture_once(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("40.00")
    await world.gateway_call("authorize", payment_id)
    intent = await world.only_intent(payment_id)
    await world.emulator.set_latency(0.3)

    first, second = await asyncio.gather(
        world.gateway_call("capture", payment_id), world.gateway_call("capture", payment_id)
    )

    # One after the other: the first captured; the second found the Payment captured and answered its capture PGR.
    assert first["paymentGatewayResponse"]["resultSuccess"] == "Y"
    assert second["paymentGatewayResponse"]["resultSuccess"] == "Y"
    assert first["paymentGatewayResponseId"] == second["paymentGatewayResponseId"]
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoCapture"]
    assert await _events(world, "charge.captured", intent.id) == 1
    journal = [row["operationName"] for row in await world.journal(payment_id)]
    assert journal.count("capture") == 1
    assert await world.status(payment_id) == "PmntDelivered"


async def test_two_refunds_of_one_payment_at_once_refund_twice(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("30.00")
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("capture", payment_id)
    intent = await world.only_intent(payment_id)
    await world.emulator.set_latency(0.3)

    first, second = await asyncio.gather(
        world.gateway_call("refund", payment_id, Decimal("10.00")),
        world.gateway_call("refund", payment_id, Decimal("10.00")),
    )

    # One after the other, so the second counted the first's PGR and sent a new attempt: two refunds, as asked.
    # (Side by side, both would have counted none and sent the same attempt, answered once.)
    assert first["refundPaymentId"] != second["refundPaymentId"]
    assert [refund.amount for refund in await world.refunds(intent.id)] == [1000, 1000]
    journal = [(row["operationName"], row["attemptNum"]) for row in await world.journal(payment_id)]
    assert sorted(attempt for operation, attempt in journal if operation == "refund") == [0, 1]
    refunds = (await world.payment(payment_id))["refundPayments"]
    assert sorted(row["amount"] for row in refunds) == [Decimal("10.00"), Decimal("10.00")]


async def _events(world: StandaloneWorld, event_type: str, intent_id: str) -> int:
    """Stripe's events of one type about a PaymentIntent (its log: exactly-once shows here)."""
    page = await world.stripe_client.v1.events.list_async({"type": event_type, "limit": 100})
    found = 0
    async for event in page.auto_paging_iter():
        subject = event.to_dict()["data"]["object"]
        if intent_id in (subject.get("id"), subject.get("payment_intent")):
            found += 1
    return found


# A trigger on the PGR table that, once, terminates its own backend when the PGR of `operation` for the payment is
# inserted: the rule's write unit dies after Stripe answered and before it commits, as in a crash or a database
# restart at that moment. The sequence (not transactional) makes it fire once.
_TERMINATE_ONCE = """
CREATE SEQUENCE {name}_fired;
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.PAYMENT_ID = '{payment_id}' AND NEW.PAYMENT_OPERATION_ENUM_ID = '{operation}'
     AND nextval('{name}_fired') = 1 THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();
"""


async def _terminate_once_on_pgr(entity: EntityFacade, payment_id: str, operation: str) -> None:
    table = entity.definition(names.GATEWAY_RESPONSE).table_name
    name = f"terminate_once_{operation.lower()}_{payment_id}"
    async with entity.connection() as connection:
        await connection.execute(
            _TERMINATE_ONCE.format(name=name, payment_id=payment_id, operation=operation, table=table)
        )


async def test_an_authorize_whose_write_unit_dies_after_stripe_answered_authorizes_once(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("25.00")
    await _terminate_once_on_pgr(world.entity, payment_id, "PgoAuthorize")

    status, _ = await world.integrator.request("POST", f"/payments/{payment_id}/gateways/authorize")

    assert status == 500
    # Stripe authorized; nothing of its answer was kept in Mantle's tables.
    intent = await world.only_intent(payment_id)
    assert intent.status == "requires_capture"
    assert await world.operations(payment_id) == []
    assert await world.status(payment_id) == "PmntPromised"

    retried = await world.gateway_call("authorize", payment_id)

    assert retried["paymentGatewayResponse"]["resultSuccess"] == "Y"
    assert retried["paymentGatewayResponse"]["referenceNum"] == intent.id
    assert await world.operations(payment_id) == ["PgoAuthorize"]
    assert await world.status(payment_id) == "PmntAuthorized"
    # The retry sent the same attempt; the journal answered it and Stripe was not asked again.
    assert (await world.only_intent(payment_id)).id == intent.id
    assert await _events(world, "payment_intent.created", intent.id) == 1
    assert await _events(world, "payment_intent.amount_capturable_updated", intent.id) == 1
    journal = [(row["operationName"], row["attemptNum"]) for row in await world.journal(payment_id)]
    assert journal == [("authorize", 0)]


async def test_a_refund_whose_write_unit_dies_after_stripe_answered_refunds_once(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("30.00")
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("capture", payment_id)
    intent = await world.only_intent(payment_id)
    await _terminate_once_on_pgr(world.entity, payment_id, "PgoRefund")

    status, _ = await world.integrator.request(
        "POST", f"/payments/{payment_id}/gateways/refund", {"amount": Decimal("12.00")}
    )

    assert status == 500
    assert [refund.amount for refund in await world.refunds(intent.id)] == [1200]
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoCapture"]
    assert (await world.payment(payment_id))["refundPayments"] == []

    retried = await world.gateway_call("refund", payment_id, Decimal("12.00"))

    assert [refund.amount for refund in await world.refunds(intent.id)] == [1200]
    assert await _events(world, "charge.refunded", intent.id) == 1
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoCapture", "PgoRefund"]
    refund_response = (await world.responses(payment_id))[-1]
    assert refund_response["paymentGatewayResponseId"] == retried["paymentGatewayResponseId"]
    assert flags_set(refund_response) == {"resultSuccess"} and refund_response["amount"] == Decimal("12.00")
    refunds = (await world.payment(payment_id))["refundPayments"]
    assert [(row["paymentId"], row["amount"], row["statusId"]) for row in refunds] == [
        (retried["refundPaymentId"], Decimal("12.00"), "PmntDelivered")
    ]
    journal = [(row["attemptNum"], row["operationStatusId"]) for row in await world.journal(payment_id)]
    assert [attempt for attempt, _ in journal].count(0) == 3  # authorize, capture, refund: one attempt each


async def _hold_lease(entity: EntityFacade, payment_id: str, expires: datetime, holder_key: int = 0) -> None:
    await entity.store(
        RULE_LEASE,
        {
            "recordKind": "payment",
            "recordId": payment_id,
            "leaseToken": "holder-that-died",
            "leaseExpires": expires,
            "holderKey": holder_key,
        },
    )


def _from_now(seconds: float) -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=seconds)


async def test_a_dead_holders_rule_lease_is_taken_over(world: StandaloneWorld) -> None:
    entity = world.entity
    expired, orphaned = await world.new_payment("11.00"), await world.new_payment("12.00")
    # A holder without a liveness key died mid-call: its lease outlived the holder's deadline.
    await _hold_lease(entity, expired, _from_now(-1))
    # A process killed with SIGKILL holds no liveness lock any more: its unexpired lease is free at once.
    await _hold_lease(entity, orphaned, _from_now(300), holder_key=ProcessLiveness(entity.pool).key)

    for payment_id in (expired, orphaned):
        answer = await world.gateway_call("authorize", payment_id)
        assert answer["paymentGatewayResponse"]["resultSuccess"] == "Y"
        assert await world.status(payment_id) == "PmntAuthorized"
        assert await entity.find(RULE_LEASE, {"recordId": payment_id}) == []


async def test_a_live_holders_rule_lease_is_waited_for_then_refused_with_409(impatient_world: StandaloneWorld) -> None:
    world = impatient_world
    payment_id = await world.new_payment("13.00")
    holder = ProcessLiveness(world.entity.pool)  # another live process, as far as PostgreSQL can tell
    await holder.start()
    try:
        await _hold_lease(world.entity, payment_id, _from_now(300), holder_key=holder.key)
        message = await world.integrator.refused("POST", f"/payments/{payment_id}/gateways/authorize", status=409)
        assert "retry it unchanged" in message
        # Nothing was done meanwhile, and the lease is still the holder's.
        assert await world.journal(payment_id) == []
        [lease] = await world.entity.find(RULE_LEASE, {"recordId": payment_id})
        assert lease["leaseToken"] == "holder-that-died"
    finally:
        await holder.stop()
    # Free again: the next call is let in (its own one-second deadline is too short for Stripe to matter here).
    status, answer = await world.integrator.request("POST", f"/payments/{payment_id}/gateways/authorize")
    assert status != 409, answer
    assert await world.entity.find(RULE_LEASE, {"recordId": payment_id}) == []
