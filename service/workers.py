"""`moqui-stripe serve --workers N`: N worker processes answering on one port, started by one parent.

The parent does the start-up work once (the embedded PostgreSQL, schema and seed data, the connection budget:
`prepare_once`) and
then starts the workers as fresh interpreters (multiprocessing's spawn: no event loop or pool is inherited). Each
worker binds the port itself with SO_REUSEPORT, so the kernel spreads new connections over the workers evenly; the
parent holds a bound (not listening) socket on the same port from before the first worker starts until the last one
has stopped, so the port is checked once and cannot be taken by another program between workers' restarts.

Stopping: SIGTERM or SIGINT to the parent is passed on to every worker, which stops accepting, closes idle
connections and waits up to `server.shutdown_timeout_seconds` for requests in flight (and so their Stripe calls) to
finish, then exits; a worker still running a few seconds after that is killed. A worker that dies on its own is
started again. Metrics: the workers share a prometheus_client multiprocess directory (service/metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from aiohttp import web

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity import EntityFacade
from service import metrics
from service.config import ConfigError, Settings
from service.connection_budget import check_connection_budget
from service.database_setup import load_entity_registry, prepare_database
from service.logging_setup import configure_logging, configured_secrets

__all__ = ["WorkerSpec", "bind_port", "prepare_once", "run_workers", "serve_in_process"]

log = logging.getLogger(__name__)

# Beyond the shutdown timeout, how long a stopping worker may take to close its pool and exit before it is killed.
_EXIT_GRACE_SECONDS = 5.0
# A worker that dies sooner than this after its start is not restarted (it would only die again: say a bad key).
_MIN_WORKER_LIFETIME_SECONDS = 5.0


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker process needs: the settings (api key resolved), the database and the port to bind."""

    settings: Settings
    database_dsn: str
    port: int


def bind_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) with SO_REUSEPORT: holds the port for the workers and resolves port 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((host, port))
    except OSError:
        holder.close()
        raise
    return holder


async def prepare_once(settings: Settings, database_dsn: str) -> None:
    """The start-up work done once for all processes: the connection budget, and with workers the schema."""
    pool = await create_pool(database_dsn, min_size=1, max_size=2)
    try:
        await check_connection_budget(settings, pool)
        if settings.server.workers > 1:
            await prepare_database(EntityFacade(pool, load_entity_registry()), list(settings.gateways))
    finally:
        await pool.close()


async def serve_in_process(
    settings: Settings,
    database_dsn: str,
    stop: asyncio.Event,
    *,
    port: int,
    reuse_port: bool,
    prepare_schema: bool,
    on_listening: Callable[[], None] | None = None,
) -> None:
    """Serve the app in this process until `stop` is set, then shut down gracefully (finish requests in flight)."""
    # The app's imports are heavy; the parent of workers never needs them.
    from service.app import create_app
    from service.http_limits import apply_http_limits, runner_options
    from service.maintenance import install_background_jobs

    app = create_app(settings, database_dsn, prepare_schema=prepare_schema)
    # Every process competes for the background jobs' leader lock: one among all processes and hosts runs them.
    install_background_jobs(app)
    apply_http_limits(app, settings.server)
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=settings.server.shutdown_timeout_seconds,
        **runner_options(settings.server),
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.server.host, port, reuse_port=reuse_port or None)
        await site.start()
        if on_listening is not None:
            on_listening()
        log.info("moqui-stripe listening on http://%s:%s", settings.server.host, port)
        await stop.wait()
        log.info(
            "stopping: no new connections; waiting up to %gs for requests in flight",
            settings.server.shutdown_timeout_seconds,
        )
    finally:
        await runner.cleanup()


def _worker_main(spec: WorkerSpec) -> None:
    """A worker process: serve until SIGTERM/SIGINT, then stop gracefully."""
    configure_logging(spec.settings.log_level, configured_secrets(spec.settings))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        await serve_in_process(
            spec.settings, spec.database_dsn, stop, port=spec.port, reuse_port=True, prepare_schema=False
        )

    asyncio.run(main())


class _Workers:
    """The running workers, restarted when one dies while serving."""

    def __init__(self, spec: WorkerSpec, count: int) -> None:
        self._spec = spec
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._processes: dict[int, BaseProcess] = {}
        self._started_at: dict[int, float] = {}
        self._stopping = False
        self._all_exited = asyncio.Event()
        self.failed = asyncio.Event()

    def start_all(self) -> None:
        for _ in range(self._count):
            self._start_one()

    def _start_one(self) -> None:
        process = self._context.Process(target=_worker_main, args=(self._spec,), name="moqui-stripe-worker")
        process.start()
        assert process.pid is not None
        self._processes[process.pid] = process
        loop = asyncio.get_running_loop()
        self._started_at[process.pid] = loop.time()
        loop.add_reader(process.sentinel, self._exited(process))
        log.info("worker %s started", process.pid)

    def _exited(self, process: BaseProcess) -> Callable[[], None]:
        def on_exit() -> None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(process.sentinel)
            process.join()
            pid = process.pid
            assert pid is not None
            self._processes.pop(pid, None)
            metrics.mark_worker_dead(pid)
            lived = loop.time() - self._started_at.pop(pid, 0.0)
            if not self._processes:
                self._all_exited.set()
            if self.failed.is_set() or self._stopping:
                return
            if lived < _MIN_WORKER_LIFETIME_SECONDS:
                log.error("worker %s exited with %s right after its start; stopping", pid, process.exitcode)
                self.failed.set()
                return
            log.error("worker %s exited with %s; starting another", pid, process.exitcode)
            self._start_one()

        return on_exit

    async def stop(self, shutdown_seconds: float) -> None:
        """SIGTERM every worker, wait for them to finish in-flight requests, then kill those still running."""
        self._stopping = True
        for process in list(self._processes.values()):
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        if self._processes:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(shutdown_seconds + _EXIT_GRACE_SECONDS):
                    await self._all_exited.wait()
        loop = asyncio.get_running_loop()
        for process in list(self._processes.values()):
            log.error("worker %s did not stop in time; killing it", process.pid)
            process.kill()
            process.join()
            metrics.mark_worker_dead(process.pid or 0)
            loop.remove_reader(process.sentinel)
            self._processes.pop(process.pid or 0, None)


async def run_workers(settings: Settings, database_dsn: str, stop: asyncio.Event) -> None:
    """Run `settings.server.workers` workers on the configured port until `stop` is set (the parent's loop).

    The caller has done the start-up work (database, schema, budget); the workers skip it.
    """
    server = settings.server
    holder = bind_port(server.host, server.port)
    metrics_directory = Path(tempfile.mkdtemp(prefix="moqui-stripe-metrics-"))
    try:
        metrics.use_multiprocess_directory(metrics_directory)
        port = holder.getsockname()[1]
        spec = WorkerSpec(settings, database_dsn, port)
        workers = _Workers(spec, server.workers)
        workers.start_all()
        log.info("moqui-stripe: %d workers on http://%s:%s", server.workers, server.host, port)
        stopped = asyncio.create_task(stop.wait())
        failed = asyncio.create_task(workers.failed.wait())
        await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        failed.cancel()
        await workers.stop(server.shutdown_timeout_seconds)
        if workers.failed.is_set():
            raise ConfigError("a worker exited right after its start (its log says why)")
    finally:
        holder.close()
        os.environ.pop(metrics.MULTIPROCESS_DIRECTORY_VARIABLE, None)
        shutil.rmtree(metrics_directory, ignore_errors=True)
