"""A capture whose answer was lost: every retry gets the same kind of answer (success, with the PGR that recorded
the capture), whether Stripe's webhook recorded the capture before the retry came or the retry found it captured
itself (issue 12, item 13). Stripe is asked to capture once."""

from __future__ import annotations

import pytest

from moqui_bridge.mantle import names
from tests.webhooks.conftest import WebhookWorld


@pytest.mark.parametrize("webhook_first", [True, False], ids=["webhook-first", "retry-first"])
async def test_a_capture_whose_answer_was_lost_answers_every_retry_alike(
    world: WebhookWorld, webhook_first: bool
) -> None:
    payment_id = await world.add_payment("25.00")
    await world.call(names.AUTHORIZE_SINGLE_PAYMENT, paymentId=payment_id)
    await world.deliver()
    intent_id = str((await world.payment(payment_id))["paymentRefNum"])
    # Stripe captures, then the connection drops before we hear so.
    await world.emulator.add_fault(f"/v1/payment_intents/{intent_id}/capture", "lose_response", method="POST")
    lost = await world.call(names.CAPTURE_SINGLE_PAYMENT, paymentId=payment_id)
    [lost_pgr] = await world.pgrs(payment_id, "PgoCapture")
    assert lost["paymentGatewayResponseId"] == lost_pgr["paymentGatewayResponseId"]
    assert lost_pgr["resultError"] == "Y"
    assert (await world.payment(payment_id))["statusId"] == "PmntAuthorized"
    if webhook_first:
        await world.deliver()
        assert (await world.payment(payment_id))["statusId"] == "PmntDelivered"

    retries = [await world.call(names.CAPTURE_SINGLE_PAYMENT, paymentId=payment_id) for _ in range(3)]

    assert (await world.payment(payment_id))["statusId"] == "PmntDelivered"
    recorded = {answer["paymentGatewayResponseId"] for answer in retries}
    assert len(recorded) == 1 and None not in recorded
    [recording] = [pgr for pgr in await world.pgrs(payment_id) if pgr["paymentGatewayResponseId"] in recorded]
    assert (recording["resultSuccess"], recording["amount"]) == ("Y", 25)
    assert all(
        answer["messages"] == [f"Payment {payment_id} was already captured in the gateway"] for answer in retries
    )
    intent = await world.stripe_client.v1.payment_intents.retrieve_async(intent_id)
    assert (intent.status, intent.amount_received) == ("succeeded", 2500)
    charges = await world.stripe_client.v1.charges.list_async({"payment_intent": intent_id})
    assert [charge.amount_captured for charge in charges.data] == [2500]
