"""Happy paths end to end: authorize, capture (full and partial), release, refund, authorize-and-capture."""

from __future__ import annotations

from decimal import Decimal

from tests.payment_services.conftest import CONFIG_ID, Harness


async def test_authorize_then_capture_in_full(harness: Harness) -> None:
    payment_id = await harness.add_payment("100.00")
    result = await harness.ok("authorize#Payment", payment_id)
    pgr = await harness.pgr(result["paymentGatewayResponseId"])
    intent = await harness.only_intent(payment_id)
    assert intent.status == "requires_capture" and intent.capture_method == "manual"
    assert intent.amount == 10000 and intent.currency == "usd"
    assert intent.metadata.to_dict() == {
        "paymentId": payment_id,
        "orderId": f"ORD{payment_id[3:]}",
        "paymentGatewayConfigId": CONFIG_ID,
    }
    assert pgr["paymentOperationEnumId"] == "PgoAuthorize"
    assert (pgr["resultSuccess"], pgr["resultDeclined"], pgr["resultError"]) == ("Y", "N", "N")
    assert pgr["referenceNum"] == intent.id and pgr["altReference"] == intent.latest_charge
    assert pgr["amount"] == Decimal("100.00") and pgr["amountUomId"] == "USD"
    assert pgr["paymentMethodId"] and pgr["paymentGatewayConfigId"] == CONFIG_ID
    assert pgr["transactionStatus"] == "requires_capture" and pgr["approvalCode"] and pgr["cvResult"] == "pass"
    assert pgr["scoreResult"] is not None and pgr["transactionDate"] is not None
    assert (await harness.payment(payment_id))["statusId"] == "PmntPromised"  # Mantle's to change, not ours

    await harness.set_status(payment_id, "PmntAuthorized")
    captured = await harness.ok("capture#Payment", payment_id, Decimal("100.0000"))
    capture_pgr = await harness.pgr(captured["paymentGatewayResponseId"])
    assert capture_pgr["paymentOperationEnumId"] == "PgoCapture" and capture_pgr["resultSuccess"] == "Y"
    assert capture_pgr["amount"] == Decimal("100.00")
    intent = await harness.only_intent(payment_id)
    assert intent.status == "succeeded" and intent.amount_received == 10000
    assert (await harness.payment(payment_id))["statusId"] == "PmntAuthorized"


async def test_capture_defaults_to_the_payment_amount(harness: Harness) -> None:
    payment_id = await harness.add_payment("42.50")
    await harness.ok("authorize#Payment", payment_id)
    captured = await harness.ok("capture#Payment", payment_id, None)
    assert (await harness.pgr(captured["paymentGatewayResponseId"]))["amount"] == Decimal("42.50")
    assert (await harness.only_intent(payment_id)).amount_received == 4250


async def test_partial_capture_then_two_equal_refunds_then_over_refund_refused(harness: Harness) -> None:
    payment_id = await harness.add_payment("100.00")
    await harness.ok("authorize#Payment", payment_id)
    captured = await harness.ok("capture#Payment", payment_id, Decimal("60.0000"))
    assert (await harness.pgr(captured["paymentGatewayResponseId"]))["amount"] == Decimal("60.00")
    intent = await harness.only_intent(payment_id)
    assert intent.amount_received == 6000 and intent.status == "succeeded"
    await harness.set_status(payment_id, "PmntDelivered")

    first = await harness.ok("refund#Payment", payment_id, Decimal("25.0000"))
    await harness.record_mantle_refund(payment_id, Decimal("25.00"))
    second = await harness.ok("refund#Payment", payment_id, Decimal("25.0000"))
    await harness.record_mantle_refund(payment_id, Decimal("25.00"))
    assert first["paymentGatewayResponseId"] != second["paymentGatewayResponseId"]
    refund_pgrs = [await harness.pgr(r["paymentGatewayResponseId"]) for r in (first, second)]
    for pgr in refund_pgrs:
        assert pgr["paymentOperationEnumId"] == "PgoRefund" and pgr["resultSuccess"] == "Y"
        assert pgr["amount"] == Decimal("25.00") and pgr["referenceNum"] == intent.id
    refunds = await harness.refunds(intent.id)
    assert sorted(r.amount for r in refunds) == [2500, 2500]
    assert {pgr["subReference"] for pgr in refund_pgrs} == {r.id for r in refunds}

    before = len(await harness.pgrs(payment_id))
    message = await harness.error("refund#Payment", payment_id, Decimal("10.01"))
    assert "only 10.00 USD" in message and payment_id in message
    assert len(await harness.pgrs(payment_id)) == before
    assert len(await harness.refunds(intent.id)) == 2
    # What is left can still be refunded, and then nothing more.
    last = await harness.ok("refund#Payment", payment_id, None)
    assert (await harness.pgr(last["paymentGatewayResponseId"]))["amount"] == Decimal("10.00")
    await harness.record_mantle_refund(payment_id, Decimal("10.00"))
    assert "refunded in full" in await harness.error("refund#Payment", payment_id, Decimal("1.00"))
    assert (await harness.payment(payment_id))["statusId"] == "PmntDelivered"


async def test_authorize_then_release(harness: Harness) -> None:
    payment_id = await harness.add_payment("30.00")
    await harness.ok("authorize#Payment", payment_id)
    await harness.set_status(payment_id, "PmntAuthorized")
    released = await harness.ok("release#Payment", payment_id)
    pgr = await harness.pgr(released["paymentGatewayResponseId"])
    assert pgr["paymentOperationEnumId"] == "PgoRelease" and pgr["resultSuccess"] == "Y"
    assert pgr["transactionStatus"] == "canceled"
    intent = await harness.only_intent(payment_id)
    assert intent.status == "canceled"
    # Released twice: the same answer, no second cancel.
    again = await harness.ok("release#Payment", payment_id)
    assert again == released
    # Nothing left to capture.
    message = await harness.error("capture#Payment", payment_id, None)
    assert "was released" in message
    assert (await harness.payment(payment_id))["statusId"] == "PmntAuthorized"
    # Mantle puts a released payment back to Promised; authorizing again makes a new PaymentIntent.
    await harness.set_status(payment_id, "PmntPromised")
    await harness.ok("authorize#Payment", payment_id)
    statuses = sorted(pi.status for pi in await harness.intents(payment_id))
    assert statuses == ["canceled", "requires_capture"]


async def test_authorize_and_capture_then_refund(harness: Harness) -> None:
    payment_id = await harness.add_payment("80.00")
    result = await harness.ok("authorizeAndCapture#Payment", payment_id)
    pgr = await harness.pgr(result["paymentGatewayResponseId"])
    assert pgr["paymentOperationEnumId"] == "PgoAuthAndCapture" and pgr["resultSuccess"] == "Y"
    intent = await harness.only_intent(payment_id)
    assert intent.status == "succeeded" and intent.capture_method == "automatic" and intent.amount_received == 8000
    await harness.set_status(payment_id, "PmntDelivered")
    refunded = await harness.ok("refund#Payment", payment_id, None)
    refund_pgr = await harness.pgr(refunded["paymentGatewayResponseId"])
    assert refund_pgr["resultSuccess"] == "Y" and refund_pgr["amount"] == Decimal("80.00")
    assert [r.amount for r in await harness.refunds(intent.id)] == [8000]
    assert (await harness.payment(payment_id))["statusId"] == "PmntDelivered"
