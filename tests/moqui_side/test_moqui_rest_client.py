"""MoquiRestClient against a stand-in Moqui that checks each request byte for byte (contract 4.5, 4.6) and answers
as Moqui does: Jackson-pretty JSON, ``{"errorCode": ..., "errors": ...}`` errors, 429 with Retry-After, proxy pages."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree

from moqui_bridge.moqui_rest_client import (
    MoquiAuthenticationError,
    MoquiBadRequestError,
    MoquiConnectionError,
    MoquiForbiddenError,
    MoquiNotFoundError,
    MoquiRateLimitedError,
    MoquiRestClient,
    MoquiRestError,
    MoquiServerError,
    MoquiTimeoutError,
    dump_json,
)
from tests.moqui_side.component_xml import parse

USERNAME = "john.doe"
PASSWORD = "moqui"
# base64("john.doe:moqui"), written out so the test does not share the client's encoding code.
BASIC_HEADER = "Basic am9obi5kb2U6bW9xdWk="
API_KEY = "Q4vq0Ywh2Ow9ZtOkR8fo2uJ5kEMQZ3Cz"


@dataclass
class Seen:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{ }"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


def moqui_json(*lines: str) -> bytes:
    """A Jackson INDENT_OUTPUT object, as Moqui writes it."""
    return ("{\n" + ",\n".join(f"  {line}" for line in lines) + "\n}").encode()


def moqui_error(status: int, message: str) -> Answer:
    return Answer(status, moqui_json(f'"errorCode" : {status}', f'"errors" : "{message}"'))


class MoquiStandIn:
    """Records every request and plays back the queued answers (then ``{ }`` with 200)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.answers: list[Answer] = []
        self.release_hangs = asyncio.Event()
        self.server: TestServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {name: value for name, value in request.headers.items() if name.lower() != "host"}
        self.seen.append(Seen(request.method, request.raw_path, headers, await request.read()))
        answer = self.answers.pop(0) if self.answers else Answer()
        if answer.hang:
            await self.release_hangs.wait()
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers={"Content-Type": answer.content_type, "X-Run-Time-ms": "7", **answer.headers},
        )

    async def start(self, port: int | None = None) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1", port=port)
        await self.server.start_server()

    async def close(self) -> None:
        self.release_hangs.set()
        if self.server is not None:
            await self.server.close()


@pytest.fixture
async def moqui() -> AsyncIterator[MoquiStandIn]:
    stand_in = MoquiStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.close()


def basic_client(
    moqui: MoquiStandIn, *, timeout: float = 5.0, max_attempts: int = 3, max_retry_after: float = 30.0
) -> MoquiRestClient:
    return MoquiRestClient(
        moqui.base_url,
        username=USERNAME,
        password=PASSWORD,
        timeout=timeout,
        max_attempts=max_attempts,
        max_retry_after=max_retry_after,
        backoff_initial=0.01,
        backoff_max=0.05,
    )


def key_client(moqui: MoquiStandIn) -> MoquiRestClient:
    return MoquiRestClient(moqui.base_url, api_key=API_KEY, backoff_initial=0.01, backoff_max=0.05)


def assert_json_post(seen: Seen, raw_path: str, body: bytes) -> None:
    assert (seen.method, seen.raw_path) == ("POST", raw_path)
    assert seen.headers["Authorization"] == BASIC_HEADER
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.body == body


def assert_bare_post(seen: Seen, raw_path: str) -> None:
    # No parameters: no body and no JSON content type (an empty JSON body is a parse error in Moqui).
    assert (seen.method, seen.raw_path) == ("POST", raw_path)
    assert seen.headers["Authorization"] == BASIC_HEADER
    assert "Content-Type" not in seen.headers
    assert seen.body == b""


# ----- requests, byte for byte -----


async def test_authorize_payment_posts_to_mantles_gateway_authorize(moqui: MoquiStandIn) -> None:
    moqui.answers.append(Answer(body=moqui_json('"paymentGatewayResponseId" : "100010"')))
    async with basic_client(moqui) as client:
        result = await client.authorize_payment("100000", payment_gateway_config_id="StripeGateway")
    assert result == {"paymentGatewayResponseId": "100010"}
    [seen] = moqui.seen
    assert_json_post(
        seen, "/rest/s1/mantle/payments/100000/gateways/authorize", b'{"paymentGatewayConfigId":"StripeGateway"}'
    )


async def test_api_key_goes_in_the_api_key_header_and_nothing_else(moqui: MoquiStandIn) -> None:
    async with key_client(moqui) as client:
        await client.release_payment("100000")
    [seen] = moqui.seen
    assert seen.headers["api_key"] == API_KEY
    assert "Authorization" not in seen.headers
    assert seen.raw_path == "/rest/s1/mantle/payments/100000/gateways/release"


async def test_capture_sends_the_decimal_amount_as_a_plain_json_number(moqui: MoquiStandIn) -> None:
    moqui.answers.append(Answer(body=moqui_json('"paymentGatewayResponseId" : "100011"')))
    async with basic_client(moqui) as client:
        result = await client.capture_payment("100000", Decimal("12.50"))
        await client.capture_payment("100001")
    assert result == {"paymentGatewayResponseId": "100011"}
    first, second = moqui.seen
    assert_json_post(first, "/rest/s1/mantle/payments/100000/gateways/capture", b'{"amount":12.50}')
    assert_bare_post(second, "/rest/s1/mantle/payments/100001/gateways/capture")


async def test_refund_sends_amount_and_refund_payment(moqui: MoquiStandIn) -> None:
    moqui.answers.append(
        Answer(body=moqui_json('"paymentGatewayResponseId" : "100012"', '"refundPaymentId" : "100020"'))
    )
    async with basic_client(moqui) as client:
        result = await client.refund_payment("100000", Decimal("1E+1"), refund_payment_id="100020")
    assert result == {"paymentGatewayResponseId": "100012", "refundPaymentId": "100020"}
    [seen] = moqui.seen
    assert_json_post(
        seen, "/rest/s1/mantle/payments/100000/gateways/refund", b'{"amount":10,"refundPaymentId":"100020"}'
    )


async def test_release_and_place_order_post_without_a_body(moqui: MoquiStandIn) -> None:
    async with basic_client(moqui) as client:
        assert await client.release_payment("100000") == {}
        assert await client.place_order("100100") == {}
    release, place = moqui.seen
    assert_bare_post(release, "/rest/s1/mantle/payments/100000/gateways/release")
    assert_bare_post(place, "/rest/s1/mantle/orders/100100/place")


async def test_get_payment_reads_amounts_as_decimal(moqui: MoquiStandIn) -> None:
    moqui.answers.append(
        Answer(
            body=moqui_json(
                '"paymentId" : "100000"',
                '"statusId" : "PmntAuthorized"',
                '"amount" : 120.5000',
                '"effectiveDate" : 1767225600000',
            )
        )
    )
    async with basic_client(moqui) as client:
        payment = await client.get_payment("100000")
    assert payment["amount"] == Decimal("120.5000")
    assert str(payment["amount"]) == "120.5000"  # the scale Moqui sent, not a float's
    assert payment["effectiveDate"] == 1767225600000
    [seen] = moqui.seen
    assert (seen.method, seen.raw_path, seen.body) == ("GET", "/rest/s1/mantle/payments/100000", b"")
    assert seen.headers["Authorization"] == BASIC_HEADER
    assert seen.headers["Accept"] == "application/json"


async def test_ids_are_quoted_so_they_cannot_reach_another_resource(moqui: MoquiStandIn) -> None:
    async with basic_client(moqui) as client:
        await client.get_order("../payments/1 2?x")
    assert moqui.seen[0].raw_path == "/rest/s1/mantle/orders/..%2Fpayments%2F1%202%3Fx"


@pytest.mark.parametrize("order_id", [".", ".."])
async def test_dot_segments_are_refused_before_sending(moqui: MoquiStandIn, order_id: str) -> None:
    async with basic_client(moqui) as client:
        with pytest.raises(ValueError, match="another resource"):
            await client.get_order(order_id)
    assert moqui.seen == []


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_a_nan_in_moquis_answer_is_an_error_not_a_float(moqui: MoquiStandIn, constant: str) -> None:
    moqui.answers.append(Answer(body=moqui_json('"paymentId" : "100000"', f'"amount" : {constant}')))
    async with basic_client(moqui) as client:
        with pytest.raises(MoquiRestError, match=f"not valid JSON: {constant} is not a valid JSON number") as raised:
            await client.get_payment("100000")
    assert raised.value.status == 200
    assert len(moqui.seen) == 1


async def test_query_parameters_are_form_encoded(moqui: MoquiStandIn) -> None:
    moqui.answers.append(Answer(body=b"[ ]"))
    async with basic_client(moqui) as client:
        result = await client.call(
            "get", "/rest/s1/mantle/orders", params={"customerPartyId": "CUST A&B", "grandTotal": Decimal("5.10")}
        )
    assert result == []
    assert moqui.seen[0].raw_path == "/rest/s1/mantle/orders?customerPartyId=CUST+A%26B&grandTotal=5.10"


# ----- the paths are Mantle's -----


def mantle_rest_target(rest_xml: Path, method: str, raw_path: str) -> str:
    """Resolve a /rest/s1 path through mantle.rest.xml as Moqui's RestApi does: named resources first, else the id."""
    node = parse(rest_xml).getroot()
    segments = raw_path.split("?")[0].strip("/").split("/")
    assert segments[:3] == ["rest", "s1", node.get("name")]
    for segment in segments[3:]:
        child = next((item for item in node.findall("resource") if item.get("name") == segment), None)
        if child is None:
            child = node.find("id")
        assert child is not None, f"no resource for {segment} in {raw_path}"
        node = child
    target = next((item for item in node.findall("method") if item.get("type") == method.lower()), None)
    assert target is not None, f"no {method} on {raw_path}"
    handler = target[0]
    assert isinstance(handler, etree._Element)
    return f"{handler.tag}:{handler.get('name')}:{handler.get('operation', '')}"


async def test_every_helper_calls_the_mantle_service_it_is_named_after(
    moqui: MoquiStandIn, moqui_reference: Path
) -> None:
    async with basic_client(moqui) as client:
        await client.authorize_payment("1")
        await client.capture_payment("1", Decimal("1.00"))
        await client.release_payment("1")
        await client.refund_payment("1", Decimal("1.00"))
        await client.place_order("2")
        await client.get_payment("1")
        await client.get_order("2")
    rest_xml = moqui_reference / "mantle-usl" / "service" / "mantle.rest.xml"
    targets = [mantle_rest_target(rest_xml, seen.method, seen.raw_path) for seen in moqui.seen]
    assert targets == [
        "service:mantle.account.PaymentServices.authorize#SinglePayment:",
        "service:mantle.account.PaymentServices.capture#SinglePayment:",
        "service:mantle.account.PaymentServices.release#SinglePayment:",
        "service:mantle.account.PaymentServices.refund#SinglePayment:",
        "service:mantle.order.OrderServices.place#Order:",
        "entity:payments:one",
        "entity:orders:one",
    ]


# ----- errors -----


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, MoquiBadRequestError),
        (401, MoquiAuthenticationError),
        (403, MoquiForbiddenError),
        (404, MoquiNotFoundError),
        (405, MoquiRestError),
    ],
)
async def test_moqui_error_shape_becomes_a_typed_error(
    moqui: MoquiStandIn, status: int, error_class: type[MoquiRestError]
) -> None:
    moqui.answers.append(moqui_error(status, "Payment 100000 is not in the authorized status"))
    async with basic_client(moqui) as client:
        with pytest.raises(error_class) as raised:
            await client.get_payment("100000")
    error = raised.value
    assert type(error) is error_class
    assert (error.status, error.error_code) == (status, status)
    assert error.message == "Payment 100000 is not in the authorized status"
    assert str(error) == (
        f"Moqui GET /rest/s1/mantle/payments/100000: HTTP {status}: Payment 100000 is not in the authorized status"
    )
    # Client errors are answers, not accidents: asking again would get the same answer.
    assert len(moqui.seen) == 1


async def test_post_is_not_retried_after_a_server_error(moqui: MoquiStandIn) -> None:
    moqui.answers.append(moqui_error(500, "java.lang.NullPointerException "))
    async with basic_client(moqui) as client:
        with pytest.raises(MoquiServerError, match="NullPointerException") as raised:
            await client.capture_payment("100000", Decimal("5"))
    assert raised.value.status == 500
    assert len(moqui.seen) == 1


async def test_get_is_retried_after_server_errors_then_succeeds(moqui: MoquiStandIn) -> None:
    moqui.answers += [moqui_error(500, "database busy"), Answer(503, b"Service Unavailable", "text/plain")]
    moqui.answers.append(Answer(body=moqui_json('"orderId" : "100100"')))
    async with basic_client(moqui, max_attempts=3) as client:
        assert await client.get_order("100100") == {"orderId": "100100"}
    assert [seen.raw_path for seen in moqui.seen] == ["/rest/s1/mantle/orders/100100"] * 3


async def test_proxy_html_page_gives_its_title_after_the_last_attempt(moqui: MoquiStandIn) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><hr>nginx</body></html>"
    moqui.answers += [Answer(502, page, "text/html")] * 2
    async with basic_client(moqui, max_attempts=2) as client:
        with pytest.raises(MoquiServerError) as raised:
            await client.get_payment("100000")
    assert (raised.value.status, raised.value.message) == (502, "502 Bad Gateway")
    assert len(moqui.seen) == 2


async def test_marked_idempotent_post_is_retried(moqui: MoquiStandIn) -> None:
    moqui.answers += [Answer(503, b"", "text/plain"), Answer(body=moqui_json('"done" : true'))]
    async with basic_client(moqui) as client:
        result = await client.call("POST", "/rest/s1/mantle/my/noticeCounts", body={"a": 1}, idempotent=True)
    assert result == {"done": True}
    assert [seen.body for seen in moqui.seen] == [b'{"a":1}', b'{"a":1}']


async def test_429_waits_for_retry_after_on_get(moqui: MoquiStandIn) -> None:
    moqui.answers += [
        Answer(429, moqui_json('"errorCode" : 429', '"errors" : "Too many requests"'), headers={"Retry-After": "1"}),
        Answer(body=moqui_json('"paymentId" : "100000"')),
    ]
    async with basic_client(moqui) as client:
        started = time.monotonic()
        assert await client.get_payment("100000") == {"paymentId": "100000"}
        elapsed = time.monotonic() - started
    assert elapsed >= 0.95
    assert len(moqui.seen) == 2


async def test_retry_after_may_be_an_http_date(moqui: MoquiStandIn) -> None:
    soon = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    moqui.answers += [Answer(503, b"", "text/plain", headers={"Retry-After": soon}), Answer(body=b"{ }")]
    async with basic_client(moqui) as client:
        started = time.monotonic()
        assert await client.get_order("100100") == {}
        elapsed = time.monotonic() - started
    # HTTP dates have whole seconds: the wait is between one and two seconds, far above the 0.05 s backoff cap.
    assert 0.9 <= elapsed <= 2.5
    assert len(moqui.seen) == 2


async def test_429_on_post_is_reported_with_retry_after(moqui: MoquiStandIn) -> None:
    moqui.answers.append(
        Answer(429, moqui_json('"errorCode" : 429', '"errors" : "Too many requests"'), headers={"Retry-After": "7"})
    )
    async with basic_client(moqui) as client:
        with pytest.raises(MoquiRateLimitedError) as raised:
            await client.place_order("100100")
    assert (raised.value.status, raised.value.retry_after, raised.value.message) == (429, 7.0, "Too many requests")
    assert len(moqui.seen) == 1


async def test_429_with_a_long_retry_after_is_not_waited_for(moqui: MoquiStandIn) -> None:
    moqui.answers.append(Answer(429, b"", "text/plain", headers={"Retry-After": "3600"}))
    async with basic_client(moqui, max_retry_after=2.0) as client:
        started = time.monotonic()
        with pytest.raises(MoquiRateLimitedError):
            await client.get_payment("100000")
    assert time.monotonic() - started < 1.0
    assert len(moqui.seen) == 1


async def test_hanging_get_times_out_after_each_attempt(moqui: MoquiStandIn) -> None:
    moqui.answers += [Answer(hang=True), Answer(hang=True)]
    async with basic_client(moqui, timeout=0.2, max_attempts=2) as client:
        with pytest.raises(MoquiTimeoutError, match=r"no response within 0\.2 s") as raised:
            await client.get_payment("100000")
    assert raised.value.status is None
    assert len(moqui.seen) == 2


async def test_hanging_post_is_not_sent_twice(moqui: MoquiStandIn) -> None:
    moqui.answers.append(Answer(hang=True))
    async with basic_client(moqui, timeout=0.2, max_attempts=3) as client:
        with pytest.raises(MoquiTimeoutError):
            await client.capture_payment("100000", Decimal("5.00"))
    assert len(moqui.seen) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_connection_refused_is_a_connection_error() -> None:
    client = MoquiRestClient(
        f"http://127.0.0.1:{free_port()}", username=USERNAME, password=PASSWORD, max_attempts=2, backoff_initial=0.01
    )
    async with client:
        with pytest.raises(MoquiConnectionError, match="cannot connect") as raised:
            await client.place_order("100100")
    assert raised.value.status is None


async def test_post_is_retried_when_the_connection_could_not_be_opened() -> None:
    # Nothing was sent, so even a POST may go again: Moqui comes up while the client backs off.
    port = free_port()
    stand_in = MoquiStandIn()
    client = MoquiRestClient(
        f"http://127.0.0.1:{port}", username=USERNAME, password=PASSWORD, max_attempts=2, backoff_initial=0.4
    )

    async def start_later() -> None:
        await asyncio.sleep(0.1)
        await stand_in.start(port)

    starter = asyncio.create_task(start_later())
    try:
        async with client:
            assert await client.place_order("100100") == {}
    finally:
        await starter
        await stand_in.close()
    assert [seen.raw_path for seen in stand_in.seen] == ["/rest/s1/mantle/orders/100100/place"]


async def test_success_that_is_not_json_is_an_error(moqui: MoquiStandIn) -> None:
    moqui.answers.append(Answer(200, b"<html>login</html>", "text/html"))
    async with basic_client(moqui) as client:
        with pytest.raises(MoquiRestError, match="not JSON: <html>login</html>"):
            await client.get_order("100100")


async def test_a_list_where_an_object_is_expected_is_an_error(moqui: MoquiStandIn) -> None:
    moqui.answers.append(Answer(body=b"[ ]"))
    async with basic_client(moqui) as client:
        with pytest.raises(MoquiRestError, match="expected a JSON object, got list"):
            await client.get_order("100100")


# ----- secrets -----


async def test_credentials_never_reach_logs_errors_or_repr(
    moqui: MoquiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    moqui.answers += [moqui_error(500, "boom"), moqui_error(401, "User must be logged in")]
    moqui.answers += [moqui_error(401, "User must be logged in")]
    secrets = [PASSWORD, BASIC_HEADER.split()[1], API_KEY]
    texts: list[str] = []
    for client in (basic_client(moqui), key_client(moqui)):
        async with client:
            texts.append(repr(client))
            with pytest.raises(MoquiRestError) as raised:
                await client.get_payment("100000")
            texts.append(str(raised.value))
    texts += [record.getMessage() for record in caplog.records]
    assert any("retrying" in text for text in texts)  # the logs were really written
    for text in texts:
        for secret in secrets:
            assert secret not in text


# ----- construction and JSON -----


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({}, "username and password"),
        ({"username": USERNAME}, "username and password"),
        ({"username": USERNAME, "password": PASSWORD, "api_key": API_KEY}, "not both"),
        ({"api_key": " "}, "api_key"),
        ({"username": "a:b", "password": PASSWORD}, "':'"),
    ],
)
def test_credentials_are_checked(arguments: dict[str, str], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        MoquiRestClient("https://moqui.example.com", **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("base_url", ["moqui.example.com", "ftp://moqui", "https://u:p@moqui", "https://moqui/?a=1"])
def test_base_url_is_checked(base_url: str) -> None:
    with pytest.raises(ValueError, match="Moqui base URL"):
        MoquiRestClient(base_url, api_key=API_KEY)


async def test_float_amounts_are_refused_before_sending(moqui: MoquiStandIn) -> None:
    async with basic_client(moqui) as client:
        with pytest.raises(TypeError, match="Decimal"):
            await client.refund_payment("100000", 12.5)  # type: ignore[arg-type]
    assert moqui.seen == []


def test_dump_json_writes_decimals_plainly_and_refuses_floats() -> None:
    document = {"a": [Decimal("0.10"), Decimal("2.5E+3"), Decimal("-0")], "b": {"c": None, "d": True, "é": "ü\n"}}
    # Negative zero is written 0, as everywhere else that writes for Moqui (BigDecimal has no negative zero).
    assert dump_json(document) == '{"a":[0.10,2500,0],"b":{"c":null,"d":true,"é":"ü\\n"}}'
    with pytest.raises(TypeError, match="Decimal"):
        dump_json({"amount": 1.5})
    with pytest.raises(ValueError, match=r"finite|JSON number"):
        dump_json(Decimal("NaN"))


async def test_a_shared_session_is_left_open(moqui: MoquiStandIn) -> None:
    async with aiohttp.ClientSession() as session:
        async with MoquiRestClient(moqui.base_url, api_key=API_KEY, session=session) as client:
            await client.get_order("1")
        assert not session.closed
