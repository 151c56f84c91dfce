"""RemoteMantleSide against a stand-in Moqui (real HTTP on loopback): the requests it sends are checked, and the
stand-in answers as Moqui's REST API does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from moqui_bridge.mantle.remote_moqui import REFRESH_LEFT_TO_MOQUI, REFUND_LEFT_TO_MOQUI, RemoteMantleSide
from moqui_bridge.moqui_rest_client import MoquiBadRequestError, MoquiRestClient

API_KEY = "remote-side-test-key"


@dataclass
class Request:
    method: str
    path: str
    body: Any


@dataclass
class StandInMoqui:
    """Answers by (method, path); remembers every request; refuses requests without the api key as Moqui does."""

    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    seen: list[Request] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.seen.append(
            Request(request.method, request.raw_path, json.loads(raw, parse_float=Decimal) if raw else None)
        )
        if request.headers.get("api_key") != API_KEY:
            return web.json_response({"errorCode": 401, "errors": "User must be logged in"}, status=401)
        status, body = self.answers.get((request.method, request.raw_path), (404, {"errorCode": 404, "errors": "?"}))
        return web.Response(status=status, text=json.dumps(body, indent=2), content_type="application/json")


@pytest.fixture
async def moqui() -> AsyncIterator[tuple[StandInMoqui, MoquiRestClient]]:
    """The stand-in Moqui on loopback and a client for it."""
    stand_in = StandInMoqui()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stand_in.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    client = MoquiRestClient(str(server.make_url("")), api_key=API_KEY, max_attempts=1)
    try:
        yield stand_in, client
    finally:
        await client.close()
        await server.close()


async def test_authorize_posts_to_mantles_path_and_reads_the_status(
    moqui: tuple[StandInMoqui, MoquiRestClient],
) -> None:
    stand_in, client = moqui
    stand_in.answers[("POST", "/rest/s1/mantle/payments/P%2F1/gateways/authorize")] = (
        200,
        {"paymentGatewayResponseId": "100050", "paymentGatewayResponse": {"resultSuccess": "Y", "resultDeclined": "N"}},
    )
    stand_in.answers[("GET", "/rest/s1/mantle/payments/P%2F1")] = (
        200,
        {"paymentId": "P/1", "statusId": "PmntAuthorized"},
    )

    result = await RemoteMantleSide(client).authorize_payment("P/1")

    assert (result.status_id, result.payment_gateway_response_id, result.succeeded, result.declined) == (
        "PmntAuthorized",
        "100050",
        True,
        False,
    )
    assert [(r.method, r.path, r.body) for r in stand_in.seen] == [
        ("POST", "/rest/s1/mantle/payments/P%2F1/gateways/authorize", None),
        ("GET", "/rest/s1/mantle/payments/P%2F1", None),
    ]


async def test_a_decline_and_moquis_messages_come_back(moqui: tuple[StandInMoqui, MoquiRestClient]) -> None:
    stand_in, client = moqui
    stand_in.answers[("POST", "/rest/s1/mantle/payments/9/gateways/authorize")] = (
        200,
        {"paymentGatewayResponseId": "7", "paymentGatewayResponse": {"resultDeclined": "Y"}, "messages": ["declined"]},
    )
    stand_in.answers[("GET", "/rest/s1/mantle/payments/9")] = (200, {"paymentId": "9", "statusId": "PmntDeclined"})
    result = await RemoteMantleSide(client).authorize_payment("9")
    assert result.declined and not result.succeeded and result.messages == ("declined",)


async def test_moqui_errors_are_raised(moqui: tuple[StandInMoqui, MoquiRestClient]) -> None:
    stand_in, client = moqui
    stand_in.answers[("POST", "/rest/s1/mantle/payments/9/gateways/authorize")] = (
        400,
        {"errorCode": 400, "errors": "Payment 9 not found\n"},
    )
    with pytest.raises(MoquiBadRequestError, match="Payment 9 not found"):
        await RemoteMantleSide(client).authorize_payment("9")


async def test_add_order_part_payment_posts_the_parameters(moqui: tuple[StandInMoqui, MoquiRestClient]) -> None:
    stand_in, client = moqui
    path = "/rest/s1/mantle/orders/O1/parts/01/payments"
    stand_in.answers[("POST", path)] = (200, {"paymentId": "100123"})
    side = RemoteMantleSide(client)

    assert await side.add_order_part_payment("O1", "01", Decimal("12.50"), "PM1", "STRIPE") == "100123"
    assert await side.add_order_part_payment("O1", "01", None, None, None) == "100123"

    assert stand_in.seen[0].path == path
    assert stand_in.seen[0].body == {
        "amount": Decimal("12.50"),
        "paymentMethodId": "PM1",
        "paymentGatewayConfigId": "STRIPE",
    }
    assert stand_in.seen[1].body is None  # Moqui's own client sends no body without parameters


async def test_add_order_part_payment_needs_a_payment_id(moqui: tuple[StandInMoqui, MoquiRestClient]) -> None:
    stand_in, client = moqui
    stand_in.answers[("POST", "/rest/s1/mantle/orders/O1/parts/01/payments")] = (200, {})
    with pytest.raises(ValueError, match="without a paymentId"):
        await RemoteMantleSide(client).add_order_part_payment("O1", "01", None, None, None)


async def test_place_order_posts_then_reads_the_order(moqui: tuple[StandInMoqui, MoquiRestClient]) -> None:
    stand_in, client = moqui
    stand_in.answers[("POST", "/rest/s1/mantle/orders/O1/place")] = (200, {})
    stand_in.answers[("GET", "/rest/s1/mantle/orders/O1")] = (200, {"orderId": "O1", "statusId": "OrderPlaced"})
    placed = await RemoteMantleSide(client).place_order("O1")
    assert (placed.order_id, placed.status_id, placed.status_changed, placed.auth_failed) == (
        "O1",
        "OrderPlaced",
        None,
        None,
    )
    assert [(r.method, r.path) for r in stand_in.seen] == [
        ("POST", "/rest/s1/mantle/orders/O1/place"),
        ("GET", "/rest/s1/mantle/orders/O1"),
    ]


async def test_refresh_and_gateway_refunds_are_left_to_moqui(moqui: tuple[StandInMoqui, MoquiRestClient]) -> None:
    stand_in, client = moqui
    stand_in.answers[("GET", "/rest/s1/mantle/payments/5")] = (200, {"paymentId": "5", "statusId": "PmntDelivered"})
    side = RemoteMantleSide(client)

    refresh = await side.refresh_payment_status("5")
    assert (refresh.refreshed, refresh.status_id, refresh.messages) == (
        False,
        "PmntDelivered",
        (REFRESH_LEFT_TO_MOQUI,),
    )
    refund = await side.record_gateway_refund("5", Decimal("1.00"), "100200")
    assert (refund.recorded, refund.created, refund.refund_payment_id) == (False, False, None)
    assert refund.messages == (REFUND_LEFT_TO_MOQUI,)
    # Only the status read reached Moqui: nothing was written on its side.
    assert [(r.method, r.path) for r in stand_in.seen] == [("GET", "/rest/s1/mantle/payments/5")]
