"""GET /rest/s1/openapi.json: an OpenAPI 3.1 description made from the dispatcher's own routes and the services'
parameter models, valid by openapi-spec-validator, served without credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from service.app import create_app
from service.config import load_settings
from service.rest_api import rest_apis
from tests.standalone.conftest import settings_overrides
from tests.web.services import AUTHORIZE, ECHO


async def test_the_test_roots_routes_are_described_from_their_declarations(client: TestClient[Any, Any]) -> None:
    response = await client.get("/rest/s1/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document = await response.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/rest/s1"}]

    authorize = document["paths"]["/test/payments/{paymentId}/authorize"]["post"]
    assert authorize["summary"] == AUTHORIZE
    assert [(p["name"], p["in"], p["required"]) for p in authorize["parameters"]] == [("paymentId", "path", True)]
    body = authorize["requestBody"]["content"]["application/json"]["schema"]
    # The path's id is not asked for twice; the rest of AuthorizeIn is the body, in declaration order.
    assert list(body["properties"]) == ["paymentGatewayConfigId", "cardSecurityCode", "amount"]
    assert body["required"] == ["paymentGatewayConfigId"]
    assert {"type": "number"} in body["properties"]["amount"]["anyOf"]
    answer = authorize["responses"]["200"]["content"]["application/json"]["schema"]
    assert "paymentGatewayResponseId" in answer["properties"]
    assert authorize["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MoquiError"
    }

    echo = document["paths"]["/test/echo"]
    assert set(echo) == {"get", "post"}
    query = {p["name"]: p for p in echo["get"]["parameters"]}
    assert [p["in"] for p in query.values()] == ["query"] * 5
    assert query["count"]["schema"] == {"type": "integer", "format": "int32"}
    assert query["flag"]["schema"] == {"type": "boolean"}
    assert echo["get"]["summary"] == ECHO


@pytest.fixture
async def standalone_client(entity_database_dsn: str, stripe_emulator_url: str) -> AsyncIterator[TestClient[Any, Any]]:
    settings = load_settings(environment={}, overrides=settings_overrides(stripe_emulator_url))
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, entity_database_dsn), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def test_every_route_of_the_service_is_described_and_the_document_is_valid(
    standalone_client: TestClient[Any, Any],
) -> None:
    response = await standalone_client.get("/rest/s1/openapi.json")  # no credentials needed
    assert response.status == 200
    document = await response.json()
    validate(document)

    described = {operation["summary"] for methods in document["paths"].values() for operation in methods.values()}
    for api in rest_apis():
        assert api.service_names() <= described, api.root
    # Ids named after entity fields carry their column's length, as the dispatcher refuses longer ones.
    refund = document["paths"]["/mantle/payments/{paymentId}/gateways/refund"]["post"]
    assert refund["parameters"][0]["schema"] == {"type": "string", "maxLength": 40}
    assert refund["security"][0] == {"basic": []}
    # Each operation is named once.
    operation_ids = [op["operationId"] for methods in document["paths"].values() for op in methods.values()]
    assert len(operation_ids) == len(set(operation_ids))
