"""Issue 10 item 4: an in-doubt attempt older than the safe age is settled by reading Stripe, never by replaying its
key (Stripe forgets a key after 24 hours and then runs it as a new request: docs.stripe.com/api/idempotent_requests,
modelled by the emulator on its clock), both when the caller retries it and by the background reconciler."""

from __future__ import annotations

from service import metrics
from tests.gateway_api.conftest import GatewayWorld, next_payment_id
from tests.reconciler.conftest import HOUR, ReconcilerWorld

TRIPWIRE = 50
REFUNDS = "/v1/refunds"
INTENTS = "/v1/payment_intents"


def _reconciled(outcome: str) -> float:
    """The reconciler's counter at /metrics (one registry per process: compared before and after)."""
    prefix = f'moqui_stripe_reconciled_attempts_total{{outcome="{outcome}"}} '
    lines = [line for line in metrics.render().decode().splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


async def _captured(world: GatewayWorld, payment_id: str) -> str:
    paid = await world.authorize(payment_id, operation="authorizeAndCapture")
    assert paid.flags == {"resultSuccess"}
    return str(paid.body["paymentIntentId"])


async def _lost_refund(world: GatewayWorld, payment_id: str, intent: str) -> dict[str, object]:
    """A refund Stripe makes whose answer never arrives: the attempt stays in doubt; its journal row."""
    await world.emulator.add_fault(REFUNDS, "lose_response", method="POST")
    lost = await world.on_intent("refund", payment_id, intent, amount="10.00")
    assert lost.flags == {"resultError"}
    row = (await world.journal(payment_id))[-1]
    assert row["operationStatusId"] == "SgoInDoubt"
    return row


async def _tripwire(world: GatewayWorld, path: str) -> None:
    """Any write to `path` from now on fails and is counted down by the emulator: the test checks none arrives."""
    await world.emulator.add_fault(path, "error", method="POST", status=500, count=TRIPWIRE)


async def _tripwire_untouched(world: GatewayWorld, path: str) -> bool:
    remaining = [fault["remaining"] for fault in await world.emulator.faults() if fault["path_prefix"] == path]
    return remaining == [TRIPWIRE]


async def test_a_25_hour_old_in_doubt_refund_is_settled_by_the_reconciler_without_a_second_refund(
    shared_clock_world: ReconcilerWorld,
) -> None:
    world = shared_clock_world.gateway
    payment_id = next_payment_id()
    intent = await _captured(world, payment_id)
    row = await _lost_refund(world, payment_id, intent)
    await shared_clock_world.later(25 * HOUR)
    await _tripwire(world, REFUNDS)
    done_before = _reconciled("done")

    report = await shared_clock_world.reconcile()

    assert (report.examined, report.done, report.not_done, report.unknown) == (1, 1, 0, 0)
    assert await _tripwire_untouched(world, REFUNDS)
    [refund] = await world.refunds(intent)
    assert refund.metadata is not None
    assert str(refund.metadata.to_dict()["moquiStripeOperation"]).endswith(f"/{row['operationId']}")
    # The caller's retry of the attempt gets what Stripe did, from the journal.
    retried = await world.on_intent("refund", payment_id, intent, amount="10.00")
    assert retried.flags == {"resultSuccess"} and retried.body["replayed"] == "Y"
    assert retried.pgr["subReference"] == refund.id
    assert _reconciled("done") == done_before + 1


async def test_a_25_hour_old_in_doubt_refund_retried_by_its_caller_is_answered_from_stripe(
    shared_clock_world: ReconcilerWorld,
) -> None:
    world = shared_clock_world.gateway
    payment_id = next_payment_id()
    intent = await _captured(world, payment_id)
    await _lost_refund(world, payment_id, intent)
    await shared_clock_world.later(25 * HOUR)
    await _tripwire(world, REFUNDS)

    retried = await world.on_intent("refund", payment_id, intent, amount="10.00")

    assert retried.flags == {"resultSuccess"}
    [refund] = await world.refunds(intent)
    assert retried.pgr["subReference"] == refund.id and retried.pgr["amount"] == "10.00"
    assert await _tripwire_untouched(world, REFUNDS)


async def test_an_old_in_doubt_create_is_found_by_listing(shared_clock_world: ReconcilerWorld) -> None:
    world = shared_clock_world.gateway
    payment_id = next_payment_id()
    await world.emulator.add_fault(INTENTS, "lose_response", method="POST")
    assert (await world.authorize(payment_id)).flags == {"resultError"}
    await shared_clock_world.later(25 * HOUR)
    await _tripwire(world, INTENTS)

    retried = await world.authorize(payment_id)

    [intent] = await world.intents(payment_id)
    assert retried.flags == {"resultSuccess"} and retried.body["paymentIntentId"] == intent.id
    assert await _tripwire_untouched(world, INTENTS)
    # A list, not the Search API (which lags and is rate-limited).
    assert await world.emulator.search_request_count() == 0


async def test_an_old_in_doubt_create_stripe_never_made_frees_the_identity(
    shared_clock_world: ReconcilerWorld,
) -> None:
    world = shared_clock_world.gateway
    payment_id = next_payment_id()
    # Stripe answers 500 before acting: the outcome is unknown to us, and nothing was made.
    await world.emulator.add_fault(INTENTS, "error", method="POST", status=500)
    assert (await world.authorize(payment_id)).flags == {"resultError"}
    await shared_clock_world.later(25 * HOUR)

    report = await shared_clock_world.reconcile()

    assert (report.examined, report.done, report.not_done, report.unknown) == (1, 0, 1, 0)
    assert await world.journal(payment_id) == []
    # The caller's retry is a new attempt with a new key: one PaymentIntent.
    assert (await world.authorize(payment_id)).flags == {"resultSuccess"}
    assert len(await world.intents(payment_id)) == 1


async def test_a_young_in_doubt_refund_is_replayed_with_its_key(shared_clock_world: ReconcilerWorld) -> None:
    world = shared_clock_world.gateway
    payment_id = next_payment_id()
    intent = await _captured(world, payment_id)
    await _lost_refund(world, payment_id, intent)
    await shared_clock_world.later(2 * HOUR)
    keyed = await world.idempotent_requests()

    report = await shared_clock_world.reconcile()

    assert (report.examined, report.done) == (1, 1)
    # Stripe answered the replay from its key: no new keyed request, one refund.
    assert await world.idempotent_requests() == keyed
    assert len(await world.refunds(intent)) == 1


async def test_rows_younger_than_the_minimum_age_are_left_to_their_caller(shared_clock_world: ReconcilerWorld) -> None:
    world = shared_clock_world.gateway
    payment_id = next_payment_id()
    intent = await _captured(world, payment_id)
    await _lost_refund(world, payment_id, intent)

    report = await shared_clock_world.reconcile()

    assert report.examined == 0
    assert (await world.journal(payment_id))[-1]["operationStatusId"] == "SgoInDoubt"
