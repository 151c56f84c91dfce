"""The processes a soak runs against: a throwaway PostgreSQL, the Stripe emulator and `moqui-stripe serve`.

The emulator and the service are separate processes on loopback, started by their README commands. The service
reads a TOML configuration written into the soak's own folder and runs with that folder as its working directory, so
`kill()` (SIGKILL, as an OOM killer or a crashed host would) followed by `start_service()` restarts it in the same
folder on the same database, as a supervisor would.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from moqui_bridge.database.pool import create_pool
from moqui_bridge.database.postgres_server import PostgresServer, free_port
from moqui_bridge.entity import EntityFacade
from service.database_setup import load_entity_registry

LOOPBACK = "127.0.0.1"
CONFIG_ID = "StripeGateway"
SECRET_KEY = "sk_test_soak"  # any sk_test_ key opens the emulator; not a secret
# The soak's own reads of Stripe use another key: Stripe rate-limits per key, so they never spend the service's budget.
OBSERVER_KEY = "sk_test_soak_observer"
STRIPE_TIMEOUT_SECONDS = 2  # the service's timeout of one Stripe request; hang faults outlast it
GATEWAY_SERVICES = "stripe.StripePaymentServices"
# Parties the orders name; standalone Mantle rules take any party id (the demo data's parties are not loaded).
CUSTOMER_PARTY_ID = "SoakCustomer"
VENDOR_PARTY_ID = "SoakVendor"


async def wait_until_answering(url: str, process: asyncio.subprocess.Process, seconds: float = 60.0) -> None:
    """Poll `url` until it answers below 500; fail early when the process has exited."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"{url}: the process exited with {process.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")
            await asyncio.sleep(0.1)


async def stripe_read(session: aiohttp.ClientSession, emulator_url: str, path: str, query: dict[str, str]) -> Any:
    """GET a Stripe API path on the emulator with the observer's key, waiting out rate limits (429)."""
    headers = {"Authorization": f"Bearer {OBSERVER_KEY}"}
    for _ in range(60):
        async with session.get(emulator_url + path, params=query, headers=headers) as response:
            body = await response.json()
            if response.status != 429:
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: {response.status} {body}")
                return body
        await asyncio.sleep(1.0)  # Stripe's limits are per second
    raise RuntimeError(f"GET {path}: still rate-limited after a minute")


def _service_config(service_port: int, emulator_url: str, dsn: str, api_key: str, webhook_secret: str) -> str:
    return f"""log_level = "WARNING"

[server]
host = "{LOOPBACK}"
port = {service_port}
api_keys = {{ soak = "{api_key}" }}

[database]
url = "{dsn}"

[gateways.{CONFIG_ID}]
secret_key = "{SECRET_KEY}"
webhook_secret = "{webhook_secret}"
api_base = "{emulator_url}"
max_network_retries = 2
timeout_seconds = {STRIPE_TIMEOUT_SECONDS}
"""


def _make_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # the PostgreSQL server runs as the postgres user and must reach its folder


def _write_private(path: Path, text: str) -> None:
    # The configuration holds the api key and the webhook secret: readable by its owner only.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")


def _child_environment(folder: Path) -> dict[str, str]:
    # The configuration file is the whole configuration: no MOQUI_STRIPE_* variable of the caller leaks in.
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("MOQUI_STRIPE_") and key != "DATABASE_URL"
    }
    environment["HOME"] = str(folder)
    return environment


@dataclass
class SoakStack:
    """The running processes and where they answer. Use `async with`."""

    folder: Path
    database: PostgresServer = field(init=False)
    service_port: int = field(default_factory=free_port)
    emulator_port: int = field(default_factory=free_port)
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_hex(24))
    kills: int = 0
    closed: bool = False
    _service: asyncio.subprocess.Process | None = None
    _emulator: asyncio.subprocess.Process | None = None

    @property
    def service_url(self) -> str:
        """Base URL of the service."""
        return f"http://{LOOPBACK}:{self.service_port}"

    @property
    def emulator_url(self) -> str:
        """Base URL of the emulator (Stripe's API and its `/_emulator` control routes)."""
        return f"http://{LOOPBACK}:{self.emulator_port}"

    @property
    def config_file(self) -> Path:
        """The service's TOML configuration."""
        return self.folder / "moqui-stripe.toml"

    async def __aenter__(self) -> SoakStack:
        await asyncio.to_thread(_make_folder, self.folder)
        self.database = PostgresServer(self.folder / "postgres", database="soak", keep_data=False, fsync=False)
        await self.database.start()
        try:
            webhook_url = f"{self.service_url}/stripe/webhook/{CONFIG_ID}"
            self._emulator = await self._spawn(
                "emulator", "--port", str(self.emulator_port), "--webhook", f"{webhook_url}={self.webhook_secret}"
            )
            await wait_until_answering(f"{self.emulator_url}/_emulator/clock", self._emulator)
            config = _service_config(
                self.service_port, self.emulator_url, self.database.dsn(), self.api_key, self.webhook_secret
            )
            await asyncio.to_thread(_write_private, self.config_file, config)
            await self.start_service()
            await self._seed_gateway_config()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _spawn(self, *arguments: str) -> asyncio.subprocess.Process:
        log = await asyncio.to_thread((self.folder / f"{arguments[0]}.log").open, "ab")
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "service.cli",
                *arguments,
                cwd=self.folder,
                env=_child_environment(self.folder),
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()

    async def start_service(self) -> None:
        """`moqui-stripe serve --config FILE` in the soak's folder; returns once `/health` answers."""
        if self.closed:
            raise RuntimeError("the soak is shutting down: not starting the service again")
        self._service = await self._spawn("serve", "--config", str(self.config_file))
        await wait_until_answering(f"{self.service_url}/health", self._service)

    async def kill_service(self) -> None:
        """SIGKILL the service (no shutdown code runs) and wait for it to be gone."""
        if not self.closed and self._service is not None and self._service.returncode is None:
            self._service.send_signal(signal.SIGKILL)
            await self._service.wait()
            self.kills += 1

    async def _seed_gateway_config(self) -> None:
        # The PaymentGatewayConfig row Mantle's rules look up (issue 12 item 3: serve may not create it yet).
        pool = await create_pool(self.database.dsn(), min_size=1, max_size=2)
        try:
            entity = EntityFacade(pool, load_entity_registry())
            await entity.store(
                "mantle.account.method.PaymentGatewayConfig",
                {
                    "paymentGatewayConfigId": CONFIG_ID,
                    "paymentGatewayTypeEnumId": "PgtStripe",
                    "description": "Stripe (soak, emulator)",
                    "authorizeServiceName": f"{GATEWAY_SERVICES}.authorize#Payment",
                    "captureServiceName": f"{GATEWAY_SERVICES}.capture#Payment",
                    "releaseServiceName": f"{GATEWAY_SERVICES}.release#Payment",
                    "refundServiceName": f"{GATEWAY_SERVICES}.refund#Payment",
                    "detailsServiceName": f"{GATEWAY_SERVICES}.get#PaymentGatewayDetails",
                },
            )
        finally:
            await pool.close()

    async def close(self) -> None:
        """Stop the service and the emulator (SIGTERM), then the database."""
        self.closed = True
        for process in (self._service, self._emulator):
            if process is not None and process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        if self.database.running:
            await self.database.stop()
