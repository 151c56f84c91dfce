"""The `moqui-stripe` command: serve, the Stripe emulator, the Moqui component writer, checkout links, the demo."""

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


def _serve_overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    given = (("host", arguments.host), ("port", arguments.port), ("mode", arguments.mode))
    server = {key: value for key, value in given if value is not None}
    if server:
        overrides["server"] = server
    if arguments.database_url:
        overrides["database"] = {"url": arguments.database_url}
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
            transport=arguments.transport,
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
    serve.add_argument("--database-url", help="PostgreSQL URL (Moqui's own database in shared mode)")
    serve.add_argument("--mode", choices=["standalone", "shared"])
    serve.set_defaults(handler=_command_serve)

    emulator = commands.add_parser("emulator", help="run the Stripe emulator (tests, demos, benchmarks)")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=12111)
    emulator.add_argument("--webhook", action="append", default=[], metavar="URL=SECRET", help="webhook endpoint")
    emulator.set_defaults(handler=_command_emulator)

    component = commands.add_parser("moqui-component", help="write the Moqui component with URL and key filled in")
    component.add_argument("--url", required=True, help="this service's base URL as Moqui reaches it")
    component.add_argument("--api-key", required=True, help="one of this service's server.api_keys")
    component.add_argument("--out", required=True, help="folder to write, e.g. runtime/component/moqui-stripe")
    component.add_argument("--transport", choices=["json-rpc", "rest"], default="json-rpc")
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
