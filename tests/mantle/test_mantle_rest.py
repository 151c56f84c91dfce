"""The rules through `/rest/s1/mantle/...` over real HTTP: Mantle's paths, Moqui's answer and error shapes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from lxml import etree

from moqui_bridge.mantle.mantle_rest import mantle_rest_api
from moqui_bridge.service.registry import ServiceRegistry
from moqui_bridge.web import Authenticator, Principal, add_rest_routes
from tests.mantle.gateway_services import MantleTestContext
from tests.reference import MOQUI_REFERENCE

MANTLE_REST_XML = MOQUI_REFERENCE / "mantle-usl" / "service" / "mantle.rest.xml"
API_KEY = "integrator-test-key"
HEADERS = {"api_key": API_KEY}
Client = TestClient[Any, Any]


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    context: MantleTestContext,
    mantle_registry: ServiceRegistry[MantleTestContext],
) -> Client:
    """An HTTP client for an app serving the mantle REST root over the test's context."""
    app = web.Application()

    def context_factory(request: web.Request, principal: Principal | None) -> MantleTestContext:
        return context

    add_rest_routes(
        app, [mantle_rest_api()], mantle_registry, context_factory, Authenticator(api_keys={"integrator": API_KEY})
    )
    return await aiohttp_client(app)


async def call(client: Client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """Send a JSON request to /rest/s1/mantle and return the parsed answer (numbers with fractions as Decimal)."""
    data = None if body is None else json.dumps(body)
    headers = {**HEADERS, "Content-Type": "application/json"} if data else HEADERS
    response = await client.request(method, "/rest/s1/mantle" + path, data=data, headers=headers)
    text = await response.text()
    assert response.status == status, text
    return json.loads(text, parse_float=Decimal)


async def test_integrator_flow_over_http(client: Client, context: MantleTestContext) -> None:
    method = await call(
        client, "POST", "/parties/paymentMethods", {"ownerPartyId": "CUSTOMER", "gatewayCimId": "pm_card_visa"}
    )
    order = await call(
        client,
        "POST",
        "/orders",
        {"customerPartyId": "CUSTOMER", "vendorPartyId": "VENDOR", "currencyUomId": "USD", "grandTotal": 80.25},
    )
    order_id = order["orderId"]
    added = await call(
        client,
        "POST",
        f"/orders/{order_id}/parts/{order['orderPartSeqId']}/payments",
        {"paymentMethodId": method["paymentMethodId"], "paymentGatewayConfigId": "TEST_APPROVE"},
    )
    payment_id = added["paymentId"]
    placed = await call(client, "POST", f"/orders/{order_id}/place")
    assert placed == {"orderId": order_id, "statusId": "OrderPlaced", "statusChanged": True}

    authorized = await call(client, "POST", f"/payments/{payment_id}/gateways/authorize")
    assert authorized["paymentGatewayResponse"]["resultSuccess"] == "Y"
    assert isinstance(authorized["paymentGatewayResponse"]["transactionDate"], int)  # epoch millis, as Moqui
    captured = await call(client, "POST", f"/payments/{payment_id}/gateways/capture", {"amount": 80.25})
    assert captured["paymentGatewayResponse"]["amount"] == Decimal("80.25")
    refunded = await call(client, "POST", f"/payments/{payment_id}/gateways/refund", {"amount": "10"})
    assert set(refunded) == {"paymentGatewayResponseId", "refundPaymentId"}

    payment = await call(client, "GET", f"/payments/{payment_id}")
    assert (payment["paymentId"], payment["statusId"], payment["orderId"]) == (payment_id, "PmntDelivered", order_id)
    assert payment["amount"] == Decimal("80.25")
    operations = [response["paymentOperationEnumId"] for response in payment["paymentGatewayResponses"]]
    assert operations == ["PgoAuthorize", "PgoCapture", "PgoRefund"]
    assert [refund["paymentId"] for refund in payment["refundPayments"]] == [refunded["refundPaymentId"]]
    assert "paymentAuthCode" in payment and "settlementDate" not in payment  # nulls removed, as Moqui does

    responses = await call(client, "GET", f"/payments/{payment_id}/gatewayResponses")
    assert responses["paymentGatewayResponses"] == payment["paymentGatewayResponses"]

    order_view = await call(client, "GET", f"/orders/{order_id}")
    assert order_view["statusId"] == "OrderPlaced" and order_view["grandTotal"] == Decimal("80.25")
    assert [part["orderPartSeqId"] for part in order_view["parts"]] == ["01"]
    assert [p["paymentId"] for p in order_view["payments"]] == [payment_id]


async def test_release_and_order_authorization_paths(client: Client, context: MantleTestContext) -> None:
    await context.entity.create(
        "mantle.product.store.ProductStorePaymentGateway",
        {
            "productStoreId": "STORE",
            "paymentInstrumentEnumId": "PiCreditCard",
            "paymentGatewayConfigId": "TEST_APPROVE",
        },
    )
    order = await call(
        client,
        "POST",
        "/orders",
        {
            "customerPartyId": "C",
            "vendorPartyId": "V",
            "currencyUomId": "USD",
            "grandTotal": 5,
            "productStoreId": "STORE",
        },
    )
    method = await call(client, "POST", "/parties/paymentMethods", {"ownerPartyId": "C"})
    added = await call(
        client, "POST", f"/orders/{order['orderId']}/parts/01/payments", {"paymentMethodId": method["paymentMethodId"]}
    )
    result = await call(client, "POST", f"/orders/{order['orderId']}/payments/authorize")
    assert result == {"authFailed": False, "totalAuthorized": 5}
    released = await call(client, "POST", f"/payments/{added['paymentId']}/gateways/release")
    assert released["paymentGatewayResponseId"]
    store = await call(client, "POST", f"/payments/{added['paymentId']}/gateways/store/STORE/authorize")
    assert store["paymentGatewayResponse"]["resultSuccess"] == "Y"


async def test_errors_come_in_moquis_shape(client: Client, context: MantleTestContext) -> None:
    payment = await context.entity.create(
        "mantle.account.payment.Payment", {"statusId": "PmntPromised", "amount": Decimal("3.00")}
    )
    payment_id = payment["paymentId"]
    error = await call(client, "POST", f"/payments/{payment_id}/gateways/release", status=400)
    assert error == {
        "errorCode": 400,
        "errors": f"Payment {payment_id} must be in the authorized status to release, but is PmntPromised\n",
    }
    error = await call(client, "POST", f"/payments/{payment_id}/gateways/refund", {"amount": -1}, status=400)
    assert "must be delivered (captured) or confirmed to refund" in error["errors"]
    error = await call(client, "POST", "/orders", {"customerPartyId": "C"}, status=400)
    assert "Field cannot be empty (for field Vendor Party ID of service" in error["errors"]

    response = await client.post(f"/rest/s1/mantle/payments/{payment_id}/gateways/authorize")
    assert response.status == 401
    assert (await response.json())["errorCode"] == 401
    assert (await context.entity.find_one("mantle.account.payment.Payment", {"paymentId": payment_id}) or {})[
        "statusId"
    ] == "PmntPromised"


def _our_routes() -> dict[tuple[str, str], str]:
    # (method, path with ids as {}) -> service, walked from our RestApi's tree.
    routed: dict[tuple[str, str], str] = {}
    pending: list[tuple[Any, str]] = [(mantle_rest_api().tree, "")]
    while pending:
        node, prefix = pending.pop()
        for method, service in node.methods.items():
            routed[(method, prefix.strip("/"))] = service
        pending.extend((child, f"{prefix}/{name}") for name, child in node.resources.items())
        if node.id_node is not None:
            pending.append((node.id_node, prefix + "/{}"))
    return routed


def _mantle_routes(file: Path) -> dict[tuple[str, str], str]:
    # The same walk over Mantle's own mantle.rest.xml; entity operations are named "entity:<name>:<operation>".
    routed: dict[tuple[str, str], str] = {}
    pending: list[tuple[Any, str]] = [(etree.parse(str(file)).getroot(), "")]
    while pending:
        element, prefix = pending.pop()
        for child in element:
            if child.tag == "method":
                target = child[0]
                name = target.get("name") if target.tag == "service" else f"entity:{target.get('name')}"
                routed[(str(child.get("type")), prefix.strip("/"))] = str(name)
            elif child.tag == "resource":
                pending.append((child, f"{prefix}/{child.get('name')}"))
            elif child.tag == "id":
                pending.append((child, prefix + "/{}"))
    return routed


OURS_ONLY = {("get", "payments/{}/gatewayResponses")}


def test_paths_and_services_match_mantle_rest_xml() -> None:
    mantle = _mantle_routes(MANTLE_REST_XML)
    ours = _our_routes()
    assert set(ours) - set(mantle) == OURS_ONLY
    for key, service in ours.items():
        if key in OURS_ONLY:
            continue
        if mantle[key].startswith("entity:"):
            # Mantle answers these with an entity operation; we route them to a service of ours.
            assert key in {("get", "payments/{}"), ("get", "orders/{}"), ("post", "parties/paymentMethods")}
        else:
            assert service == mantle[key], key
