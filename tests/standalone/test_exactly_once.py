"""Nothing is charged twice through Mantle's REST paths: repeated calls with an Idempotency-Key, Stripe outages
(a 500 before Stripe acted, a response lost after it acted) and the retries that follow them."""

from __future__ import annotations

from decimal import Decimal

from moqui_bridge.mantle import names
from moqui_bridge.mantle.rule_call import RuleCall
from tests.standalone.conftest import StandaloneWorld, flags_set

IN_DOUBT = "SgoInDoubt"
COMPLETED = "SgoCompleted"


async def _captured_payment(world: StandaloneWorld, amount: str = "90.00") -> str:
    payment_id = await world.new_payment(amount)
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("capture", payment_id)
    assert await world.status(payment_id) == "PmntDelivered"
    return payment_id


async def test_repeated_refund_with_the_same_idempotency_key_refunds_once(world: StandaloneWorld) -> None:
    payment_id = await _captured_payment(world)
    intent = await world.only_intent(payment_id)

    first = await world.gateway_call("refund", payment_id, Decimal("20.00"), idempotency_key="refund-order-1")
    repeat = await world.gateway_call("refund", payment_id, Decimal("20.00"), idempotency_key="refund-order-1")
    # The repeat is answered with what the first did: same gateway response, same refund Payment.
    assert repeat["paymentGatewayResponseId"] == first["paymentGatewayResponseId"]
    assert repeat["refundPaymentId"] == first["refundPaymentId"]
    assert [refund.amount for refund in await world.refunds(intent.id)] == [2000]
    payment = await world.payment(payment_id)
    assert [row["paymentId"] for row in payment["refundPayments"]] == [first["refundPaymentId"]]
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoCapture", "PgoRefund"]

    # Another key for the same amount is another refund: the key, not the amount, tells a repeat.
    second = await world.gateway_call("refund", payment_id, Decimal("20.00"), idempotency_key="refund-order-2")
    assert second["refundPaymentId"] != first["refundPaymentId"]
    assert sorted(refund.amount for refund in await world.refunds(intent.id)) == [2000, 2000]
    assert len((await world.payment(payment_id))["refundPayments"]) == 2
    assert await world.status(payment_id) == "PmntDelivered"


async def test_repeated_authorize_and_capture_with_an_idempotency_key_charge_once(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("35.00")

    for _ in range(2):
        await world.gateway_call("authorize", payment_id, idempotency_key="authorize-1")
        assert await world.status(payment_id) == "PmntAuthorized"
    intent = await world.only_intent(payment_id)
    assert intent.status == "requires_capture"

    captured = await world.gateway_call("capture", payment_id, idempotency_key="capture-1")
    assert await world.status(payment_id) == "PmntDelivered"
    before = await world.snapshot(payment_id)
    # The same request with the same key is answered with the first answer (request-level idempotency).
    assert await world.gateway_call("capture", payment_id, idempotency_key="capture-1") == captured
    assert await world.snapshot(payment_id) == before
    # A new capture request on the captured payment: answered as a capture that already happened (success, with the
    # PGR that recorded it), before Stripe is asked.
    status, answer = await world.integrator.request(
        "POST", f"/payments/{payment_id}/gateways/capture", idempotency_key="capture-2"
    )
    assert status == 200, answer
    assert answer["paymentGatewayResponseId"] == captured["paymentGatewayResponseId"]
    assert await world.snapshot(payment_id) == before
    intent = await world.only_intent(payment_id)
    assert (intent.status, intent.amount_received) == ("succeeded", 3500)
    assert len(await world.charges(intent.id)) == 1


async def test_stripe_outage_on_authorize_then_retry_charges_once(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("48.00")
    await world.emulator.add_fault("/v1/payment_intents", "error", method="POST", status=500)

    answer = await world.gateway_call("authorize", payment_id)
    assert flags_set(answer["paymentGatewayResponse"]) == {"resultError"}
    assert await world.status(payment_id) == "PmntPromised"
    assert [flags_set(row) for row in await world.responses(payment_id)] == [{"resultError"}]
    assert [row["operationStatusId"] for row in await world.journal(payment_id)] == [IN_DOUBT]
    assert await world.intents(payment_id) == []  # the 500 came before Stripe acted
    assert await world.emulator.faults() == []

    await world.gateway_call("authorize", payment_id)
    assert await world.status(payment_id) == "PmntAuthorized"
    intent = await world.only_intent(payment_id)
    assert intent.status == "requires_capture"
    journal = await world.journal(payment_id)
    # The retry replays the attempt left in doubt (same row, so the same key) rather than starting a new one.
    assert [(row["operationName"], row["attemptNum"]) for row in journal] == [("authorize", 0)]
    assert all(row["operationStatusId"] == COMPLETED for row in journal)

    await world.gateway_call("capture", payment_id)
    assert await world.status(payment_id) == "PmntDelivered"
    intent = await world.only_intent(payment_id)
    assert intent.amount_received == 4800
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoAuthorize", "PgoCapture"]


async def test_capture_whose_response_is_lost_is_not_captured_twice(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("61.00")
    await world.gateway_call("authorize", payment_id)
    intent = await world.only_intent(payment_id)
    # Stripe captures, then the connection drops before we hear so.
    await world.emulator.add_fault(f"/v1/payment_intents/{intent.id}/capture", "lose_response", method="POST")

    answer = await world.gateway_call("capture", payment_id)
    assert flags_set(answer["paymentGatewayResponse"]) == {"resultError"}
    assert await world.status(payment_id) == "PmntAuthorized"
    assert (await world.only_intent(payment_id)).status == "succeeded"

    await world.gateway_call("capture", payment_id)
    assert await world.status(payment_id) == "PmntDelivered"
    intent = await world.only_intent(payment_id)
    assert (intent.status, intent.amount_received) == ("succeeded", 6100)
    charges = await world.charges(intent.id)
    assert len(charges) == 1 and charges[0].amount_captured == 6100


async def test_stripe_outage_on_refund_then_retry_refunds_once(world: StandaloneWorld) -> None:
    payment_id = await _captured_payment(world, "40.00")
    intent = await world.only_intent(payment_id)
    await world.emulator.add_fault("/v1/refunds", "error", method="POST", status=500)

    answer = await world.gateway_call("refund", payment_id, Decimal("15.00"))
    # Nothing was refunded, so Mantle records no refund Payment.
    assert "refundPaymentId" not in answer
    assert await world.status(payment_id) == "PmntDelivered"
    payment = await world.payment(payment_id)
    assert payment["refundPayments"] == []
    assert flags_set(payment["paymentGatewayResponses"][-1]) == {"resultError"}
    assert await world.refunds(intent.id) == []

    retried = await world.gateway_call("refund", payment_id, Decimal("15.00"))
    assert retried["refundPaymentId"]
    assert [refund.amount for refund in await world.refunds(intent.id)] == [1500]
    refunds = (await world.payment(payment_id))["refundPayments"]
    assert [(row["paymentId"], row["amount"]) for row in refunds] == [(retried["refundPaymentId"], Decimal("15.00"))]


async def test_repeated_full_refund_with_the_same_key_answers_the_first_refund(world: StandaloneWorld) -> None:
    payment_id = await _captured_payment(world, "30.00")
    intent = await world.only_intent(payment_id)

    first = await world.gateway_call("refund", payment_id, Decimal("30.00"), idempotency_key="refund-all")
    try:
        repeat = await world.gateway_call("refund", payment_id, Decimal("30.00"), idempotency_key="refund-all")
    finally:
        # Whatever the answer, the money moved once.
        assert [refund.amount for refund in await world.refunds(intent.id)] == [3000]
    assert repeat["refundPaymentId"] == first["refundPaymentId"]


class _RuleRolledBack(Exception):
    """What ends a Mantle rule's transaction after the gateway answered (Moqui's own transaction failing later)."""


async def test_a_rule_that_rolls_back_after_the_gateway_answered_gets_the_same_refund_again(
    world: StandaloneWorld,
) -> None:
    payment_id = await _captured_payment(world)
    intent = await world.only_intent(payment_id)
    context = world.context
    refund = "stripe.StripePaymentServices.refund#Payment"
    parameters = {"paymentId": payment_id, "paymentGatewayConfigId": "StripeGateway", "amount": Decimal("15.00")}
    # The configured implementation writes its PGR in the rule's write transaction, begun once Stripe answered: the
    # refund happens at Stripe, then the rule's transaction rolls back and takes the PGR with it.
    call = RuleCall(context)
    first = await context.call_service(refund, parameters, transaction=call)
    assert first["paymentGatewayResponseId"]
    await call.roll_back(_RuleRolledBack())
    assert await world.operations(payment_id) == ["PgoAuthorize", "PgoCapture"]
    # The retry counts the same definitive refund PGRs (none kept), so it sends the same attempt: the journal
    # answers it and Stripe refunds nothing more.
    again = await context.call_service(refund, parameters)
    response = await world.entity.find_one(
        "mantle.account.method.PaymentGatewayResponse", {"paymentGatewayResponseId": again["paymentGatewayResponseId"]}
    )
    assert response is not None and response["resultSuccess"] == "Y" and response["amount"] == Decimal("15.00")
    assert [found.amount for found in await world.refunds(intent.id)] == [1500]
    journal = [row for row in await world.journal(payment_id) if row["operationName"] == "refund"]
    assert [(row["attemptNum"], row["operationStatusId"]) for row in journal] == [(0, COMPLETED)]


# Found by bench/soak.py (seed 7, sequence 183): a partial capture learnt from the capture pre-check's details call
# rather than from the capture's own answer must split the Payment as the capture's answer does.
async def test_a_partial_capture_whose_answer_was_lost_still_splits_the_payment(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("341.67")
    await world.gateway_call("authorize", payment_id)
    intent = await world.only_intent(payment_id)
    await world.emulator.add_fault(f"/v1/payment_intents/{intent.id}/capture", "lose_response", method="POST")

    lost = await world.gateway_call("capture", payment_id, Decimal("190.72"))
    assert flags_set(lost["paymentGatewayResponse"]) == {"resultError"}
    await world.gateway_call("capture", payment_id, Decimal("190.72"))

    payment = await world.payment(payment_id)
    assert (payment["statusId"], Decimal(str(payment["amount"]))) == ("PmntDelivered", Decimal("190.72"))
    charges = await world.charges(intent.id)
    assert len(charges) == 1 and charges[0].amount_captured == 19072


# Found by bench/soak.py (seed 2027, sequence 442): a release whose answer was lost, then Stripe's
# payment_intent.canceled, leaves the Payment Promised as Mantle's release does, never Void.
async def test_a_release_whose_answer_was_lost_leaves_the_payment_promised(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("46.83")
    await world.gateway_call("authorize", payment_id)
    intent = await world.only_intent(payment_id)
    await world.emulator.add_fault(f"/v1/payment_intents/{intent.id}/cancel", "lose_response", method="POST")

    await world.gateway_call("release", payment_id)
    assert (await world.responses(payment_id))[-1]["resultError"] == "Y"
    assert await world.status(payment_id) == "PmntAuthorized"
    assert (await world.only_intent(payment_id)).status == "canceled"
    # What the payment_intent.canceled webhook does: Mantle's details refresh (no REST path: in process).
    await world.context.call_service(names.GET_SINGLE_PAYMENT_GATEWAY_DETAILS, {"paymentId": payment_id})
    assert await world.status(payment_id) == "PmntPromised"
