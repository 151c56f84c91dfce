"""Hostile input over real HTTP: the whole app (standalone, Mantle's rules in process) on loopback over a fresh
seeded database, the Stripe emulator as Stripe, a webhook secret and a checkout link secret configured, and a
fingerprint of every table to prove that a refused request changed nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import APP_STATE, create_app
from service.config import load_settings
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from stripe_emulator.control import EmulatorControl
from tests.standalone.conftest import (
    API_KEY,
    CONFIG_ID,
    SECRET_KEY,
    Client,
    Integrator,
    StandaloneWorld,
    install_gateway_configs,
    settings_overrides,
)

WEBHOOK_SECRET = "whsec_hostile_input_tests"
LINK_SECRET = "hostile-input-link-secret"
SHOP = "http://shop.example"
# Rows an anonymous sender may change by design: the tally of refused webhook deliveries (written a second later by
# the endpoint's counters, issue 12 item 10) and webhook event rows.
AUDIT_TABLES = frozenset({"stripe_webhook_event", "stripe_webhook_rejection"})
# ...and the id banks those rows are numbered from.
AUDIT_SEQUENCES = ("stripe.StripeWebhookEvent", "stripe.StripeWebhookRejection")


async def table_fingerprints(
    connection: asyncpg.Connection[Any], *, ignore: frozenset[str] = frozenset()
) -> dict[str, str]:
    """An md5 of every table's rows (in a stable order), by table name: equal fingerprints, unchanged tables.

    Tables in `ignore` are left out, and so are their id banks in SEQUENCE_VALUE_ITEM."""
    tables = [
        row["tablename"]
        for row in await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        if row["tablename"] not in ignore
    ]
    skipped_banks = ", ".join(f"'{name}'" for name in AUDIT_SEQUENCES) if ignore else "''"
    query = " UNION ALL ".join(
        f"SELECT '{name}' AS name, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest "
        f'FROM "{name}" t' + (f" WHERE t.seq_name NOT IN ({skipped_banks})" if name == "sequence_value_item" else "")
        for name in tables
    )
    return {row["name"]: row["digest"] for row in await connection.fetch(query)}


@dataclass
class HostileWorld:
    """The standalone world, the raw client, and a database session of its own for fingerprints."""

    world: StandaloneWorld
    client: Client
    observer: asyncpg.Connection[Any]

    async def fingerprints(self) -> dict[str, str]:
        """Every table's fingerprint except the webhook audit rows."""
        return await table_fingerprints(self.observer, ignore=AUDIT_TABLES)

    async def raw(
        self, method: str, path: str, body: bytes | str | None = None, *, api_key: bool = True, **headers: str
    ) -> tuple[int, str, Any]:
        """One request with a raw body (sent as JSON unless headers say otherwise); status, content type and the
        parsed JSON answer (None when the answer is not JSON)."""
        sent = dict(headers)
        if api_key:
            sent.setdefault("api_key", API_KEY)
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        response = await self.client.request(method, path, data=body, headers=sent)
        text = await response.text()
        try:
            parsed = await response.json(content_type=None)
        except ValueError:
            parsed = None
        assert text is not None
        return response.status, response.content_type, parsed


def hostile_settings_overrides(stripe_emulator_url: str) -> dict[str, Any]:
    """The standalone settings plus a webhook secret and checkout links."""
    overrides = settings_overrides(stripe_emulator_url)
    overrides["gateways"][CONFIG_ID] = {**overrides["gateways"][CONFIG_ID], "webhook_secret": WEBHOOK_SECRET}
    overrides["checkout"] = {"link_secret": LINK_SECRET, "allowed_redirect_origins": [SHOP]}
    return overrides


@pytest.fixture
async def hostile(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[HostileWorld]:
    """The app on 127.0.0.1 with gateway configs installed and the emulator reset."""
    settings = load_settings(environment={}, overrides=hostile_settings_overrides(stripe_emulator_url))
    app = create_app(settings, entity_database_dsn)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    observer = StripeGateway("hostile-observer", StripeAccountSettings(SECRET_KEY, api_base=stripe_emulator_url))
    database_observer = await asyncpg.connect(entity_database_dsn)
    try:
        await install_gateway_configs(app[APP_STATE].require_runtime().entity)
        world = StandaloneWorld(Integrator(client), app, emulator_control, observer.client)
        yield HostileWorld(world, client, database_observer)
    finally:
        await database_observer.close()
        await observer.close()
        await client.close()
