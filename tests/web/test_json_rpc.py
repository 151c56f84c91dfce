"""POST /rpc/json answers as Moqui's ServiceJsonRpcDispatcher, over real HTTP."""

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from moqui_bridge.web import moqui_json
from tests.web.services import (
    API_KEY,
    AUTHORIZE,
    BASIC_PASSWORD,
    BASIC_USER,
    ECHO,
    EXPLODE,
    FAIL,
    FORBID,
    LOCAL_ONLY,
    LOGIN_KEY,
)

Client = TestClient[Any, Any]
JSON = {"Content-Type": "application/json"}

# Exactly what Moqui's RemoteJsonRpcServiceRunner sends for authorize (moqui-contract.md 4.2).
MOQUI_AUTHORIZE_BODY = (
    b'{"jsonrpc":"2.0","id":1,"method":"test.PaymentServices.authorize#Payment",'
    b'"params":{"cardSecurityCode":null,"paymentGatewayConfigId":"DemoStripe","paymentId":"100000"}}'
)


async def rpc(
    client: Client, body: bytes | Any, *, path: str = "/rpc/json", headers: dict[str, str] | None = None
) -> tuple[ClientResponse, str, Any]:
    """Post a JSON-RPC body (bytes as is, else compact JSON) and return (status, raw text, parsed JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await client.post(path, data=data, headers={**JSON, **(headers or {})})
    text = await response.text()
    parsed = moqui_json.loads(text) if text else None
    return response, text, parsed


def call(method: str | None, params: Any, request_id: Any = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "params": params}
    if method is not None:
        body["method"] = method
    return body


async def test_moqui_remote_runner_request_byte_for_byte(client: Client) -> None:
    response, text, _ = await rpc(client, MOQUI_AUTHORIZE_BODY, path=f"/rpc/json?api_key={API_KEY}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert text == (
        "{\n"
        '  "jsonrpc" : "2.0",\n'
        '  "id" : 1,\n'
        '  "result" : {\n'
        '    "paymentGatewayResponseId" : "100000",\n'
        '    "amount" : null,\n'
        '    "cardSecurityCode" : null,\n'
        '    "caller" : "moqui-instance",\n'
        '    "idempotencyKey" : null\n'
        "  }\n"
        "}"
    )


async def test_amount_with_scale_arrives_as_decimal(client: Client) -> None:
    body = (
        b'{"jsonrpc":"2.0","id":1,"method":"test.PaymentServices.authorize#Payment",'
        b'"params":{"amount":100.0000,"paymentGatewayConfigId":"DemoStripe","paymentId":"100000"}}'
    )
    response, text, parsed = await rpc(client, body, headers={"api_key": API_KEY})
    assert response.status == 200
    assert '"amount" : 100.0000,' in text
    assert parsed["result"]["amount"] == Decimal("100.0000")


async def test_parse_error(client: Client) -> None:
    response, text, parsed = await rpc(client, b'{"jsonrpc":"2.0", "id":1, "method":')
    assert response.status == 200
    assert parsed["id"] is None
    assert parsed["error"]["code"] == -32700
    assert parsed["error"]["message"].startswith("Invalid JSON: Expecting value at line 1 column")
    assert text.startswith('{\n  "jsonrpc" : "2.0",\n  "id" : null,\n  "error" : {\n    "code" : -32700,\n')


async def test_nan_is_a_parse_error(client: Client) -> None:
    _, _, parsed = await rpc(client, b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"amount":NaN}}')
    assert parsed["error"] == {"code": -32700, "message": "NaN is not a valid JSON number"}


@pytest.mark.parametrize("body", [call(None, {}), call("", {}), call(None, None)])
async def test_no_method(client: Client, body: dict[str, Any]) -> None:
    response, _, parsed = await rpc(client, body)
    assert response.status == 200
    assert parsed == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "No method specified"}}


async def test_body_not_declared_json_is_not_read(client: Client) -> None:
    response = await client.post("/rpc/json", data=json.dumps(call(ECHO, {})), headers={"Content-Type": "text/plain"})
    parsed = moqui_json.loads(await response.text())
    assert parsed["error"] == {"code": -32600, "message": "No method specified"}


async def test_unknown_service(client: Client) -> None:
    response, _, parsed = await rpc(client, call("test.Nope.do#It", {}))
    assert response.status == 200
    assert parsed == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32601, "message": "Unknown service [test.Nope.do#It]"},
    }


@pytest.mark.parametrize(
    ("params", "java_type"),
    [([1, 2], "java.util.ArrayList"), ("x", "java.lang.String"), (None, "org.codehaus.groovy.runtime.NullObject")],
)
async def test_params_must_be_an_object(client: Client, params: Any, java_type: str) -> None:
    response, _, parsed = await rpc(client, call(ECHO, params))
    assert response.status == 200
    assert parsed["error"] == {
        "code": -32602,
        "message": f"Parameters must be named parameters (JSON object, Java Map), got type [{java_type}]",
    }


async def test_service_not_remote(client: Client) -> None:
    response, _, parsed = await rpc(client, call(LOCAL_ONLY, {}))
    assert response.status == 200
    assert parsed["error"] == {"code": -32601, "message": f"Service [{LOCAL_ONLY}] does not allow remote calls"}


async def test_service_errors_are_code_500_joined_with_newlines(client: Client) -> None:
    response, text, _ = await rpc(client, call(FAIL, {}, request_id=9))
    assert response.status == 500
    assert text == (
        "{\n"
        '  "jsonrpc" : "2.0",\n'
        '  "id" : 9,\n'
        '  "error" : {\n'
        '    "code" : 500,\n'
        '    "message" : "Payment 100000 is not authorized\\nNothing was captured\\n"\n'
        "  }\n"
        "}"
    )


async def test_required_parameter_missing(client: Client) -> None:
    response, _, parsed = await rpc(client, call(AUTHORIZE, {"paymentId": "100000"}), headers={"api_key": API_KEY})
    assert response.status == 500
    assert parsed["error"] == {
        "code": 500,
        "message": "Field cannot be empty (for field Payment Gateway Config ID of service Test Payment Services "
        "Authorize Payment)\n",
    }


async def test_unexpected_exception_hides_secrets_and_traces(client: Client) -> None:
    response, text, parsed = await rpc(client, call(EXPLODE, {}))
    assert response.status == 500
    assert parsed["error"]["code"] == 500
    message = parsed["error"]["message"]
    assert message.startswith("connect to postgres://app:[redacted]@db/x failed")
    for secret in ("hunter2", "sk_test_abc123", API_KEY, "Traceback"):
        assert secret not in text


async def test_authorization_denied_is_403(client: Client) -> None:
    response, _, parsed = await rpc(client, call(FORBID, {}), headers={"api_key": API_KEY})
    assert response.status == 403
    assert parsed["error"] == {
        "code": 403,
        "message": f"User moqui-instance is not authorized for Update on Service {FORBID}",
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"api_key": "wrong-key-0000000000"}, {"login_key": "null"}, {"Authorization": "Basic bW9xdWk6d3Jvbmc="}],
)
async def test_missing_or_wrong_credentials(client: Client, headers: dict[str, str]) -> None:
    response, _, parsed = await rpc(
        client, call(AUTHORIZE, {"paymentId": "1", "paymentGatewayConfigId": "G"}), headers=headers
    )
    assert response.status == 403
    assert parsed["error"] == {"code": 403, "message": f"User must be logged in to call service {AUTHORIZE}"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("path", "headers", "caller"),
    [
        ("/rpc/json", {"Authorization": basic(BASIC_USER, BASIC_PASSWORD)}, BASIC_USER),
        ("/rpc/json", {"api_key": API_KEY}, "moqui-instance"),
        ("/rpc/json", {"login_key": f"  {LOGIN_KEY} "}, "integrator"),
        (f"/rpc/json?api_key={API_KEY}", {}, "moqui-instance"),
        (f"/rpc/json?login_key={LOGIN_KEY}", {"api_key": "undefined"}, "integrator"),
    ],
)
async def test_each_way_to_authenticate(client: Client, path: str, headers: dict[str, str], caller: str) -> None:
    response, _, parsed = await rpc(
        client, call(AUTHORIZE, {"paymentId": "1", "paymentGatewayConfigId": "G"}), path=path, headers=headers
    )
    assert response.status == 200
    assert parsed["result"]["caller"] == caller


async def test_service_without_authentication_needs_no_key(client: Client) -> None:
    response, _, parsed = await rpc(client, call(ECHO, {"text": 42, "count": "7", "when": "2024-01-02 10:11"}))
    assert response.status == 200
    result = parsed["result"]
    assert result["text"] == "42"
    assert result["count"] == 7
    assert result["when"] == 1704190260000
    assert result["flag"] is None
    assert result["rows"] == [{"a": 1, "b": None}, {"a": None}]


@pytest.mark.parametrize(("sent", "echoed"), [(0, None), ("", None), ("abc", "abc"), (7, 7), (None, None)])
async def test_id_is_echoed_as_moqui_does(client: Client, sent: Any, echoed: Any) -> None:
    _, _, parsed = await rpc(client, call(ECHO, {}, request_id=sent))
    assert parsed["id"] == echoed
    assert "result" in parsed


async def test_batch_answers_in_order_and_skips_notifications(client: Client) -> None:
    notification = {"jsonrpc": "2.0", "method": ECHO, "params": {}}
    batch = [call(ECHO, {"text": "one"}, request_id=1), notification, "not a call", call("test.Nope.do#It", {}, 3)]
    response, text, parsed = await rpc(client, batch)
    assert response.status == 200
    assert text.startswith('[ {\n  "jsonrpc" : "2.0",\n  "id" : 1,\n')
    assert [item["id"] for item in parsed] == [1, None, 3]
    assert parsed[0]["result"]["text"] == "one"
    assert parsed[1]["error"] == {"code": -32600, "message": "No method specified"}
    assert parsed[2]["error"]["code"] == -32601


async def test_batch_of_notifications_answers_nothing(client: Client) -> None:
    notification = {"jsonrpc": "2.0", "method": ECHO, "params": {}}
    response, text, _ = await rpc(client, [notification, notification])
    assert response.status == 204
    assert text == ""


async def test_empty_batch_is_one_invalid_request(client: Client) -> None:
    response, _, parsed = await rpc(client, [])
    assert response.status == 200
    assert parsed == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "Invalid Request: empty batch"},
    }
