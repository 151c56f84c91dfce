"""Idempotency-Key on /rpc/json: the same rules, errors in the JSON-RPC envelope."""

from __future__ import annotations

from decimal import Decimal

from moqui_bridge.mantle import names
from tests.idempotent_requests.conftest import IdempotencyWorld
from tests.standalone.conftest import CUSTOMER, VENDOR

ORDER = {"customerPartyId": CUSTOMER, "vendorPartyId": VENDOR, "currencyUomId": "USD", "grandTotal": Decimal("12.00")}


async def test_a_repeated_call_is_replayed_and_another_call_refused(idempotency: IdempotencyWorld) -> None:
    first = await idempotency.first.rpc(names.CREATE_ORDER, ORDER, key="rpc-order")
    repeat = await idempotency.first.rpc(names.CREATE_ORDER, ORDER, key="rpc-order")
    assert (first.status, first.replayed) == (200, None)
    assert (repeat.status, repeat.replayed, repeat.body, repeat.content_type) == (
        200,
        "true",
        first.body,
        first.content_type,
    )
    order_id = first.json()["result"]["orderId"]
    assert [row["orderId"] for row in await idempotency.world.entity.find(names.ORDER_HEADER)] == [order_id]

    other = await idempotency.first.rpc(
        names.CREATE_ORDER, {**ORDER, "grandTotal": Decimal("13.00")}, key="rpc-order", call_id=7
    )
    assert other.status == 400
    assert other.json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {
            "code": 400,
            "message": "Idempotency-Key rpc-order was used with a different request; use a new key for a new request",
        },
    }
    # The same key over REST is another request too (another path and body).
    rest = await idempotency.first.send("POST", "/orders", ORDER, key="rpc-order")
    assert rest.status == 400 and rest.json()["errorCode"] == 400


async def test_a_service_error_is_not_kept_so_the_retry_runs(idempotency: IdempotencyWorld) -> None:
    world = idempotency.world
    payment_id = await world.new_payment("20.00")
    await world.gateway_call("authorize", payment_id)
    params = {"paymentId": payment_id, "amount": Decimal("20.00")}

    failed = await idempotency.first.rpc(names.REFUND_SINGLE_PAYMENT, params, key="rpc-refund")
    # Moqui's JSON-RPC answers a service error with HTTP 500: not kept.
    assert failed.status == 500 and failed.json()["error"]["code"] == 500
    assert await idempotency.kept_rows() == []

    await world.gateway_call("capture", payment_id)
    done = await idempotency.first.rpc(names.REFUND_SINGLE_PAYMENT, params, key="rpc-refund")
    repeat = await idempotency.first.rpc(names.REFUND_SINGLE_PAYMENT, params, key="rpc-refund")
    assert (done.status, done.replayed) == (200, None)
    assert (repeat.status, repeat.replayed, repeat.body) == (200, "true", done.body)
    assert done.json()["result"]["refundPaymentId"]
    intent = await world.only_intent(payment_id)
    assert [refund.amount for refund in await world.refunds(intent.id)] == [2000]


async def test_an_unauthenticated_call_gets_the_dispatchers_own_answer(idempotency: IdempotencyWorld) -> None:
    answer = await idempotency.anonymous.rpc(names.CREATE_ORDER, ORDER, key="rpc-anon")
    assert (answer.status, answer.replayed) == (403, None)
    assert answer.json()["error"] == {
        "code": 403,
        "message": f"User must be logged in to call service {names.CREATE_ORDER}",
    }
    assert await idempotency.kept_rows() == []
