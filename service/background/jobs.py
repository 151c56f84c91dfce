"""`BackgroundJobs`: leadership by a PostgreSQL session advisory lock, and the periodic jobs the leader runs.

The package docstring (service/background/__init__.py) is the user's guide; this module is the mechanism.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from moqui_bridge.entity.locks import advisory_lock_key
from service import metrics

__all__ = ["DEFAULT_LOCK_NAME", "BackgroundJobs", "Job", "JobFunction"]

log = logging.getLogger(__name__)

JobFunction = Callable[[], Awaitable[None]]
DEFAULT_LOCK_NAME = "moqui-stripe:background-jobs"
_CLOSE_TIMEOUT_SECONDS = 5.0


@dataclass
class Job:
    """A registered job and what happened at its last run (for logs, tests and operators)."""

    name: str
    interval_seconds: float
    function: JobFunction
    first_delay_seconds: float = 0.0
    runs: int = 0
    last_finished: datetime | None = None
    last_error: str | None = None
    _running: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def run(self) -> None:
        """Run once (never two runs at a time); a failure is logged and kept in last_error, not raised."""
        async with self._running:
            try:
                await self.function()
                self.last_error = None
            except Exception as error:  # a job's failure must not end the scheduler; it runs again next time
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("background job %s failed", self.name)
            finally:
                self.runs += 1
                self.last_finished = datetime.now(UTC)
                metrics.count_background_job(self.name, failed=self.last_error is not None)


class BackgroundJobs:
    """Periodic jobs run by whichever process sharing the database holds the advisory lock `lock_name`."""

    def __init__(self, dsn: str, *, lock_name: str = DEFAULT_LOCK_NAME, retry_seconds: float = 5.0) -> None:
        self._dsn = dsn
        self._lock_key = advisory_lock_key(lock_name)
        self.lock_name = lock_name
        self.retry_seconds = retry_seconds
        self._jobs: dict[str, Job] = {}
        self._task: asyncio.Task[None] | None = None
        self._leader = False

    @property
    def jobs(self) -> Mapping[str, Job]:
        """The registered jobs by name."""
        return dict(self._jobs)

    @property
    def is_leader(self) -> bool:
        """Whether this process holds the lock and runs the jobs right now."""
        return self._leader

    def register(
        self, name: str, interval_seconds: float, function: JobFunction, *, first_delay_seconds: float = 0.0
    ) -> Job:
        """Add a job (before start()); names are unique."""
        if self._task is not None:
            raise RuntimeError("register background jobs before start()")
        if name in self._jobs:
            raise ValueError(f"a background job named {name} is already registered")
        if interval_seconds <= 0 or first_delay_seconds < 0:
            raise ValueError("a background job needs a positive interval and a delay of zero or more")
        job = Job(name, interval_seconds, function, first_delay_seconds)
        self._jobs[name] = job
        return job

    async def run_now(self, name: str) -> None:
        """Run one job here and now, whether or not this process leads (waits for a run in progress)."""
        await self._jobs[name].run()

    async def start(self) -> None:
        """Seek leadership in the background and, once leader, run the jobs until stop()."""
        if self._task is None:
            self._task = asyncio.create_task(self._lead_forever(), name="background-jobs")

    async def stop(self) -> None:
        """Cancel whatever runs, give up the lock and close its connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _lead_forever(self) -> None:
        while True:
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("background jobs: cannot connect to the database (%s); retrying", error)
                await asyncio.sleep(self.retry_seconds)
                continue
            try:
                await self._lead_on(connection)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("background jobs: lock connection lost (%s); retrying", error)
            finally:
                if self._leader:
                    log.info("background jobs: no longer the leader")
                self._leader = False
                metrics.set_background_leader(False)
                # Closing the connection releases the lock, also when the close itself cannot finish cleanly.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(connection.close()), _CLOSE_TIMEOUT_SECONDS)
                if not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(self.retry_seconds)

    async def _lead_on(self, connection: asyncpg.Connection) -> None:
        """Wait for the lock on `connection`, then run the jobs while a watchdog checks that the lock still holds."""
        # Polled, not waited for (pg_advisory_lock): a waiting statement would hide a dead connection from us.
        while True:
            if await connection.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                break
            await asyncio.sleep(self.retry_seconds)
        self._leader = True
        metrics.set_background_leader(True)
        log.info("background jobs: this process leads (%s)", ", ".join(self._jobs) or "no jobs")
        watchdog = asyncio.create_task(self._watch(connection))
        schedule = asyncio.create_task(self._schedule())
        try:
            done, _ = await asyncio.wait({watchdog, schedule}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the watchdog's connection error
        finally:
            for task in (watchdog, schedule):
                task.cancel()
            await asyncio.gather(watchdog, schedule, return_exceptions=True)

    async def _watch(self, connection: asyncpg.Connection) -> None:
        """Return (by raising) when the lock's connection stops answering: the lock is gone with it."""
        while True:
            await asyncio.sleep(self.retry_seconds)
            await asyncio.wait_for(connection.fetchval("SELECT 1"), self.retry_seconds)

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        due = {job.name: loop.time() + job.first_delay_seconds for job in self._jobs.values()}
        while due:
            name = min(due, key=due.__getitem__)
            await asyncio.sleep(max(0.0, due[name] - loop.time()))
            job = self._jobs[name]
            await job.run()
            due[name] = loop.time() + job.interval_seconds
        await asyncio.Event().wait()  # nothing registered: lead (and hold the lock) until stopped
