"""Running the emulator as a process: `python -m stripe_emulator --port N [--webhook URL=SECRET]`.

The project's CLI (`moqui-stripe emulator`) calls `main(argv)` or `run(...)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from aiohttp import web

from stripe_emulator.app import create_app
from stripe_emulator.limits import SEARCH_INDEX_LAG_SECONDS, TEST_MODE_REQUESTS_PER_SECOND, LimitSettings
from stripe_emulator.state import STATE_KEY, EmulatorConfig

log = logging.getLogger("stripe_emulator")


def parse_webhook(spec: str) -> tuple[str, str | None]:
    """`URL=SECRET`, split at the last `=` (a secret has none; a URL's query string may)."""
    url, sep, secret = spec.rpartition("=")
    if not sep or not url.startswith(("http://", "https://")) or not secret:
        raise ValueError(f"--webhook takes URL=SECRET, got {spec!r}")
    return url, secret


async def serve(
    host: str = "127.0.0.1",
    port: int = 12111,
    webhook_urls: Sequence[str] = (),
    config: EmulatorConfig | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (or forever)."""
    app = create_app(config, webhook_endpoints=[parse_webhook(spec) for spec in webhook_urls])
    # Access logs cost a third of the throughput and say nothing tests need.
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.warning("Stripe emulator listening on http://%s:%d", host, port)
    for endpoint in app[STATE_KEY].webhooks.endpoints.values():
        log.warning("sending webhooks to %s", endpoint.url)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()


def run(
    host: str = "127.0.0.1",
    port: int = 12111,
    webhook_urls: Sequence[str] = (),
    config: EmulatorConfig | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM."""

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await serve(host, port, webhook_urls, config=config, stop=stop)

    asyncio.run(main_loop())


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog="stripe-emulator", description="A stateful Stripe API emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=12111, help="port to listen on (default 12111)")
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL=SECRET",
        help="send events to URL signed with SECRET (repeatable)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        default=TEST_MODE_REQUESTS_PER_SECOND,
        metavar="N|off",
        help=f"requests per second per API key before 429, as Stripe limits test mode (default "
        f"{TEST_MODE_REQUESTS_PER_SECOND}; 'off' for benchmarks)",
    )
    parser.add_argument(
        "--search-lag",
        type=int,
        default=SEARCH_INDEX_LAG_SECONDS,
        metavar="SECONDS",
        help=f"seconds before a new object is found by search (default {SEARCH_INDEX_LAG_SECONDS})",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="added to every API request (default 0)"
    )
    return parser


def _rate(text: str) -> int | None:
    if text == "off":
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("the rate limit is a positive number or 'off'")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse `argv` and serve."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    for spec in args.webhook:
        try:
            parse_webhook(spec)
        except ValueError as error:
            parser.error(str(error))
    limits = LimitSettings(
        api_requests_per_second=args.rate_limit, search_index_lag_seconds=args.search_lag, latency_seconds=args.latency
    )
    run(args.host, args.port, args.webhook, EmulatorConfig(limits=limits))
    return 0
