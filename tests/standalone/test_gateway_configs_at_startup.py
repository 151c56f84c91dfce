"""Standalone start-up makes the PaymentGatewayConfig row of every configured gateway (issue 12, item 3): a fresh
database with a `[gateways.StripeGateway]` section takes a payment with no data loaded by hand."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from moqui_bridge.mantle import names
from service.app import APP_STATE, create_app
from service.config import load_settings
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from stripe_emulator.control import EmulatorControl
from tests.standalone.conftest import (
    API_KEY,
    CONFIG_ID,
    GATEWAY_SERVICE_NAMES,
    SECRET_KEY,
    Client,
    Integrator,
    StandaloneWorld,
)

WEBHOOK_SECRET = "whsec_gatewayconfigtests0123"


@asynccontextmanager
async def _started(
    database_dsn: str, gateways: dict[str, Any], emulator: EmulatorControl
) -> AsyncIterator[StandaloneWorld]:
    settings = load_settings(
        environment={},
        overrides={"server": {"mode": "standalone", "api_keys": {"integrator": API_KEY}}, "gateways": gateways},
    )
    app = create_app(settings, database_dsn)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    observer = StripeGateway("startup-observer", StripeAccountSettings(SECRET_KEY, api_base=emulator.base_url))
    try:
        yield StandaloneWorld(Integrator(client), app, emulator, observer.client)
    finally:
        await observer.close()
        await client.close()


async def test_a_configured_gateway_takes_payments_on_a_fresh_database(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    gateway = {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": stripe_emulator_url}
    async with _started(entity_database_dsn, {CONFIG_ID: gateway}, emulator_control) as world:
        rows = await world.entity.find(names.GATEWAY_CONFIG, {})
        assert [row["paymentGatewayConfigId"] for row in rows] == [CONFIG_ID]
        row = rows[0]
        assert {key: row[key] for key in GATEWAY_SERVICE_NAMES} == GATEWAY_SERVICE_NAMES
        assert row["paymentGatewayTypeEnumId"] == "PgtStripe"
        assert not any(SECRET_KEY in str(value) or WEBHOOK_SECRET in str(value) for value in row.values())

        payment_id = await world.new_payment("25.00")
        await world.gateway_call("authorize", payment_id)
        await world.gateway_call("capture", payment_id)
        assert await world.status(payment_id) == "PmntDelivered"

        # The operator's own change to the row survives the next start.
        await world.entity.update(names.GATEWAY_CONFIG, {"paymentGatewayConfigId": CONFIG_ID}, {"description": "ours"})
    async with _started(entity_database_dsn, {CONFIG_ID: gateway}, emulator_control) as world:
        kept = await world.entity.find_one(names.GATEWAY_CONFIG, {"paymentGatewayConfigId": CONFIG_ID})
        assert kept is not None and kept["description"] == "ours"


async def test_no_configured_gateway_is_one_warning(
    entity_database_dsn: str, emulator_control: EmulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with _started(entity_database_dsn, {}, emulator_control) as world:
        assert await world.entity.find(names.GATEWAY_CONFIG, {}) == []
        assert world.app[APP_STATE].require_runtime() is not None
    warnings = [record for record in caplog.records if "no [gateways." in record.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
