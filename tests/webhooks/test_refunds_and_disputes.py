"""charge.refunded / charge.refund.updated and charge.dispute.created."""

from __future__ import annotations

import json
from decimal import Decimal

from moqui_bridge.mantle import names
from tests.webhooks.conftest import API_KEY, DISPUTE, REFUND, WebhookWorld


async def _paid(world: WebhookWorld, amount: str = "10.00") -> tuple[str, str]:
    """A payment paid in the browser and recorded through the webhook: (paymentId, PaymentIntent id)."""
    payment_id = await world.add_payment(amount)
    minor = int(Decimal(amount) * 100)
    intent = await world.browser_payment(payment_id, amount_minor=minor, capture_method="automatic")
    await world.deliver()
    assert (await world.payment(payment_id))["statusId"] == "PmntDelivered"
    return payment_id, intent.id


async def test_a_dashboard_refund_is_recorded_once(world: WebhookWorld) -> None:
    payment_id, intent_id = await _paid(world)
    refund = await world.stripe_client.v1.refunds.create_async({"payment_intent": intent_id, "amount": 300})

    delivered = await world.deliver()
    refunded = next(d for d in delivered if d.event_type == "charge.refunded")
    await world.emulator.redeliver_event(refunded.event_id)
    await world.deliver()

    pgrs = await world.pgrs(payment_id, "PgoRefund")
    assert len(pgrs) == 1
    assert pgrs[0]["resultSuccess"] == "Y" and pgrs[0]["amount"] == Decimal("3.00")
    # As for every PGR of the payment: referenceNum names the PaymentIntent, subReference this refund.
    assert pgrs[0]["referenceNum"] == intent_id and pgrs[0]["subReference"] == refund.id
    rows = await world.entity.find(REFUND, {"paymentId": payment_id})
    assert len(rows) == 1
    assert rows[0]["refundId"] == refund.id and rows[0]["originEnumId"] == "SroStripe"
    assert rows[0]["paymentGatewayResponseId"] == pgrs[0]["paymentGatewayResponseId"]
    refund_payments = await world.refund_payments(payment_id)
    assert len(refund_payments) == 1
    assert refund_payments[0]["amount"] == Decimal("3.00") and refund_payments[0]["statusId"] == "PmntDelivered"
    assert refund_payments[0]["paymentTypeEnumId"] == "PtRefund"
    assert refund_payments[0]["paymentRefNum"] == refund.id
    assert rows[0]["refundPaymentId"] == refund_payments[0]["paymentId"]
    # The original payment keeps its status: Mantle records refunds as payments of their own.
    assert (await world.payment(payment_id))["statusId"] == "PmntDelivered"


async def test_two_equal_dashboard_refunds_are_two_refunds(world: WebhookWorld) -> None:
    payment_id, intent_id = await _paid(world)
    await world.stripe_client.v1.refunds.create_async({"payment_intent": intent_id, "amount": 200})
    await world.stripe_client.v1.refunds.create_async({"payment_intent": intent_id, "amount": 200})

    await world.deliver("newest_first")

    assert len(await world.pgrs(payment_id, "PgoRefund")) == 2
    assert [row["amount"] for row in await world.refund_payments(payment_id)] == [Decimal("2.00"), Decimal("2.00")]


async def test_our_own_refund_is_not_recorded_again_when_its_webhook_arrives(world: WebhookWorld) -> None:
    payment_id, _ = await _paid(world)
    result = await world.call(names.REFUND_SINGLE_PAYMENT, paymentId=payment_id, amount=Decimal("4.00"))
    assert result["refundPaymentId"]
    pgrs_before = await world.pgrs(payment_id)

    await world.deliver()

    assert await world.pgrs(payment_id) == pgrs_before
    assert [row["paymentId"] for row in await world.refund_payments(payment_id)] == [result["refundPaymentId"]]
    rows = await world.entity.find(REFUND, {"paymentId": payment_id})
    assert [row["originEnumId"] for row in rows] == ["SroService"]
    refunded = await world.event_rows(eventType="charge.refunded")
    assert [row["processingStatusId"] for row in refunded] == ["SweProcessed"]
    assert "already recorded" in refunded[0]["processingMessage"]


async def test_a_dispute_is_recorded_and_readable(world: WebhookWorld) -> None:
    payment_id, intent_id = await _paid(world)
    intent = await world.stripe_client.v1.payment_intents.retrieve_async(intent_id)
    dispute = await world.emulator.create_dispute(str(intent.latest_charge), reason="fraudulent")

    delivered = await world.deliver()
    created = next(d for d in delivered if d.event_type == "charge.dispute.created")
    await world.emulator.redeliver_event(created.event_id)

    rows = await world.entity.find(DISPUTE, {"paymentId": payment_id})
    assert len(rows) == 1
    assert rows[0]["disputeId"] == dispute["id"] and rows[0]["paymentIntentId"] == intent_id
    assert rows[0]["amount"] == Decimal("10.00") and rows[0]["amountUomId"] == "USD"
    assert rows[0]["reason"] == "fraudulent" and rows[0]["disputeStatus"] == "needs_response"

    response = await world.client.post(
        f"/rpc/json?api_key={API_KEY}",
        data=json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "stripe.StripeWebhookServices.get#PaymentDisputes",
                "params": {"paymentId": payment_id},
            }
        ),
        headers={"Content-Type": "application/json"},
    )
    answer = await response.json()
    assert [d["disputeId"] for d in answer["result"]["disputes"]] == [dispute["id"]]
