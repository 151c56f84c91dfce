"""`moqui-stripe serve`: the embedded default database or a given one, the app, and a clean stop on a signal."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from moqui_bridge.database.pool import DatabaseUnavailableError
from moqui_bridge.database.postgres_server import PostgresServer, PostgresServerError
from service.app import create_app
from service.config import ConfigError, Settings
from service.database_setup import SchemaError
from service.http_limits import apply_http_limits, runner_options
from service.maintenance import install_background_jobs

log = logging.getLogger(__name__)

GENERATED_KEY_NAME = "generated"


def ensure_api_key(settings: Settings, data_dir: Path) -> Settings:
    """With no api key configured, use (or create) one kept in `<data_dir>/api-key`, readable by the owner only.

    So `moqui-stripe serve` works with no setup and is still never open: the operator reads the key from the file.
    """
    if settings.server.api_keys:
        return settings
    key_file = data_dir / "api-key"
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
        log.info("no server.api_keys configured: generated an api key in %s", key_file)
    key = key_file.read_text(encoding="utf-8").strip()
    server = settings.server.model_copy(update={"api_keys": {GENERATED_KEY_NAME: SecretStr(key)}})
    return settings.model_copy(update={"server": server})


@asynccontextmanager
async def database_for(settings: Settings) -> AsyncIterator[str]:
    """The configured database URL, or a private PostgreSQL in the data folder for as long as the block runs."""
    if settings.database.url is not None:
        yield settings.database.url.get_secret_value()
        return
    if settings.server.mode == "shared":
        raise ConfigError("shared mode needs database.url (Moqui's PostgreSQL); embedded is standalone only")
    server = PostgresServer(settings.database.data_dir, database="moqui_stripe", keep_data=True)
    log.info("starting the embedded PostgreSQL in %s", settings.database.data_dir)
    try:
        # Inside the try: an interrupted start (a stop signal cancels it) still ends with the server stopped.
        await server.start()
        yield server.dsn()
    finally:
        await server.stop()


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; configuration and database problems end with a ConfigError (one line).

    The signal handlers are installed first: a signal during startup (say, while the embedded PostgreSQL creates
    its database or the schema is created) cancels the startup, whose cleanup then stops what was started, instead
    of the default handler killing the process and leaving a postmaster behind.
    """
    settings = ensure_api_key(settings, settings.database.data_dir.parent)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None  # serve always runs as a task (asyncio.run)
    stop = asyncio.Event()
    serving = False

    def on_stop_signal() -> None:
        if stop.is_set():
            return
        stop.set()
        if not serving:
            task.cancel()

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, on_stop_signal)
    try:
        async with database_for(settings) as dsn:
            app = create_app(settings, dsn)
            install_background_jobs(app)
            apply_http_limits(app, settings.server)
            runner = web.AppRunner(app, access_log=None, **runner_options(settings.server))
            await runner.setup()
            try:
                site = web.TCPSite(runner, settings.server.host, settings.server.port)
                await site.start()
                serving = True
                log.info(
                    "moqui-stripe (%s) listening on http://%s:%s",
                    settings.server.mode,
                    settings.server.host,
                    settings.server.port,
                )
                await stop.wait()
            finally:
                await runner.cleanup()
    except asyncio.CancelledError:
        if not stop.is_set():
            raise  # cancelled by someone else: not ours to swallow
        task.uncancel()
        log.info("stopped by a signal during startup")
    except (PostgresServerError, DatabaseUnavailableError, SchemaError, OSError) as error:
        raise ConfigError(str(error)) from None
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)
