"""service.background: one leader among the processes sharing a database, take-over when it stops or its
connection dies, and a failing job that does not stop the others (real PostgreSQL, real advisory locks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from service.background import BackgroundJobs
from tests.fixtures.postgres import fetch_value

RETRY = 0.2


async def _until(condition: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


@asynccontextmanager
async def _instances(dsn: str, count: int, runs: list[str]) -> AsyncIterator[list[BackgroundJobs]]:
    """`count` BackgroundJobs on one database, each with a job that records which instance ran it."""
    instances = []
    for number in range(count):
        jobs = BackgroundJobs(dsn, retry_seconds=RETRY)

        async def tick(name: str = f"instance-{number}") -> None:
            runs.append(name)

        jobs.register("tick", 0.05, tick)
        instances.append(jobs)
    for jobs in instances:
        await jobs.start()
    try:
        yield instances
    finally:
        for jobs in instances:
            await jobs.stop()


async def test_exactly_one_instance_runs_the_jobs_and_another_takes_over(database_dsn: str) -> None:
    runs: list[str] = []
    async with _instances(database_dsn, 3, runs) as instances:
        await _until(lambda: len(runs) >= 5)
        leaders = [jobs for jobs in instances if jobs.is_leader]
        assert len(leaders) == 1
        first = f"instance-{instances.index(leaders[0])}"
        assert set(runs) == {first}

        await leaders[0].stop()
        runs.clear()
        await _until(lambda: len(runs) >= 5)
        assert sum(jobs.is_leader for jobs in instances) == 1
        assert first not in runs and len(set(runs)) == 1


async def test_a_lost_lock_connection_is_noticed_and_leadership_taken_again(database_dsn: str) -> None:
    runs: list[str] = []
    async with _instances(database_dsn, 1, runs) as (jobs,):
        await _until(lambda: jobs.is_leader and len(runs) >= 2)
        # The database drops the leader's connection (a restart, a network cut): the lock is gone with it.
        terminated = await fetch_value(
            database_dsn,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted",
        )
        assert terminated == 1
        await _until(lambda: not jobs.is_leader)
        runs.clear()
        await _until(lambda: jobs.is_leader and len(runs) >= 2)


async def test_a_failing_job_is_recorded_and_runs_again_while_others_run(database_dsn: str) -> None:
    jobs = BackgroundJobs(database_dsn, retry_seconds=RETRY)
    attempts: list[int] = []
    ticks: list[int] = []

    async def failing() -> None:
        attempts.append(1)
        raise RuntimeError("the database said no")

    async def tick() -> None:
        ticks.append(1)

    failing_job = jobs.register("failing", 0.05, failing)
    jobs.register("tick", 0.05, tick)
    with pytest.raises(ValueError, match="already registered"):
        jobs.register("tick", 1, tick)
    await jobs.start()
    try:
        await _until(lambda: len(attempts) >= 3 and len(ticks) >= 3)
    finally:
        await jobs.stop()
    assert failing_job.last_error == "RuntimeError: the database said no" and failing_job.runs >= 3


async def test_jobs_are_registered_before_start(database_dsn: str) -> None:
    jobs = BackgroundJobs(database_dsn, retry_seconds=RETRY)

    async def nothing() -> None:
        return None

    await jobs.start()
    try:
        with pytest.raises(RuntimeError, match="before start"):
            jobs.register("late", 1, nothing)
        await _until(lambda: jobs.is_leader)  # with no job it still leads, holding the lock, until stopped
    finally:
        await jobs.stop()
    assert not jobs.is_leader
