"""/rest/s1/... answers as Moqui's service REST API, over real HTTP."""

import json
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from moqui_bridge.web import moqui_json
from moqui_bridge.web.auth import Authenticator
from moqui_bridge.web.rest import RestApi, add_rest_routes, remove_nulls
from tests.web.services import API_KEY, AUTHORIZE, FORBID, context_factory, make_registry

Client = TestClient[Any, Any]
AUTH = {"api_key": API_KEY}


async def test_success_merges_path_body_and_headers(client: Client) -> None:
    response = await client.post(
        "/rest/s1/test/payments/100000/authorize",
        data=b'{"paymentGatewayConfigId":"DemoStripe","amount":12.50,"paymentId":"overridden-by-path"}',
        headers={**AUTH, "Content-Type": "application/json", "Idempotency-Key": "order-55-attempt-1"},
    )
    text = await response.text()
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["X-Run-Time-ms"]) >= 0
    # nulls are removed (cardSecurityCode), the rest in declaration order, pretty as Jackson writes it
    assert text == (
        "{\n"
        '  "paymentGatewayResponseId" : "100000",\n'
        '  "amount" : 12.50,\n'
        '  "caller" : "moqui-instance",\n'
        '  "idempotencyKey" : "order-55-attempt-1"\n'
        "}"
    )


async def test_query_parameters_for_get(client: Client) -> None:
    response = await client.get("/rest/s1/test/echo", params={"text": "hi", "count": "5", "flag": "Y", "when": "0"})
    parsed = moqui_json.loads(await response.text())
    assert response.status == 200
    assert parsed["text"] == "hi"
    assert parsed["count"] == 5
    assert parsed["flag"] is True
    assert parsed["when"] == 0


async def test_nulls_removed_like_moqui(client: Client) -> None:
    response = await client.get("/rest/s1/test/payments/abc/echo")
    parsed = moqui_json.loads(await response.text())
    # top-level nulls go, nulls in maps inside lists go, nested maps are left as they are
    assert parsed == {"rows": [{"a": 1}, {}], "nested": {"kept": None}}


def test_remove_nulls_rules() -> None:
    assert remove_nulls({"a": None, "b": [{"x": None, "y": 1}, 3], "c": {"d": None}}) == {
        "b": [{"y": 1}, 3],
        "c": {"d": None},
    }


async def test_array_body_runs_per_element(client: Client) -> None:
    response = await client.post(
        "/rest/s1/test/echo?count=2",
        data=b'[{"text":"a"},{"text":"b","count":3}]',
        headers={"Content-Type": "application/json"},
    )
    parsed = moqui_json.loads(await response.text())
    assert response.status == 200
    assert [(item["text"], item["count"]) for item in parsed] == [("a", 2), ("b", 3)]


async def test_array_body_with_non_object(client: Client) -> None:
    response = await client.post("/rest/s1/test/echo", data=b'[{"text":"a"}, 5]', headers={"Content-Type": "text/json"})
    assert response.status == 400
    assert moqui_json.loads(await response.text()) == {
        "errorCode": 400,
        "errors": "If request body JSON is a list/array it must contain only object/map values, found non-map entry "
        "of type java.lang.Integer with value: 5",
    }


async def test_parse_error_is_400(client: Client) -> None:
    response = await client.post(
        "/rest/s1/test/echo", data=b'{"text": "unterminated', headers={"Content-Type": "application/json"}
    )
    text = await response.text()
    assert response.status == 400
    assert text.startswith('{\n  "errorCode" : 400,\n  "errors" : "Invalid JSON: ')


async def test_service_errors_are_400_with_errors_string(client: Client) -> None:
    response = await client.post("/rest/s1/test/failures/business")
    assert response.status == 400
    assert await response.text() == (
        '{\n  "errorCode" : 400,\n  "errors" : "Payment 100000 is not authorized\\nNothing was captured\\n"\n}'
    )


async def test_required_parameter_missing_is_400(client: Client) -> None:
    response = await client.post("/rest/s1/test/payments/100000/authorize", headers=AUTH)
    assert response.status == 400
    assert moqui_json.loads(await response.text()) == {
        "errorCode": 400,
        "errors": "Field cannot be empty (for field Payment Gateway Config ID of service Test Payment Services "
        "Authorize Payment)\n",
    }


@pytest.mark.parametrize("headers", [{}, {"api_key": "wrong-key-0000000000"}])
async def test_not_authenticated_is_401(client: Client, headers: dict[str, str]) -> None:
    response = await client.post(
        "/rest/s1/test/payments/100000/authorize", json={"paymentGatewayConfigId": "G"}, headers=headers
    )
    assert response.status == 401
    assert moqui_json.loads(await response.text()) == {
        "errorCode": 401,
        "errors": f"User must be logged in to call service {AUTHORIZE}",
    }


async def test_api_key_in_query_authenticates(client: Client) -> None:
    response = await client.post(
        f"/rest/s1/test/payments/100000/authorize?api_key={API_KEY}", json={"paymentGatewayConfigId": "G"}
    )
    assert response.status == 200
    assert moqui_json.loads(await response.text())["caller"] == "moqui-instance"


async def test_authorization_denied_is_403(client: Client) -> None:
    response = await client.post("/rest/s1/test/failures/forbidden", headers=AUTH)
    assert response.status == 403
    assert moqui_json.loads(await response.text()) == {
        "errorCode": 403,
        "errors": f"User moqui-instance is not authorized for Update on Service {FORBID}",
    }


async def test_unexpected_exception_is_500_without_secrets(client: Client) -> None:
    response = await client.post("/rest/s1/test/failures/unexpected")
    text = await response.text()
    assert response.status == 500
    parsed = moqui_json.loads(text)
    assert parsed["errorCode"] == 500
    assert parsed["errors"].startswith("RuntimeError: connect to postgres://app:[redacted]@db/x failed")
    for secret in ("hunter2", "sk_test_abc123", API_KEY, "Traceback"):
        assert secret not in text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/rest/s1/nothing/here", "Root resource not found with name nothing"),
        (
            "/rest/s1/test/unknown",
            "Resource unknown not valid, index 0 in path [test, unknown]; "
            "resources available are [payments, echo, failures]",
        ),
        (
            "/rest/s1/test/failures/other",
            "Resource other not valid, index 1 in path [test, failures, other]; "
            "resources available are [business, unexpected, forbidden]",
        ),
        ("/rest/s1", "Cannot run REST service with no path"),
    ],
)
async def test_unknown_paths_are_404(client: Client, path: str, message: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert json.loads(await response.text()) == {"errorCode": 404, "errors": message}


async def test_method_not_supported_is_405(client: Client) -> None:
    response = await client.delete("/rest/s1/test/payments/100000/authorize")
    assert response.status == 405
    assert await response.text() == (
        '{\n  "errorCode" : 405,\n  "errors" : "Method delete not supported at [test, payments, 100000, authorize]"\n}'
    )


def test_routes_must_name_registered_services() -> None:
    api = RestApi("test").route("GET", "/x", "test.Missing.get#Thing")
    with pytest.raises(ValueError, match=r"unregistered services: test.Missing.get#Thing"):
        add_rest_routes(web.Application(), [api], make_registry(), context_factory, Authenticator())


def test_route_templates_are_checked() -> None:
    api = RestApi("test").route("GET", "/payments/{paymentId}", AUTHORIZE)
    with pytest.raises(ValueError, match="conflicts"):
        api.route("POST", "/payments/{orderId}/x", AUTHORIZE)
    with pytest.raises(ValueError, match="already routed"):
        api.route("get", "/payments/{paymentId}", AUTHORIZE)
    with pytest.raises(ValueError, match="Unsupported HTTP method"):
        api.route("FETCH", "/x", AUTHORIZE)


def test_decimal_text_survives_round_trip() -> None:
    assert moqui_json.loads(b'{"amount": 12.50}')["amount"] == Decimal("12.50")


async def test_array_body_stops_at_first_service_error_with_500(client: Client) -> None:
    response = await client.post(
        "/rest/s1/test/failures/business", data=b"[{}, {}]", headers={"Content-Type": "application/json"}
    )
    assert response.status == 500
    assert moqui_json.loads(await response.text()) == {
        "errorCode": 500,
        "errors": "Payment 100000 is not authorized\nNothing was captured\n",
    }
