"""Request-level idempotency over real HTTP: the whole app (standalone, Mantle's rules in process) on loopback over a
fresh seeded database, the Stripe emulator as Stripe, and two integrators with their own api keys.

The scenarios reuse the standalone helpers (orders, payments, what Stripe holds); requests that must be compared byte
for byte go through `Caller.send`, which keeps the raw answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from moqui_bridge.web import moqui_json
from service.app import APP_STATE, create_app
from service.config import load_settings
from service.context import IDEMPOTENCY_KEY_HEADER
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from stripe_emulator.control import EmulatorControl
from tests.standalone.conftest import (
    API_KEY,
    REST,
    SECRET_KEY,
    Client,
    Integrator,
    StandaloneWorld,
    install_gateway_configs,
    settings_overrides,
)

OTHER_API_KEY = "second-integrator-key"
ENTITY = "stripe.StripeIdempotentRequest"


@dataclass(frozen=True)
class Answer:
    """One raw HTTP answer: status, headers that matter here, and the body's bytes."""

    status: int
    content_type: str | None
    replayed: str | None
    body: bytes

    def json(self) -> Any:
        """The body parsed, JSON numbers with a fraction as Decimal."""
        return json.loads(self.body, parse_float=Decimal)


@dataclass
class Caller:
    """An integrator identified by its api key (or by nothing), sending raw requests."""

    client: Client
    api_key: str | None

    async def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        raw_path: bool = False,
    ) -> Answer:
        """One request to `/rest/s1/mantle<path>` (or to `path` itself with `raw_path`), a JSON body if given."""
        headers: dict[str, str] = {}
        if self.api_key is not None:
            headers["api_key"] = self.api_key
        if key is not None:
            headers[IDEMPOTENCY_KEY_HEADER] = key
        data = None
        if body is not None:
            data = moqui_json.dumps(body)
            headers["Content-Type"] = "application/json"
        response = await self.client.request(method, path if raw_path else REST + path, data=data, headers=headers)
        return Answer(
            response.status,
            response.headers.get("Content-Type"),
            response.headers.get("Idempotent-Replayed"),
            await response.read(),
        )

    async def rpc(self, method: str, params: dict[str, Any], *, key: str | None = None, call_id: int = 1) -> Answer:
        """One JSON-RPC call to /rpc/json."""
        call = {"jsonrpc": "2.0", "id": call_id, "method": method, "params": params}
        return await self.send("POST", "/rpc/json", call, key=key, raw_path=True)


@dataclass
class IdempotencyWorld:
    """The standalone world plus a second integrator and an anonymous caller."""

    world: StandaloneWorld
    first: Caller
    second: Caller
    anonymous: Caller

    async def kept_rows(self) -> list[dict[str, Any]]:
        """Every kept request, oldest first."""
        return await self.world.entity.find(ENTITY, order_by=["createdDate"])


@pytest.fixture
async def idempotency(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[IdempotencyWorld]:
    """The app on 127.0.0.1 with two api keys (`integrator`, `second`), gateway configs installed, emulator reset."""
    overrides = settings_overrides(stripe_emulator_url)
    overrides["server"]["api_keys"] = {"integrator": API_KEY, "second": OTHER_API_KEY}
    settings = load_settings(environment={}, overrides=overrides)
    app = create_app(settings, entity_database_dsn)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    observer = StripeGateway("idempotency-observer", StripeAccountSettings(SECRET_KEY, api_base=stripe_emulator_url))
    try:
        await install_gateway_configs(app[APP_STATE].require_runtime().entity)
        world = StandaloneWorld(Integrator(client), app, emulator_control, observer.client)
        yield IdempotencyWorld(world, Caller(client, API_KEY), Caller(client, OTHER_API_KEY), Caller(client, None))
    finally:
        await observer.close()
        await client.close()
