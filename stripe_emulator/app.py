"""The emulator as an aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from stripe_emulator.middleware import MIDDLEWARES
from stripe_emulator.routes import (
    charges,
    control,
    customers,
    events,
    payment_intents,
    payment_methods,
    refunds,
    setup_intents,
)
from stripe_emulator.state import STATE_KEY, EmulatorConfig, EmulatorState
from stripe_emulator.stripe_js import add_stripe_js_routes


def create_app(
    config: EmulatorConfig | None = None,
    *,
    webhook_endpoints: Sequence[tuple[str, str | None]] = (),
    state: EmulatorState | None = None,
) -> web.Application:
    """Build the emulator application.

    `webhook_endpoints` are `(url, secret)` pairs registered at start (a secret is generated when None).
    Pass `state` to share or inspect the store in-process; by default each app gets a fresh one.
    """
    emulator_state = state or EmulatorState(config)
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=1024 * 1024)
    app[STATE_KEY] = emulator_state
    for url, secret in webhook_endpoints:
        emulator_state.webhooks.add_endpoint(url, secret)
    for module in (payment_intents, charges, refunds, customers, payment_methods, setup_intents, events, control):
        app.router.add_routes(module.routes)
    add_stripe_js_routes(app)

    async def webhook_sender(_app: web.Application) -> AsyncIterator[None]:
        await emulator_state.webhooks.start()
        yield
        await emulator_state.webhooks.stop()

    app.cleanup_ctx.append(webhook_sender)
    return app
