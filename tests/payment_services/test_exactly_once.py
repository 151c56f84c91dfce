"""Exactly once: repeated calls, lost responses, outages, timeouts, races and crashes never charge twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from service.payment_services.intent_link import IntentLink, record_intent
from tests.payment_services.conftest import CONFIG_ID, PAYMENT, TIMEOUT_SECONDS, Harness


async def test_repeated_authorize_answers_the_same_pgr_and_charges_once(harness: Harness) -> None:
    payment_id = await harness.add_payment("25.00")
    first = await harness.ok("authorize#Payment", payment_id)
    second = await harness.ok("authorize#Payment", payment_id)
    assert first == second
    intent = await harness.only_intent(payment_id)
    assert len(await harness.charges(intent.id)) == 1
    assert len(await harness.pgrs(payment_id)) == 1


async def test_repeated_capture_and_refund_act_once(harness: Harness) -> None:
    payment_id = await harness.add_payment("40.00")
    await harness.ok("authorize#Payment", payment_id)
    first = await harness.ok("capture#Payment", payment_id, Decimal("30.00"))
    # Moqui timed out and rolled back, then called again: the same answer, no second capture.
    assert await harness.ok("capture#Payment", payment_id, Decimal("30.00")) == first
    assert (await harness.only_intent(payment_id)).amount_received == 3000

    refund = await harness.ok("refund#Payment", payment_id, Decimal("10.00"))
    # No refund Payment was recorded by Mantle (its transaction rolled back): the repeat is the same refund.
    assert await harness.ok("refund#Payment", payment_id, Decimal("10.00")) == refund
    intent = await harness.only_intent(payment_id)
    assert [r.amount for r in await harness.refunds(intent.id)] == [1000]
    # An integrator's Idempotency-Key makes a second equal refund explicit.
    keyed = await harness.ok("refund#Payment", payment_id, Decimal("10.00"), headers={"Idempotency-Key": "refund-2"})
    assert keyed != refund
    assert (
        await harness.ok("refund#Payment", payment_id, Decimal("10.00"), headers={"Idempotency-Key": "refund-2"})
        == keyed
    )
    assert sorted(r.amount for r in await harness.refunds(intent.id)) == [1000, 1000]


async def test_lost_response_is_replayed_not_charged_twice(harness: Harness) -> None:
    payment_id = await harness.add_payment("19.99")
    # Stripe creates the PaymentIntent, then the connection drops; the SDK retries with the same key.
    await harness.emulator.add_fault("/v1/payment_intents", "lose_response", method="POST")
    result = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(result["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    intent = await harness.only_intent(payment_id)
    assert len(await harness.charges(intent.id)) == 1


async def test_stripe_outage_gives_an_error_pgr_and_the_retry_charges_once(harness: Harness) -> None:
    payment_id = await harness.add_payment("11.00")
    # Both tries of the SDK (max_network_retries=1) meet a 500.
    await harness.emulator.add_fault("/v1/payment_intents", "error", status=500, count=2, method="POST")
    failed = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(failed["paymentGatewayResponseId"])
    assert [pgr[name] for name in ("resultSuccess", "resultDeclined", "resultError", "resultNsf")] == [
        "N",
        "N",
        "Y",
        "N",
    ]
    assert pgr["responseCode"] == "api_error" and len(pgr["reasonMessage"]) <= 255
    assert [row["operationStatusId"] for row in await harness.journal(payment_id)] == ["SgoInDoubt"]
    assert (await harness.payment(payment_id))["statusId"] == "PmntPromised"
    # Mantle changed nothing; the next authorize repeats the same key and goes through.
    retried = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(retried["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    journal = await harness.journal(payment_id)
    assert len(journal) == 1 and journal[0]["operationStatusId"] == "SgoCompleted"
    intent = await harness.only_intent(payment_id)
    assert len(await harness.charges(intent.id)) == 1


async def test_timeouts_leave_the_attempt_in_doubt_and_the_retry_finds_the_same_charge(harness: Harness) -> None:
    payment_id = await harness.add_payment("12.00")
    # Stripe works slower than both tries wait (the SDK's retry waits on the first request holding the key),
    # but does the work: the first try created the PaymentIntent.
    hang = 3 * TIMEOUT_SECONDS
    await harness.emulator.add_fault("/v1/payment_intents", "hang", hang_seconds=hang, count=2, method="POST")
    failed = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(failed["paymentGatewayResponseId"])
    # The first try timed out; the retry met the first still holding the key (409) or timed out too.
    assert pgr["resultError"] == "Y" and pgr["responseCode"] in ("api_connection_error", "api_error")
    assert [row["operationStatusId"] for row in await harness.journal(payment_id)] == ["SgoInDoubt"]
    await asyncio.sleep(hang)  # let the slow requests finish at the emulator
    retried = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(retried["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    intent = await harness.only_intent(payment_id)
    assert len(await harness.charges(intent.id)) == 1


async def test_rate_limits_are_waited_out(harness: Harness) -> None:
    payment_id = await harness.add_payment("13.00")
    await harness.emulator.add_fault("/v1/payment_intents", "error", status=429, count=2, method="POST")
    result = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(result["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    assert len(await harness.charges((await harness.only_intent(payment_id)).id)) == 1


async def test_concurrent_capture_and_release_one_wins(harness: Harness) -> None:
    payment_id = await harness.add_payment("90.00")
    await harness.ok("authorize#Payment", payment_id)
    capture, release = await asyncio.gather(
        harness.call("capture#Payment", payment_id, Decimal("90.00")),
        harness.call("release#Payment", payment_id),
    )
    intent = await harness.only_intent(payment_id)
    if intent.status == "succeeded":
        assert "result" in capture and "refund it instead" in release["error"]["message"]
        winner = capture["result"]
    else:
        assert intent.status == "canceled"
        assert "result" in release and "was released" in capture["error"]["message"]
        winner = release["result"]
    assert (await harness.pgr(winner["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    assert len(await harness.pgrs(payment_id)) == 2  # the authorization and the winner; the loser wrote nothing


async def test_concurrent_duplicate_authorizations_charge_once(harness: Harness) -> None:
    payment_id = await harness.add_payment("14.00")
    answers = await asyncio.gather(*(harness.ok("authorize#Payment", payment_id) for _ in range(4)))
    assert len({answer["paymentGatewayResponseId"] for answer in answers}) == 1
    assert len(await harness.charges((await harness.only_intent(payment_id)).id)) == 1


async def _crash_after_stripe_answered(harness: Harness, payment_id: str) -> None:
    """Put the database back to what a crash between Stripe's answer and our commit leaves: the journal row
    SgoStarted (committed before the call), and no PGR, link or refund row (that transaction never committed)."""
    journal = await harness.journal(payment_id)
    last = journal[-1]
    for entity_name, key in (
        (
            "mantle.account.method.PaymentGatewayResponse",
            {"paymentGatewayResponseId": last["paymentGatewayResponseId"]},
        ),
    ):
        assert await harness.entity.delete(entity_name, key)
    for refund in await harness.entity.find("stripe.StripeRefund", {"operationId": last["operationId"]}):
        await harness.entity.delete("stripe.StripeRefund", {"refundId": refund["refundId"]})
    if last["paymentOperationEnumId"] == "PgoAuthorize" and last["paymentIntentId"] is None:
        await harness.entity.delete("stripe.StripePaymentIntent", {"paymentIntentId": last["stripeObjectId"]})
    await harness.entity.update(
        "stripe.StripeGatewayOperation",
        {"operationId": last["operationId"]},
        {
            "operationStatusId": "SgoStarted",
            "paymentGatewayResponseId": None,
            "stripeObjectId": None,
            "completedDate": None,
        },
    )


async def test_crash_after_authorize_replays_the_key(harness: Harness) -> None:
    payment_id = await harness.add_payment("55.00")
    await harness.ok("authorize#Payment", payment_id)
    await _crash_after_stripe_answered(harness, payment_id)
    assert await harness.pgrs(payment_id) == []
    result = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(result["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    intent = await harness.only_intent(payment_id)
    assert len(await harness.charges(intent.id)) == 1
    journal = await harness.journal(payment_id)
    assert [(row["attemptNum"], row["operationStatusId"]) for row in journal] == [(0, "SgoCompleted")]
    assert journal[0]["stripeObjectId"] == intent.id


async def test_crash_after_refund_replays_the_key(harness: Harness) -> None:
    payment_id = await harness.add_payment("60.00")
    await harness.ok("authorizeAndCapture#Payment", payment_id)
    await harness.ok("refund#Payment", payment_id, Decimal("20.00"))
    await _crash_after_stripe_answered(harness, payment_id)
    result = await harness.ok("refund#Payment", payment_id, Decimal("20.00"))
    assert (await harness.pgr(result["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    intent = await harness.only_intent(payment_id)
    assert [r.amount for r in await harness.refunds(intent.id)] == [2000]


async def test_rate_limit_that_does_not_stop_gives_an_error_pgr(harness: Harness) -> None:
    payment_id = await harness.add_payment("13.00")
    # More 429s than our back-off waits out (the first try and three waits).
    await harness.emulator.add_fault("/v1/payment_intents", "error", status=429, count=4, method="POST")
    failed = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(failed["paymentGatewayResponseId"])
    assert (pgr["resultError"], pgr["resultDeclined"], pgr["responseCode"]) == ("Y", "N", "rate_limit_error")
    assert await harness.intents(payment_id) == []
    retried = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(retried["paymentGatewayResponseId"]))["resultSuccess"] == "Y"
    assert len(await harness.charges((await harness.only_intent(payment_id)).id)) == 1


@pytest.mark.usefixtures("search_indexed_at_once")  # authorize finds the checkout's PaymentIntent by search
async def test_paymentintent_authorized_by_the_checkout_page_is_found_and_not_charged_again(harness: Harness) -> None:
    """Nobody told us of the checkout page's PaymentIntent (no link, no paymentRefNum): Stripe's search finds it."""
    payment_id = await harness.add_payment("64.00")
    checkout = await harness.gateway.client.v1.payment_intents.create_async(
        {
            "amount": 6400,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
            "metadata": {"paymentId": payment_id, "paymentGatewayConfigId": "StripeGateway"},
        }
    )
    result = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(result["paymentGatewayResponseId"])
    assert pgr["resultSuccess"] == "Y" and pgr["referenceNum"] == checkout.id
    assert (await harness.only_intent(payment_id)).id == checkout.id
    assert len(await harness.charges(checkout.id)) == 1
    assert await harness.journal(payment_id) == []  # nothing was sent to Stripe but reads


@pytest.mark.parametrize(("refunded", "captured"), [("50.00", "50.00"), ("30.00", "50.00")])
async def test_refund_whose_answer_was_lost_is_recorded_by_the_retry(
    harness: Harness, refunded: str, captured: str
) -> None:
    """Stripe refunded but both answers were lost: the retry replays the journal row before any "left" check."""
    payment_id = await harness.add_payment(captured)
    await harness.ok("authorizeAndCapture#Payment", payment_id)
    # The refund is made, then both tries of the SDK (the retry repeats the key) lose Stripe's answer.
    await harness.emulator.add_fault("/v1/refunds", "lose_response", count=2, method="POST")
    failed = await harness.ok("refund#Payment", payment_id, Decimal(refunded))
    assert (await harness.pgr(failed["paymentGatewayResponseId"]))["resultError"] == "Y"
    refund_rows = [row for row in await harness.journal(payment_id) if row["paymentOperationEnumId"] == "PgoRefund"]
    assert [row["operationStatusId"] for row in refund_rows] == ["SgoInDoubt"]
    intent = await harness.only_intent(payment_id)
    assert [r.amount for r in await harness.refunds(intent.id)] == [Decimal(refunded) * 100]

    # Moqui saw no success, so it repeats the same call.
    retried = await harness.ok("refund#Payment", payment_id, Decimal(refunded))
    pgr = await harness.pgr(retried["paymentGatewayResponseId"])
    assert (pgr["resultSuccess"], pgr["amount"]) == ("Y", Decimal(refunded))
    stripe_refunds = await harness.refunds(intent.id)
    assert len(stripe_refunds) == 1 and pgr["subReference"] == stripe_refunds[0].id
    rows = await harness.entity.find("stripe.StripeRefund", {"paymentId": payment_id})
    assert [(row["refundId"], row["amount"], row["originEnumId"]) for row in rows] == [
        (stripe_refunds[0].id, Decimal(refunded), "SroService")
    ]
    refund_rows = [row for row in await harness.journal(payment_id) if row["paymentOperationEnumId"] == "PgoRefund"]
    assert [(row["attemptNum"], row["operationStatusId"]) for row in refund_rows] == [(0, "SgoCompleted")]
    assert refund_rows[0]["stripeObjectId"] == stripe_refunds[0].id


@pytest.mark.parametrize("known_by", ["webhook_link", "payment_ref_num"])
async def test_lost_create_known_another_way_is_never_replayed_after_a_release(harness: Harness, known_by: str) -> None:
    """A create whose answers were lost, then linked by a webhook (or paymentRefNum): after a release, the next
    authorize makes a new PaymentIntent instead of replaying the stale create key."""
    payment_id = await harness.add_payment("33.00")
    await harness.emulator.add_fault("/v1/payment_intents", "lose_response", count=2, method="POST")
    failed = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(failed["paymentGatewayResponseId"]))["resultError"] == "Y"
    assert [row["operationStatusId"] for row in await harness.journal(payment_id)] == ["SgoInDoubt"]
    first = await harness.only_intent(payment_id)
    assert first.status == "requires_capture"
    if known_by == "webhook_link":
        # What payment_intent.amount_capturable_updated does: link the PaymentIntent to its payment.
        await record_intent(
            harness.entity,
            IntentLink(first.id, payment_id, CONFIG_ID, None, None, "manual", first.status, Decimal("33.00"), "USD"),
        )
    else:
        await harness.entity.update(PAYMENT, {"paymentId": payment_id}, {"paymentRefNum": first.id})

    authorized = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(authorized["paymentGatewayResponseId"]))["referenceNum"] == first.id
    journal = await harness.journal(payment_id)
    assert [(row["operationStatusId"], row["stripeObjectId"]) for row in journal] == [("SgoCompleted", first.id)]
    await harness.set_status(payment_id, "PmntAuthorized")
    await harness.ok("release#Payment", payment_id)
    await harness.set_status(payment_id, "PmntPromised")

    again = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(again["paymentGatewayResponseId"])
    assert pgr["resultSuccess"] == "Y" and pgr["referenceNum"] != first.id
    by_id = {intent.id: intent for intent in await harness.intents(payment_id)}
    assert set(by_id) == {first.id, pgr["referenceNum"]}
    assert by_id[first.id].status == "canceled" and by_id[pgr["referenceNum"]].status == "requires_capture"
    links = {
        row["paymentIntentId"]: row["intentStatus"]
        for row in await harness.entity.find("stripe.StripePaymentIntent", {"paymentId": payment_id})
    }
    assert links == {first.id: "canceled", pgr["referenceNum"]: "requires_capture"}


async def test_authorize_and_capture_keeps_its_capture_apart_from_an_unfinished_confirm(harness: Harness) -> None:
    """The capture after an authorization has its own keys: it never replays a confirm's key on the capture endpoint."""
    payment_id = await harness.add_payment("45.00", card="pm_card_visa_chargeDeclined")
    # A checkout page made the PaymentIntent and Mantle knows it by paymentRefNum; nobody confirmed it yet.
    made = await harness.gateway.client.v1.payment_intents.create_async(
        {
            "amount": 4500,
            "currency": "usd",
            "capture_method": "manual",
            "metadata": {"paymentId": payment_id, "paymentGatewayConfigId": CONFIG_ID},
        }
    )
    await harness.entity.update(PAYMENT, {"paymentId": payment_id}, {"paymentRefNum": made.id})
    # Our confirm is declined at Stripe, but later than both tries wait: the confirm's journal row stays in doubt.
    hang = 3 * TIMEOUT_SECONDS
    await harness.emulator.add_fault(
        f"/v1/payment_intents/{made.id}/confirm", "hang", hang_seconds=hang, count=2, method="POST"
    )
    failed = await harness.ok("authorizeAndCapture#Payment", payment_id)
    assert (await harness.pgr(failed["paymentGatewayResponseId"]))["resultError"] == "Y"
    assert [row["operationStatusId"] for row in await harness.journal(payment_id)] == ["SgoInDoubt"]
    await asyncio.sleep(hang)  # let the slow confirms finish (declined) at the emulator
    # The shopper then authorizes it on the checkout page with another card.
    await harness.gateway.client.v1.payment_intents.confirm_async(
        made.id, {"payment_method": "pm_card_visa", "capture_method": "manual"}
    )

    captured = await harness.ok("authorizeAndCapture#Payment", payment_id)
    pgr = await harness.pgr(captured["paymentGatewayResponseId"])
    assert (pgr["resultSuccess"], pgr["paymentOperationEnumId"], pgr["referenceNum"]) == (
        "Y",
        "PgoAuthAndCapture",
        made.id,
    )
    assert (await harness.only_intent(payment_id)).amount_received == 4500
    capture_rows = [row for row in await harness.journal(payment_id) if row["operationStatusId"] == "SgoCompleted"]
    assert [(row["paymentOperationEnumId"], row["idempotencyKey"]) for row in capture_rows] == [
        ("PgoAuthAndCapture", f"moqui-stripe/{CONFIG_ID}/{payment_id}/authorizeAndCapture-capture/{made.id}/0")
    ]
