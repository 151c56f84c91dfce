"""Issue 10 item 4, "pass outcomes on", standalone: the reconciler settles the standalone rules' in-doubt capture and
moves the local Payment by the local get#SinglePaymentGatewayDetails rule, before the integrator retries anything;
a settled refund moves nothing and is answered to the integrator's retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from service.app import APP_STATE
from service.maintenance import run_reconciler
from service.payment_services.reconcile import ReconcileReport
from service.payment_services.status_refresh import STATUS_REFRESH
from stripe_emulator.control import EmulatorControl
from tests.standalone.conftest import StandaloneWorld, flags_set, only, settings_overrides, standalone_world


@pytest.fixture
async def world(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[StandaloneWorld]:
    """The standalone app, with every in-doubt row the reconciler's at once (no retry runs in these tests)."""
    overrides = {**settings_overrides(stripe_emulator_url), "reconciler": {"min_age_seconds": 0}}
    async with standalone_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as running:
        yield running


async def _reconcile(world: StandaloneWorld) -> ReconcileReport:
    return await run_reconciler(world.app[APP_STATE])


async def test_a_settled_capture_moves_the_standalone_payment(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("33.00")
    await world.gateway_call("authorize", payment_id)
    intent = await world.only_intent(payment_id)
    await world.emulator.add_fault(f"/v1/payment_intents/{intent.id}/capture", "lose_response", method="POST")
    lost = await world.gateway_call("capture", payment_id)
    assert flags_set(lost["paymentGatewayResponse"]) == {"resultError"}
    assert await world.status(payment_id) == "PmntAuthorized"

    report = await _reconcile(world)

    assert (report.done, report.refreshed, report.refreshes_owed) == (1, 1, 0)
    assert await world.status(payment_id) == "PmntDelivered"
    # The refresh wrote a details response, not a capture: the attempt count is what it was.
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoCapture", "PgoTxDetails"]
    assert await world.entity.find(STATUS_REFRESH) == []
    charges = await world.charges(intent.id)
    assert [charge.amount_captured for charge in charges] == [3300]


async def test_a_settled_refund_moves_nothing_and_answers_the_retry(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("48.00")
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("capture", payment_id)
    intent = await world.only_intent(payment_id)
    await world.emulator.add_fault("/v1/refunds", "lose_response", method="POST")
    lost = await world.gateway_call("refund", payment_id, Decimal("8.00"))
    assert "refundPaymentId" not in lost
    before = await world.payment(payment_id)
    assert flags_set(before["paymentGatewayResponses"][-1]) == {"resultError"}

    report = await _reconcile(world)

    assert (report.done, report.refreshed, report.refreshes_owed) == (1, 0, 0)
    assert await world.payment(payment_id) == before
    assert await world.entity.find(STATUS_REFRESH) == []
    # The integrator's retry records the refund Stripe made when the answer was lost, and makes no other.
    retried = await world.gateway_call("refund", payment_id, Decimal("8.00"))
    refunds = await world.refunds(intent.id)
    assert [refund.amount for refund in refunds] == [800]
    refund_response = only([r for r in await world.responses(payment_id) if r["resultSuccess"] == "Y"], "PgoRefund")
    assert refund_response["subReference"] == refunds[0].id
    recorded = (await world.payment(payment_id))["refundPayments"]
    assert [(row["paymentId"], row["amount"]) for row in recorded] == [(retried["refundPaymentId"], Decimal("8.00"))]
