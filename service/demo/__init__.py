"""`moqui-stripe demo`: everything on loopback in one command, to see a payment go through end to end.

It starts a private PostgreSQL (in `data_dir`, removed at the end), the Stripe emulator on a free port (serving the
stripe.js stand-in, and sending signed webhooks to our endpoint), and the service in standalone mode with the
checkout pages, the webhook endpoint and the SaaS example, then loads the demo data and prints the URL to open.
Ctrl-C stops it all. Every secret (api key, checkout link secret, webhook secret) is made fresh for the run.

`demo_stack` is the same setup as an async context manager; the browser tests run on it. A package rather than a
module so that the moqui-stripe-demo distribution can carry it without `service/__init__.py` (docs/internals.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from moqui_bridge.database.postgres_server import PostgresServer
from moqui_bridge.entity.data_loader import load_files
from moqui_bridge.resources import package_path
from service.app import APP_STATE, create_app
from service.clock import SYSTEM_CLOCK, Clock
from service.config import ConfigError, Settings, load_settings
from service.http_limits import apply_http_limits, runner_options
from service.saas_example import DEMO_DATA_FILES
from service.saas_example.app import RENEW_EVERY_SECONDS, SAAS_PREFIX, mount_saas_example
from service.webhooks import WEBHOOK_PATH
from stripe_emulator.app import create_app as create_emulator_app
from stripe_emulator.state import EmulatorConfig
from stripe_emulator.stripe_js import STRIPE_JS_PATH, add_stripe_js_routes

__all__ = ["DEMO_GATEWAY_CONFIG_IDS", "DemoStack", "build_demo_app", "demo_settings", "demo_stack", "run_demo"]

log = logging.getLogger(__name__)

# Test-mode demo keys for the emulator: not secrets (the emulator accepts any sk_test_/pk_test_ key).
DEMO_SECRET_KEY: Final = "sk_test_moquistripe_demo_0000000000000000"
DEMO_PUBLISHABLE_KEY: Final = "pk_test_moquistripe_demo_0000000000000000"
# The two gateway configs of the demo data (StripeDemoData.xml): authorize then capture, and charge at once.
DEMO_GATEWAY_CONFIG_IDS: Final = ("StripeGateway", "StripeGatewayAuthCapture")
LOOPBACK: Final = "127.0.0.1"
# The example shop's logo, shown by the checkout pages as the merchant's (checkout.merchant_logo).
DEMO_MERCHANT_LOGO: Final = package_path("service.saas_example") / "static" / "acme-logo.svg"


@dataclass(frozen=True)
class DemoStack:
    """A running demo: where things are and the secrets made for this run."""

    url: str
    emulator_url: str
    api_key: str
    link_secret: str
    webhook_secret: str
    app: web.Application

    @property
    def example_url(self) -> str:
        """The SaaS example's pricing page, the page to open."""
        return f"{self.url}{SAAS_PREFIX}/"


def demo_settings(
    public_url: str,
    port: int,
    emulator_url: str,
    *,
    api_key: str,
    link_secret: str,
    webhook_secret: str,
    gateway_overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Standalone settings for the demo: both gateway configs on the emulator, links allowed back to ourselves;
    `gateway_overrides` are more `gateways.<id>` settings for both (tests: `moto_enabled`)."""
    gateway = {
        **(gateway_overrides or {}),
        "secret_key": DEMO_SECRET_KEY,
        "publishable_key": DEMO_PUBLISHABLE_KEY,
        "webhook_secret": webhook_secret,
        "api_base": emulator_url,
        "stripe_js_url": f"{emulator_url}{STRIPE_JS_PATH}",
        "max_network_retries": 1,
        "timeout_seconds": 8,
    }
    return load_settings(
        environment={},
        overrides={
            "server": {
                "host": LOOPBACK,
                "port": port,
                "public_url": public_url,
                "api_keys": {"demo": api_key},
            },
            "checkout": {
                "link_secret": link_secret,
                "allowed_redirect_origins": [public_url],
                "place_order": True,
                "merchant_name": "Acme Cloud",
                "merchant_logo": str(DEMO_MERCHANT_LOGO),
            },
            "gateways": {config_id: gateway for config_id in DEMO_GATEWAY_CONFIG_IDS},
        },
    )


def build_demo_app(
    settings: Settings,
    database_dsn: str,
    *,
    session_secret: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    renew_every_seconds: float | None = RENEW_EVERY_SECONDS,
) -> web.Application:
    """The service app with the checkout pages, the webhook endpoint and the SaaS example mounted (standalone);
    `clock` is the service's (tests move it to make renewals due and run them themselves: `renew_every_seconds`
    None)."""
    app = create_app(settings, database_dsn, clock=clock)
    mount_saas_example(app, session_secret=session_secret, renew_every_seconds=renew_every_seconds)
    return app


def _loopback_socket(port: int) -> socket.socket:
    # Bound before the apps are built, so the URLs in settings and webhook endpoints are right even for port 0.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"cannot listen on {LOOPBACK}:{port}: {error.strerror or error} (choose another --port, or 0 for any)"
        ) from None
    return sock


@asynccontextmanager
async def _serve(app: web.Application, sock: socket.socket, **options: Any) -> AsyncIterator[None]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, **options)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield
    finally:
        await runner.cleanup()


@asynccontextmanager
async def demo_stack(
    port: int = 0,
    *,
    data_dir: Path | None = None,
    database_dsn: str | None = None,
    emulator_config: EmulatorConfig | None = None,
    clock: Clock = SYSTEM_CLOCK,
    renew_every_seconds: float | None = RENEW_EVERY_SECONDS,
    gateway_overrides: Mapping[str, Any] | None = None,
) -> AsyncIterator[DemoStack]:
    """Run PostgreSQL (unless `database_dsn` is given), the emulator and the service; yield where they are
    (`gateway_overrides`: see demo_settings)."""
    if database_dsn is None and data_dir is None:
        raise ValueError("demo_stack needs a data_dir for its PostgreSQL, or a database_dsn")
    api_key = secrets.token_urlsafe(24)
    link_secret = secrets.token_urlsafe(32)
    webhook_secret = "whsec_" + secrets.token_hex(24)
    async with contextlib.AsyncExitStack() as stack:
        # The port first: a busy one is refused before anything is started.
        service_socket = stack.enter_context(_loopback_socket(port))
        if database_dsn is None:
            assert data_dir is not None
            postgres = PostgresServer(data_dir / "postgres", database="moqui_stripe_demo", keep_data=False)
            log.info("starting PostgreSQL in %s", postgres.data_dir)
            await stack.enter_async_context(postgres)
            database_dsn = postgres.dsn()
        public_url = f"http://{LOOPBACK}:{service_socket.getsockname()[1]}"
        emulator_socket = stack.enter_context(_loopback_socket(0))
        emulator_url = f"http://{LOOPBACK}:{emulator_socket.getsockname()[1]}"

        endpoints = [
            (f"{public_url}{WEBHOOK_PATH.replace('{paymentGatewayConfigId}', config_id)}", webhook_secret)
            for config_id in DEMO_GATEWAY_CONFIG_IDS
        ]
        emulator = create_emulator_app(emulator_config, webhook_endpoints=endpoints)
        add_stripe_js_routes(emulator)
        await stack.enter_async_context(_serve(emulator, emulator_socket))

        settings = demo_settings(
            public_url,
            service_socket.getsockname()[1],
            emulator_url,
            api_key=api_key,
            link_secret=link_secret,
            webhook_secret=webhook_secret,
            gateway_overrides=gateway_overrides,
        )
        app = build_demo_app(settings, database_dsn, clock=clock, renew_every_seconds=renew_every_seconds)
        apply_http_limits(app, settings.server)
        await stack.enter_async_context(_serve(app, service_socket, **runner_options(settings.server)))
        await load_files(app[APP_STATE].require_runtime().entity, DEMO_DATA_FILES, types=None)
        yield DemoStack(public_url, emulator_url, api_key, link_secret, webhook_secret, app)


def _save_api_key(data_dir: Path, api_key: str) -> Path:
    """The demo's api key in a file only its owner can read: secrets are never printed or logged."""
    key_file = data_dir / "api-key"
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(api_key + "\n", encoding="utf-8")
    return key_file


def _banner(demo: DemoStack, key_file: Path) -> str:
    return "\n".join(
        (
            "",
            "moqui-stripe demo is running (Ctrl-C to stop)",
            "",
            f"  Open the example shop:   {demo.example_url}",
            "  Test cards:              4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined,",
            "                           4000 0027 6000 3184 asks for 3-D Secure; any future date, any CVC",
            "",
            f"  Service (REST, JSON-RPC): {demo.url}   (its api_key is in {key_file})",
            f"  Stripe emulator:          {demo.emulator_url}",
            "",
        )
    )


async def run_demo(port: int, data_dir: Path) -> None:
    """Run the demo on `port` (0: any free port) until Ctrl-C or SIGTERM, keeping its database in `data_dir`."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop.set)
    async with demo_stack(port, data_dir=data_dir) as demo:
        key_file = await asyncio.to_thread(_save_api_key, data_dir, demo.api_key)
        print(_banner(demo, key_file), flush=True)
        await stop.wait()
        print("stopping the demo…", flush=True)
