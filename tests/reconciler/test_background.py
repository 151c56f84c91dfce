"""The reconciler as a background job: registered with the service's jobs, run by exactly one of the instances that
share a database (service/background's advisory-lock leader), and as `moqui-stripe reconcile` (one pass, a report)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from aiohttp.test_utils import TestServer

from service.app import create_app
from service.background import BackgroundJobs
from service.cli import main
from service.config import load_settings
from service.maintenance import BACKGROUND_JOBS, RECONCILE_JOB, install_background_jobs
from stripe_emulator.control import EmulatorControl
from tests.gateway_api.conftest import gateway_settings


@asynccontextmanager
async def _instances(dsn: str, emulator_url: str, count: int) -> AsyncIterator[list[BackgroundJobs]]:
    """`count` service instances on one database, each with its background jobs; their jobs."""
    settings = load_settings(
        environment={}, overrides={**gateway_settings(emulator_url), "reconciler": {"interval_seconds": 1}}
    )
    async with AsyncExitStack() as stack:
        jobs = []
        for _ in range(count):
            app = create_app(settings, dsn)
            install_background_jobs(app, retry_seconds=0.2)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            stack.push_async_callback(server.close)
            jobs.append(app[BACKGROUND_JOBS])
        yield jobs


def _reconciler_runs(jobs: BackgroundJobs) -> int:
    return jobs.jobs[RECONCILE_JOB].runs


async def test_the_reconciler_runs_on_one_instance_only(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    async with _instances(entity_database_dsn, stripe_emulator_url, 2) as instances:
        for _ in range(500):
            if sum(_reconciler_runs(jobs) for jobs in instances) >= 2:
                break
            await asyncio.sleep(0.02)
        ran = [jobs for jobs in instances if _reconciler_runs(jobs) > 0]
        assert len(ran) == 1 and ran[0].is_leader
        assert ran[0].jobs[RECONCILE_JOB].last_error is None
        assert sum(jobs.is_leader for jobs in instances) == 1


async def test_the_reconcile_command_prints_its_report(
    entity_database_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.to_thread(main, ["reconcile", "--database-url", entity_database_dsn])
    assert status == 0
    out = capsys.readouterr().out
    assert "in-doubt attempts examined: 0, resolved as done: 0, resolved as not done: 0, still unknown: 0" in out
