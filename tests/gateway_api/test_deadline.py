"""One deadline per request (docs/gateway-api.md, "Deadline"): with Stripe hanging, every call still answers, a
resultError PGR within `server.request_deadline_seconds`, and the attempt is left for the same attemptNum to retry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from service.config import ConfigError, load_settings
from stripe_emulator.control import EmulatorControl
from tests.gateway_api.conftest import (
    DEADLINE_SECONDS,
    Answer,
    GatewayWorld,
    gateway_settings,
    next_payment_id,
    running_world,
)

# What answering takes on top of the deadline on a busy 2-core machine (the HTTP round trip, a journal update).
_ANSWER_MARGIN_SECONDS = 1.0
HANG_SECONDS = DEADLINE_SECONDS + 1


@pytest.fixture
async def slow_stripe_world(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[GatewayWorld]:
    """The SDK's own timeout (10 s) is far beyond the request's deadline: only the deadline can cut the wait."""
    overrides = gateway_settings(stripe_emulator_url)
    for gateway in overrides["gateways"].values():
        gateway["timeout_seconds"] = 10
    async with running_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as world:
        yield world


async def test_every_gateway_call_answers_within_the_deadline_while_stripe_hangs(
    slow_stripe_world: GatewayWorld,
) -> None:
    world = slow_stripe_world
    authorized_id, captured_id, fresh_id = next_payment_id(), next_payment_id(), next_payment_id()
    authorized = (await world.authorize(authorized_id)).body["paymentIntentId"]
    captured = (await world.authorize(captured_id, operation="authorizeAndCapture")).body["paymentIntentId"]
    # Each hung request goes on at Stripe after the hang, as a slow Stripe does after our deadline.
    await world.emulator.add_fault("/v1/", "hang", count=1000, hang_seconds=HANG_SECONDS)
    calls: dict[str, Callable[[], Awaitable[Answer]]] = {
        "authorize": lambda: world.authorize(fresh_id),
        "authorizeAndCapture": lambda: world.authorize(next_payment_id(), operation="authorizeAndCapture"),
        "capture": lambda: world.on_intent("capture", authorized_id, authorized),
        "release": lambda: world.on_intent("release", authorized_id, authorized),
        "refund": lambda: world.on_intent("refund", captured_id, captured, amount="1.00"),
        "details": lambda: world.on_intent("details", captured_id, captured),
    }
    for operation, call in calls.items():
        started = time.monotonic()
        answer = await call()
        elapsed = time.monotonic() - started
        assert answer.status == 200, (operation, answer.body)
        assert answer.flags == {"resultError"}, operation
        assert elapsed < DEADLINE_SECONDS + _ANSWER_MARGIN_SECONDS, (operation, elapsed)
    await world.emulator.clear_faults()
    # Stripe acted on the hung create after all (once its hang was over: until then Stripe answers the same key
    # with idempotency_key_in_use): the retry of the same attempt finds it under its key.
    await asyncio.sleep(HANG_SECONDS)
    retried = await world.authorize(fresh_id)
    assert retried.flags == {"resultSuccess"}
    assert len(await world.intents(fresh_id)) == 1


def test_stripe_waits_that_cannot_fit_moquis_patience_are_refused_at_start() -> None:
    gateway = {"secret_key": "sk_test_x", "timeout_seconds": 9, "max_network_retries": 2}
    with pytest.raises(
        ConfigError, match=r"gateways.G: timeout_seconds 9.0 with max_network_retries 2 can take 28.5 s"
    ):
        load_settings(environment={}, overrides={"gateways": {"G": gateway}})
    with pytest.raises(ConfigError, match="request_deadline_seconds"):
        load_settings(environment={}, overrides={"server": {"request_deadline_seconds": 30}})
    defaults = load_settings(environment={}, overrides={"gateways": {"G": {"secret_key": "sk_test_x"}}})
    assert defaults.server.request_deadline_seconds == 20
