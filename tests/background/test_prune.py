"""The prune job (service/maintenance/prune.py): rows past their retention go, in batches; younger rows, and tables
of money, stay; the service runs it under its BackgroundJobs. On a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from moqui_bridge.entity import EntityFacade
from service.app import APP_STATE, create_app
from service.config import RetentionSettings, load_settings
from service.maintenance import BACKGROUND_JOBS, PRUNE_JOB, install_background_jobs
from service.maintenance.prune import BATCH_SIZE, prune_expired_records

IDEMPOTENT = "stripe.StripeIdempotentRequest"
EVENT = "stripe.StripeWebhookEvent"
OPERATION = "stripe.StripeGatewayOperation"


async def _insert_idempotent_rows(entity: EntityFacade, count: int, created: datetime, prefix: str) -> None:
    definition = entity.definition(IDEMPOTENT)
    columns = [definition.field(name).column_name for name in ("principalName", "idempotencyKey", "createdDate")]
    async with entity.pool.acquire() as connection:
        await connection.executemany(
            f"INSERT INTO {definition.table_name} ({', '.join(columns)}) VALUES ($1, $2, $3)",
            [("integrator", f"{prefix}-{number}", created) for number in range(count)],
        )


async def test_rows_past_retention_are_pruned_in_batches_and_the_rest_kept(entity_facade: EntityFacade) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    retention = RetentionSettings()  # the documented defaults: 7 and 90 days
    old_count = BATCH_SIZE * 2 + 500  # more than one batch
    await _insert_idempotent_rows(entity_facade, old_count, now - timedelta(days=8), "old")
    await _insert_idempotent_rows(entity_facade, 3, now - timedelta(days=6), "young")
    for days, event_id in ((91, "evt_old"), (89, "evt_young")):
        await entity_facade.create(
            EVENT,
            {"eventId": event_id, "paymentGatewayConfigId": "StripeGateway", "receivedDate": now - timedelta(days=days),
             "processingStatusId": "SweProcessed", "payload": "{}"},
        )  # fmt: skip
    await entity_facade.create(
        OPERATION,
        {
            "clientName": "moqui",
            "paymentId": "P1",
            "operationName": "refund",
            "startedDate": now - timedelta(days=4000),
        },
    )

    deleted = await prune_expired_records(entity_facade, retention, now=now)

    assert deleted == {IDEMPOTENT: old_count, EVENT: 1}
    kept = await entity_facade.find(IDEMPOTENT, {})
    assert sorted(row["idempotencyKey"] for row in kept) == ["young-0", "young-1", "young-2"]
    assert [row["eventId"] for row in await entity_facade.find(EVENT, {})] == ["evt_young"]
    assert len(await entity_facade.find(OPERATION, {})) == 1  # the journal of money is never pruned
    # A second run finds nothing left to do.
    assert await prune_expired_records(entity_facade, retention, now=now) == {IDEMPOTENT: 0, EVENT: 0}


async def test_a_shorter_retention_prunes_sooner(entity_facade: EntityFacade) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    await _insert_idempotent_rows(entity_facade, 2, now - timedelta(days=2), "two-days")
    retention = RetentionSettings(idempotent_request_days=1, webhook_event_days=3)
    assert await prune_expired_records(entity_facade, retention, now=now) == {IDEMPOTENT: 2, EVENT: 0}


async def test_the_service_runs_the_prune_job_under_its_background_leader(entity_database_dsn: str) -> None:
    settings = load_settings(environment={}, overrides={"server": {"api_keys": {"tests": "background-tests-key"}}})
    app = create_app(settings, entity_database_dsn)
    install_background_jobs(app, retry_seconds=0.2)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        jobs = app[BACKGROUND_JOBS]
        for _ in range(250):
            if jobs.is_leader:
                break
            await asyncio.sleep(0.02)
        assert jobs.is_leader and PRUNE_JOB in jobs.jobs
        entity = app[APP_STATE].require_runtime().entity
        now = datetime.now(UTC).replace(tzinfo=None)
        await _insert_idempotent_rows(entity, 4, now - timedelta(days=30), "stale")
        await jobs.run_now(PRUNE_JOB)
        assert await entity.find(IDEMPOTENT, {}) == [] and jobs.jobs[PRUNE_JOB].last_error is None
    finally:
        await client.close()
    assert not jobs.is_leader  # stopped with the app
