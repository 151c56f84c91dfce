"""The emulator as a served process: options, loopback binding, webhook endpoints given on the command line."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
import stripe
from aiohttp import web

from stripe_emulator.server import build_parser, parse_webhook, serve


def test_webhook_option_parsing() -> None:
    assert parse_webhook("http://127.0.0.1:9/hook?a=b=whsec_abc") == ("http://127.0.0.1:9/hook?a=b", "whsec_abc")
    for bad in ("http://127.0.0.1:9/hook", "not-a-url=whsec_x", "http://127.0.0.1:9/hook="):
        with pytest.raises(ValueError):
            parse_webhook(bad)
    args = build_parser().parse_args(["--port", "4242", "--webhook", "http://h/x=whsec_1"])
    assert (args.host, args.port, args.webhook) == ("127.0.0.1", 4242, ["http://h/x=whsec_1"])
    # Stripe's test-mode rate limit and a search lag by default; benchmarks turn the limit off.
    assert (args.rate_limit, args.search_lag, args.latency) == (25, 5, 0.0)
    tuned = build_parser().parse_args(["--rate-limit", "off", "--search-lag", "0", "--latency", "0.05"])
    assert (tuned.rate_limit, tuned.search_lag, tuned.latency) == (None, 0, 0.05)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--rate-limit", "0"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_serve_sends_signed_events_to_configured_endpoints() -> None:
    received: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put((await request.text(), request.headers["Stripe-Signature"]))
        return web.Response()

    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", hook)
    receiver = web.AppRunner(receiver_app, access_log=None)
    await receiver.setup()
    await web.TCPSite(receiver, "127.0.0.1", 0).start()
    hook_url = f"http://127.0.0.1:{receiver.addresses[0][1]}/hook"

    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve("127.0.0.1", port, [f"{hook_url}=whsec_cli_secret"], stop=stop))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/_emulator/health") as health:
                        if health.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
            async with session.post(
                f"http://127.0.0.1:{port}/v1/customers",
                data="email=cli@example.com",
                headers={"Authorization": "Bearer sk_test_cli"},
            ) as created:
                assert created.status == 200
        body, signature = await asyncio.wait_for(received.get(), timeout=5)
        event = stripe.Webhook.construct_event(body, signature, "whsec_cli_secret")
        assert event.type == "customer.created"
    finally:
        stop.set()
        await server
        await receiver.cleanup()
