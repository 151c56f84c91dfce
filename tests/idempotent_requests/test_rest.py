"""Idempotency-Key on Mantle's REST paths: replay, conflicts, per-caller scope, concurrency, what is not kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from moqui_bridge.mantle import names
from moqui_bridge.web import moqui_json
from service.idempotent_requests import owner_lock_key, request_fingerprint
from tests.idempotent_requests.conftest import ENTITY, IdempotencyWorld
from tests.standalone.conftest import CUSTOMER, REST, VENDOR, StandaloneWorld


def order_body(total: str = "25.00") -> dict[str, Any]:
    """A POST /orders body: an open order with one part."""
    return {"customerPartyId": CUSTOMER, "vendorPartyId": VENDOR, "currencyUomId": "USD", "grandTotal": Decimal(total)}


async def order_ids(world: StandaloneWorld) -> list[str]:
    """Every order in the database."""
    return [str(row["orderId"]) for row in await world.entity.find(names.ORDER_HEADER, order_by=["orderId"])]


async def captured_payment(world: StandaloneWorld, amount: str) -> str:
    """A payment authorized and captured through Mantle's REST paths (no keys)."""
    payment_id = await world.new_payment(amount)
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("capture", payment_id)
    return payment_id


def utc_now() -> datetime:
    """Now as stored (naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


async def test_a_repeat_is_answered_byte_for_byte_and_marked_as_replayed(idempotency: IdempotencyWorld) -> None:
    first = await idempotency.first.send("POST", "/orders", order_body(), key="order-1")
    repeat = await idempotency.first.send("POST", "/orders", order_body(), key="order-1")

    assert first.status == 200 and first.replayed is None
    assert (repeat.status, repeat.replayed) == (200, "true")
    assert repeat.body == first.body and repeat.content_type == first.content_type
    assert await order_ids(idempotency.world) == [first.json()["orderId"]]
    [row] = await idempotency.kept_rows()
    assert (row["principalName"], row["idempotencyKey"], row["requestStatusId"]) == (
        "integrator",
        "order-1",
        "SirCompleted",
    )
    assert (row["responseStatus"], row["responseBody"]) == (200, first.body)


async def test_a_refused_answer_is_kept_and_replayed_too(idempotency: IdempotencyWorld) -> None:
    # A 4xx is an answer (as at Stripe): the repeat gets it again even though the request would now succeed.
    body = order_body()
    del body["vendorPartyId"]
    first = await idempotency.first.send("POST", "/orders", body, key="bad-order")
    repeat = await idempotency.first.send("POST", "/orders", body, key="bad-order")
    assert first.status == 400 and set(first.json()) == {"errorCode", "errors"}
    assert (repeat.status, repeat.replayed, repeat.body) == (400, "true", first.body)
    assert await order_ids(idempotency.world) == []


async def test_the_same_key_with_another_request_is_refused(idempotency: IdempotencyWorld) -> None:
    first = await idempotency.first.send("POST", "/orders", order_body("25.00"), key="order-2")
    other_body = await idempotency.first.send("POST", "/orders", order_body("26.00"), key="order-2")
    other_path = await idempotency.first.send("POST", "/parties/paymentMethods", order_body("25.00"), key="order-2")
    other_query = await idempotency.first.send("POST", "/orders?note=x", order_body("25.00"), key="order-2")

    for refused in (other_body, other_path, other_query):
        assert (refused.status, refused.replayed) == (400, None)
        answer = refused.json()
        assert answer["errorCode"] == 400 and set(answer) == {"errorCode", "errors"}
        assert (
            answer["errors"]
            == "Idempotency-Key order-2 was used with a different request; use a new key for a new request"
        )
    assert await order_ids(idempotency.world) == [first.json()["orderId"]]
    # The first answer is still the one kept.
    repeat = await idempotency.first.send("POST", "/orders", order_body("25.00"), key="order-2")
    assert (repeat.replayed, repeat.body) == ("true", first.body)


async def test_keys_are_scoped_per_caller(idempotency: IdempotencyWorld) -> None:
    mine = await idempotency.first.send("POST", "/orders", order_body("25.00"), key="shared-key")
    # Another caller's request under the same key is its own: run, not replayed, not refused, even with another body.
    theirs = await idempotency.second.send("POST", "/orders", order_body("31.00"), key="shared-key")
    assert (mine.status, theirs.status) == (200, 200)
    assert mine.replayed is None and theirs.replayed is None
    assert mine.json()["orderId"] != theirs.json()["orderId"]
    assert sorted(await order_ids(idempotency.world)) == sorted([mine.json()["orderId"], theirs.json()["orderId"]])
    rows = await idempotency.kept_rows()
    assert sorted(row["principalName"] for row in rows) == ["integrator", "second"]


async def test_concurrent_requests_with_one_key_run_once(idempotency: IdempotencyWorld) -> None:
    world = idempotency.world
    payment_id = await captured_payment(world, "50.00")
    intent = await world.only_intent(payment_id)
    # Stripe is slow to refund, so the second request arrives while the first is still running.
    await world.emulator.add_fault("/v1/refunds", "hang", method="POST", hang_seconds=1.0)

    path = f"/payments/{payment_id}/gateways/refund"
    body = {"amount": Decimal("50.00")}
    answers = await asyncio.gather(
        idempotency.first.send("POST", path, body, key="refund-race"),
        idempotency.first.send("POST", path, body, key="refund-race"),
    )

    assert sorted(answer.status for answer in answers) == [200, 409]
    done = next(answer for answer in answers if answer.status == 200)
    busy = next(answer for answer in answers if answer.status == 409)
    assert busy.json() == {
        "errorCode": 409,
        "errors": "A request with Idempotency-Key refund-race is still in progress; retry once it has completed",
    }
    assert [refund.amount for refund in await world.refunds(intent.id)] == [5000]
    assert len((await world.payment(payment_id))["refundPayments"]) == 1
    # Once the first has finished, the retry gets its answer.
    retry = await idempotency.first.send("POST", path, body, key="refund-race")
    assert (retry.status, retry.replayed, retry.body) == (200, "true", done.body)


async def test_a_server_error_is_not_kept_so_the_retry_runs(idempotency: IdempotencyWorld) -> None:
    world = idempotency.world
    payment_id = await world.new_payment("40.00")
    await world.gateway_call("authorize", payment_id)
    # An array body makes Moqui's REST answer a service error with 500; nothing is captured yet, so refund fails.
    path = f"/payments/{payment_id}/gateways/refund"
    body = [{"amount": Decimal("40.00")}]
    failed = await idempotency.first.send("POST", path, body, key="refund-after-capture")
    assert failed.status == 500 and failed.json()["errorCode"] == 500
    assert await idempotency.kept_rows() == []

    await world.gateway_call("capture", payment_id)
    retried = await idempotency.first.send("POST", path, body, key="refund-after-capture")
    assert (retried.status, retried.replayed) == (200, None)
    [result] = retried.json()
    assert result["refundPaymentId"]
    assert [refund.amount for refund in await world.refunds((await world.only_intent(payment_id)).id)] == [4000]
    assert [row["responseStatus"] for row in await idempotency.kept_rows()] == [200]


async def test_without_a_key_nothing_changes(idempotency: IdempotencyWorld) -> None:
    first = await idempotency.first.send("POST", "/orders", order_body())
    second = await idempotency.first.send("POST", "/orders", order_body())
    assert (first.status, second.status) == (200, 200)
    assert first.replayed is None and second.replayed is None
    assert first.json()["orderId"] != second.json()["orderId"]
    blank = await idempotency.first.send("POST", "/orders", order_body(), key="  ")
    assert (blank.status, blank.replayed) == (200, None)
    assert len(await order_ids(idempotency.world)) == 3
    assert await idempotency.kept_rows() == []


async def test_reads_are_never_kept(idempotency: IdempotencyWorld) -> None:
    created = await idempotency.first.send("POST", "/orders", order_body(), key="order-read")
    order_id = created.json()["orderId"]
    for _ in range(2):
        read = await idempotency.first.send("GET", f"/orders/{order_id}", key="a-read-key")
        assert (read.status, read.replayed) == (200, None)
    assert [row["idempotencyKey"] for row in await idempotency.kept_rows()] == ["order-read"]


async def test_an_unauthenticated_call_gets_the_dispatchers_own_answer(idempotency: IdempotencyWorld) -> None:
    answer = await idempotency.anonymous.send("POST", "/orders", order_body(), key="order-anon")
    assert (answer.status, answer.replayed) == (401, None)
    assert answer.json() == {"errorCode": 401, "errors": f"User must be logged in to call service {names.CREATE_ORDER}"}
    assert await idempotency.kept_rows() == []
    assert await order_ids(idempotency.world) == []


async def test_a_key_longer_than_255_characters_is_refused(idempotency: IdempotencyWorld) -> None:
    too_long = await idempotency.first.send("POST", "/orders", order_body(), key="k" * 256)
    assert too_long.status == 400
    assert too_long.json() == {"errorCode": 400, "errors": "Idempotency-Key is longer than 255 characters"}
    assert await order_ids(idempotency.world) == []
    longest = await idempotency.first.send("POST", "/orders", order_body(), key="k" * 255)
    assert longest.status == 200
    assert [len(row["idempotencyKey"]) for row in await idempotency.kept_rows()] == [255]


async def test_a_key_older_than_24_hours_names_a_new_request(idempotency: IdempotencyWorld) -> None:
    first = await idempotency.first.send("POST", "/orders", order_body("25.00"), key="old-key")
    entity = idempotency.world.entity
    await entity.update(
        ENTITY,
        {"principalName": "integrator", "idempotencyKey": "old-key"},
        {"createdDate": utc_now() - timedelta(hours=24, minutes=1)},
    )
    again = await idempotency.first.send("POST", "/orders", order_body("27.00"), key="old-key")
    assert (again.status, again.replayed) == (200, None)
    assert again.json()["orderId"] != first.json()["orderId"]
    [row] = await idempotency.kept_rows()
    assert row["responseBody"] == again.body


async def test_a_started_request_is_busy_while_its_owner_lives_and_run_again_at_once_when_it_dies(
    idempotency: IdempotencyWorld, entity_database_dsn: str
) -> None:
    """The owner of a started row is another process, stood in for by its own database session holding the key's
    lock: while that session lives the key answers 409; the moment it is closed (the process died) a retry runs the
    request, with no ten-minute wait."""
    entity = idempotency.world.entity
    fingerprint = request_fingerprint("POST", REST + "/orders", "", moqui_json.dumps(order_body()).encode())
    started = {"principalName": "integrator", "requestFingerprint": fingerprint, "requestStatusId": "SirStarted"}
    await entity.create(ENTITY, {**started, "idempotencyKey": "owned", "createdDate": utc_now()})
    # A started row nobody holds: its owner is already gone (a crash before this version, or a kill -9).
    await entity.create(ENTITY, {**started, "idempotencyKey": "orphaned", "createdDate": utc_now()})

    owner = await asyncpg.connect(entity_database_dsn)
    try:
        await owner.execute("SELECT pg_advisory_lock($1)", owner_lock_key("integrator", "owned"))
        running = await idempotency.first.send("POST", "/orders", order_body(), key="owned")
        assert running.status == 409
        assert "still in progress" in running.json()["errors"]
        assert await order_ids(idempotency.world) == []
    finally:
        await owner.close()

    retried = await idempotency.first.send("POST", "/orders", order_body(), key="owned")
    orphan = await idempotency.first.send("POST", "/orders", order_body(), key="orphaned")
    assert (retried.status, retried.replayed) == (200, None)
    assert (orphan.status, orphan.replayed) == (200, None)
    assert len(await order_ids(idempotency.world)) == 2
    # Each key now names its completed request: a repeat is a replay.
    again = await idempotency.first.send("POST", "/orders", order_body(), key="owned")
    assert (again.status, again.replayed, again.body) == (200, "true", retried.body)
