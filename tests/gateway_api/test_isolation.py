"""The service keeps to its own database (docs/gateway-api.md: "This service never reads or writes the caller's
database"): its configuration has no place for Moqui's database credentials, and the process connects to no database
but its own."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel

from service.config import MoquiSettings, Settings
from stripe_emulator.control import EmulatorControl
from tests.gateway_api.conftest import gateway_settings, next_payment_id, running_world


def _setting_names(model: type[BaseModel], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(prefix + name)
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _setting_names(annotation, f"{prefix}{name}.")
    return names


def test_the_configuration_has_no_moqui_database_credentials() -> None:
    names = _setting_names(Settings)
    # One database section, this service's own; Moqui is reached only through its REST API (a URL and a user or
    # api key for Moqui's REST, never a JDBC/PostgreSQL URL, user or password of Moqui's database).
    assert {name for name in names if "database" in name or "dsn" in name or "jdbc" in name} == {
        "database",
        "database.url",
        "database.data_dir",
        "database.pool_min_size",
        "database.pool_max_size",
    }
    assert set(MoquiSettings.model_fields) == {
        "base_url",
        "username",
        "password",
        "api_key",
        "timeout_seconds",
        "client_name",
    }
    assert "mode" not in Settings.model_fields["server"].annotation.model_fields  # type: ignore[union-attr]


async def _backends(dsn: str) -> dict[int, str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid, datname FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return {int(row["pid"]): str(row["datname"]) for row in rows}


async def test_the_process_connects_only_to_its_own_database(
    entity_database_dsn: str, postgres_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    before = await _backends(postgres_dsn)
    overrides = gateway_settings(stripe_emulator_url)
    async with running_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as world:
        payment_id = next_payment_id()
        intent = (await world.authorize(payment_id)).body["paymentIntentId"]
        await world.on_intent("capture", payment_id, intent)
        await world.on_intent("details", payment_id, intent)
        own = await world.entity.pool.fetchval("SELECT current_database()")
        during = await _backends(postgres_dsn)
    opened = {pid: database for pid, database in during.items() if pid not in before}
    assert opened, "the app opened no connection at all"
    assert set(opened.values()) == {own}
