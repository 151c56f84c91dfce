"""The `moqui-stripe` command: serve, the Stripe emulator, the Moqui component writer, checkout links, the demo, and
the operator's commands on this service's database (reconcile, rekey)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.config import ConfigError, Settings, load_settings
from service.logging_setup import configure_logging, configured_secrets

log = logging.getLogger("moqui_stripe")


def _database_overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    """This service's database URL, when given (every command that works on the database takes one)."""
    return {"database": {"url": arguments.database_url}} if arguments.database_url else {}


def _serve_overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    overrides = _database_overrides(arguments)
    given = (("host", arguments.host), ("port", arguments.port), ("workers", arguments.workers))
    server = {key: value for key, value in given if value is not None}
    if server:
        overrides["server"] = server
    return overrides


def _load(arguments: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Settings:
    config_file = Path(arguments.config) if getattr(arguments, "config", None) else None
    return load_settings(config_file, overrides=overrides)


def _command_serve(arguments: argparse.Namespace) -> int:
    from service.server import ensure_api_key, serve

    settings = _load(arguments, _serve_overrides(arguments))
    # The generated key too, before logging is set up with the secrets to remove.
    settings = ensure_api_key(settings, settings.database.data_dir.parent)
    configure_logging(settings.log_level, configured_secrets(settings))
    asyncio.run(serve(settings))
    return 0


# What moqui-stripe-demo installs (docs/internals.md, "Packaging"); a production install has none of it.
_DEMO_DISTRIBUTION_MODULES = ("stripe_emulator", "service.demo", "service.saas_example")


def _demo_not_installed(missing: ModuleNotFoundError) -> ConfigError:
    """One clear line when a command needs moqui-stripe-demo; any other missing module stays an error."""
    name = missing.name or ""
    if not any(name == module or name.startswith(module + ".") for module in _DEMO_DISTRIBUTION_MODULES):
        raise missing
    return ConfigError(
        f"this command needs moqui-stripe-demo ({name} is not installed): pip install 'moqui-stripe[demo]'"
    )


def _command_emulator(arguments: argparse.Namespace) -> int:
    try:
        from stripe_emulator.server import main as emulator_main
    except ModuleNotFoundError as missing:
        raise _demo_not_installed(missing) from None

    forwarded = ["--host", arguments.host, "--port", str(arguments.port)]
    for webhook in arguments.webhook:
        forwarded += ["--webhook", webhook]
    return emulator_main(forwarded)


def _command_moqui_component(arguments: argparse.Namespace) -> int:
    from moqui_bridge.component.writer import ComponentFolderError, write_component

    try:
        written = write_component(
            Path(arguments.out),
            server_url=arguments.url,
            api_key=arguments.api_key,
            force=arguments.force,
        )
    except (ValueError, ComponentFolderError) as error:
        raise ConfigError(str(error)) from None
    print(f"wrote the Moqui component ({len(written)} files) to {arguments.out}")
    return 0


def _command_checkout_url(arguments: argparse.Namespace) -> int:
    from service.checkout.links import checkout_url, sign_checkout_query

    settings = _load(arguments)
    secret = settings.checkout.link_secret
    if secret is None:
        raise ConfigError("checkout.link_secret is not configured: it is needed to sign checkout links")
    query = sign_checkout_query(
        secret.get_secret_value(),
        order_id=arguments.order_id,
        customer_party_id=arguments.customer_party_id,
        done_url=arguments.done_url,
        error_url=arguments.error_url,
        lifetime_seconds=arguments.lifetime or settings.checkout.link_lifetime_seconds,
    )
    base = settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"
    print(checkout_url(base, query))
    return 0


async def _reconcile_once(settings: Settings) -> str:
    from aiohttp import web

    from service.app import APP_STATE, create_app
    from service.maintenance import run_reconciler
    from service.server import database_for

    async with database_for(settings) as dsn:
        # The app's own start-up (schema, installation id, Stripe clients) without serving anything.
        app = create_app(settings, dsn)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            report = await run_reconciler(app[APP_STATE])
        finally:
            await runner.cleanup()
    return report.summary()


def _command_reconcile(arguments: argparse.Namespace) -> int:
    settings = _load(arguments, _database_overrides(arguments))
    configure_logging(settings.log_level, configured_secrets(settings))
    print(asyncio.run(_reconcile_once(settings)))
    return 0


async def _rekey(settings: Settings) -> tuple[str, str]:
    from moqui_bridge.database.pool import create_pool
    from moqui_bridge.entity import EntityFacade
    from service.database_setup import load_entity_registry, prepare_database
    from service.payment_services.installation import rekey_installation
    from service.server import database_for

    async with database_for(settings) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=2)
        try:
            entity = EntityFacade(pool, load_entity_registry())
            await prepare_database(entity, list(settings.gateways))
            return await rekey_installation(entity)
        finally:
            await pool.close()


def _command_rekey(arguments: argparse.Namespace) -> int:
    if not arguments.staging_copy:
        raise ConfigError(
            "rekey gives this database a new installation id: run it only on a copy restored for staging, never on "
            "production or a disaster-recovery restore (which keeps its id); confirm with --staging-copy"
        )
    settings = _load(arguments, _database_overrides(arguments))
    old, new = asyncio.run(_rekey(settings))
    print(f"installation id {old} replaced by {new}: this copy's Stripe idempotency keys are its own")
    return 0


def _command_demo(arguments: argparse.Namespace) -> int:
    from moqui_bridge.database.postgres_server import PostgresServerError

    try:
        from service.demo import run_demo
    except ModuleNotFoundError as missing:
        raise _demo_not_installed(missing) from None

    try:
        asyncio.run(run_demo(port=arguments.port, data_dir=Path(arguments.data_dir)))
    except PostgresServerError as error:
        raise ConfigError(str(error)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="moqui-stripe", description="Stripe payments for Moqui/Mantle.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service (embedded PostgreSQL unless a database URL is given)")
    serve.add_argument("--config", help="TOML configuration file")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--database-url", help="PostgreSQL URL of this service's own database (never Moqui's)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (default 1: this process)")
    serve.set_defaults(handler=_command_serve)

    emulator = commands.add_parser("emulator", help="run the Stripe emulator (tests, demos, benchmarks)")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=12111)
    emulator.add_argument("--webhook", action="append", default=[], metavar="URL=SECRET", help="webhook endpoint")
    emulator.set_defaults(handler=_command_emulator)

    component = commands.add_parser("moqui-component", help="write the Moqui component and its MoquiConf.xml")
    component.add_argument("--url", required=True, help="this service's base URL as Moqui reaches it")
    component.add_argument(
        "--api-key", help="one of this service's server.api_keys, written into MoquiConf.xml (else: environment)"
    )
    component.add_argument("--out", required=True, help="folder to write, e.g. runtime/component/moqui-stripe")
    component.add_argument("--force", action="store_true", help="write into a non-empty folder that is not ours")
    component.set_defaults(handler=_command_moqui_component)

    link = commands.add_parser("checkout-url", help="print a signed /stripe/Checkout link for an order")
    link.add_argument("--config", help="TOML configuration file")
    link.add_argument("--order-id", required=True)
    link.add_argument("--customer-party-id", required=True)
    link.add_argument("--done-url", required=True)
    link.add_argument("--error-url", required=True)
    link.add_argument("--lifetime", type=int, help="seconds the link stays valid")
    link.set_defaults(handler=_command_checkout_url)

    reconcile = commands.add_parser(
        "reconcile", help="settle the journal's in-doubt attempts once (replay or read Stripe) and print a report"
    )
    rekey = commands.add_parser(
        "rekey",
        help="give a database copied for staging a new installation id (never production's, never a DR restore)",
    )
    rekey.add_argument("--staging-copy", action="store_true", help="confirm that this database is a staging copy")
    for command, handler in ((reconcile, _command_reconcile), (rekey, _command_rekey)):
        command.add_argument("--config", help="TOML configuration file")
        command.add_argument("--database-url", help="PostgreSQL URL of this service's own database")
        command.set_defaults(handler=handler)

    demo = commands.add_parser("demo", help="PostgreSQL, the emulator, the service and the SaaS example, on loopback")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--data-dir", default=".moqui-stripe/demo")
    demo.set_defaults(handler=_command_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; configuration problems end with one clear line and status 2."""
    arguments = build_parser().parse_args(argv)
    configure_logging(logging.INFO)
    try:
        result: int = arguments.handler(arguments)
        return result
    except ConfigError as error:
        print(f"moqui-stripe: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
