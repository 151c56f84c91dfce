"""Webhook deliveries outnumbering the pool's connections all complete, never deadlock.

Each delivery holds its event's lease (a row, service/named_lease.py), not a connection, while it reads and writes:
each of its database steps takes a connection for itself alone, so deliveries only queue for connections, briefly.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer

from moqui_bridge.mantle import names
from service.app import APP_STATE, create_app
from service.config import load_settings
from service.webhooks.context import WebhookContext
from service.webhooks.event_log import SWE_IGNORED
from service.webhooks.processing import process_event
from tests.webhooks.conftest import CONFIG_ID, EVENT, SECRET_KEY, WEBHOOK_SECRET

POOL_SIZE = 4
DELIVERIES = 3 * POOL_SIZE


async def test_more_concurrent_deliveries_than_connections_all_complete(
    entity_database_dsn: str, stripe_emulator_url: str
) -> None:
    gateway = {"secret_key": SECRET_KEY, "api_base": stripe_emulator_url, "webhook_secret": WEBHOOK_SECRET}
    settings = load_settings(
        environment={},
        overrides={
            "server": {},
            "database": {"pool_min_size": 1, "pool_max_size": POOL_SIZE},
            "gateways": {CONFIG_ID: gateway},
        },
    )
    client = TestClient(TestServer(create_app(settings, entity_database_dsn), host="127.0.0.1"))
    await client.start_server()
    try:
        runtime = client.app[APP_STATE].require_runtime()
        await runtime.entity.store(
            names.GATEWAY_CONFIG, {"paymentGatewayConfigId": CONFIG_ID, "paymentGatewayTypeEnumId": "PgtStripe"}
        )
        context = WebhookContext(runtime.entity, runtime.gateways, runtime.require_mantle(), CONFIG_ID)
        events = [
            {"id": f"evt_pool_{i}", "type": "customer.created", "data": {"object": {"id": f"cus_{i}"}}}
            for i in range(DELIVERIES)
        ]
        # Every event delivered twice at once, as Stripe may: the event's lease serializes each pair.
        deliveries = [process_event(context, event, json.dumps(event)) for event in events for _ in range(2)]
        results = await asyncio.wait_for(asyncio.gather(*deliveries), timeout=60)

        assert [result.status_id for result in results] == [SWE_IGNORED] * (2 * DELIVERIES)
        assert sum(result.duplicate for result in results) == DELIVERIES
        rows = await runtime.entity.find(EVENT, {"paymentGatewayConfigId": CONFIG_ID})
        assert sorted(row["eventId"] for row in rows) == sorted(f"evt_pool_{i}" for i in range(DELIVERIES))
    finally:
        await client.close()
